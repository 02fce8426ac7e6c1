"""Session fixtures of the image tests: one engine, one stand-in base, one image built from the repository.

Without an engine, or without the ``model/`` bundle of ``make demo``, every image test fails with
one line saying why; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image.engine import Engine, EngineError, ensure_engine
from tests.image.harness import IMAGE, SavedImage, build_image, build_standin, save_image
from tests.support.paths import ROOT

BUNDLE = ROOT / "model"


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    try:
        engine = ensure_engine()
    except EngineError as error:
        pytest.fail(f"image tests: no container engine can run here: {error}", pytrace=False)
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def standin(engine: Engine) -> str:
    return build_standin(engine)


@pytest.fixture(scope="session")
def bundle() -> Path:
    if not (BUNDLE / "metadata.json").is_file():
        pytest.fail(f"image tests: no model bundle in {BUNDLE}; run `make demo` first", pytrace=False)
    return BUNDLE


@pytest.fixture(scope="session")
def image(engine: Engine, standin: str, bundle: Path) -> str:
    build_image(engine, tag=IMAGE, build_args={"MODEL_SOURCE": "local"}, base=standin)
    return IMAGE


@pytest.fixture(scope="session")
def saved(engine: Engine, image: str, standin: str, tmp_path_factory: pytest.TempPathFactory) -> SavedImage:
    return save_image(engine, image, standin, tmp_path_factory.mktemp("saved-image"))
