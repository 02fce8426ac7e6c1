"""The registry path of the image: ``MODEL_SOURCE=registry`` against a real ``mlflow server`` with basic auth.

The credentials reach the build only as secret files (``docker build --secret id=…,src=FILE``);
the password is random per run and must appear in no layer, history entry or image config, nor
in the build's output, while the image serves the registered version. ``make image-test-registry``
runs this module (it installs ``requirements-build.txt`` in the build stage: minutes, not seconds).
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from tests.image import audit
from tests.image.engine import Engine
from tests.image.harness import SavedImage, build_image, lambda_container, save_image
from tests.support.events import load_event
from tests.support.mlflow_server import mlflow_server_fixture, proxy, require_basic_auth  # noqa: F401 - fixture
from tests.support.registry_models import RegisteredVersion, register_model
from tests.support.runtime_api import RuntimeApi

pytestmark = [pytest.mark.image, pytest.mark.integration]

IMAGE = "credit-score:image-test-registry"
MODEL_NAME = "credit-score-image-registry"
USERNAME = "image-builder"
PASSWORD = f"pw-{secrets.token_hex(12)}"


@pytest.fixture(scope="module")
def registered(mlflow_server: str) -> RegisteredVersion:
    register_model(mlflow_server, MODEL_NAME, alias=None, seed=3)
    return register_model(mlflow_server, MODEL_NAME, alias="champion", seed=4)


@pytest.fixture(scope="module")
def built(
    engine: Engine,
    standin: str,
    mlflow_server: str,
    registered: RegisteredVersion,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, list[str]]:
    """The build's output and the registry paths the authenticating proxy served."""
    folder = tmp_path_factory.mktemp("secrets")
    with proxy(mlflow_server, require_basic_auth(USERNAME, PASSWORD)) as (uri, seen):
        files: dict[str, Path] = {}
        for name, value in {
            "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_TRACKING_USERNAME": USERNAME,
            "MLFLOW_TRACKING_PASSWORD": PASSWORD,
        }.items():
            files[name] = folder / name
            files[name].write_text(value + "\n")
        completed = build_image(
            engine,
            tag=IMAGE,
            base=standin,
            build_args={"MODEL_SOURCE": "registry", "MODEL_NAME": MODEL_NAME, "MODEL_FRESH": str(time.time_ns())},
            secrets=files,
            network="host",  # the registry listens on this machine's loopback
        )
    return completed.stdout + completed.stderr, list(seen)


@pytest.fixture(scope="module")
def saved_registry_image(
    engine: Engine, built: tuple[str, list[str]], standin: str, tmp_path_factory: pytest.TempPathFactory
) -> SavedImage:
    return save_image(engine, IMAGE, standin, tmp_path_factory.mktemp("saved"), secrets=[PASSWORD.encode()])


def test_given_registry_build_when_built_then_the_authenticated_registry_served_the_champion(
    built: tuple[str, list[str]], registered: RegisteredVersion
) -> None:
    output, seen = built
    assert any("registered-models" in path or "model-versions" in path for path in seen), seen
    assert f"bundle {MODEL_NAME} {registered.version}" in output  # printed by the image's verification step


def test_given_registry_build_when_audited_then_password_in_no_layer_history_config_or_output(
    engine: Engine, built: tuple[str, list[str]], saved_registry_image: SavedImage
) -> None:
    output, _ = built
    assert PASSWORD not in output
    assert saved_registry_image.found == []
    assert audit.history_findings(saved_registry_image.history, [PASSWORD]) == []
    assert audit.config_findings(saved_registry_image.config, [PASSWORD]) == []
    history = engine.docker("history", "--no-trunc", IMAGE).stdout
    inspect = engine.docker("image", "inspect", IMAGE).stdout
    assert PASSWORD not in history + inspect
    assert audit.path_findings(path for layer in saved_registry_image.added for path in layer.files) == []


def test_given_registry_image_when_invoked_then_it_serves_the_registered_version(
    engine: Engine, built: tuple[str, list[str]], registered: RegisteredVersion
) -> None:
    with RuntimeApi() as api, lambda_container(engine, IMAGE, api.address):
        answer = api.invoke(load_event("direct.json"), timeout=120)
    assert answer.status == "success", answer.body[:500]
    body = json.loads(answer.json()["body"])
    assert (body["model"], body["version"]) == (MODEL_NAME, str(registered.version))
