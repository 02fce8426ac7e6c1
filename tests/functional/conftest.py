"""What the functional tests share: a fresh Lambda container around the tiny bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

import app
from tests.support.bundles import tiny_bundle  # noqa: F401 - fixture


@pytest.fixture
def container(monkeypatch: pytest.MonkeyPatch, tiny_bundle: Path, tmp_path: Path) -> Path:  # noqa: F811
    """A fresh container: the tiny bundle, capture to a temporary folder, metrics on; returns the folder."""
    for key in ("CAPTURE_SAMPLING_PERCENT", "MAX_BATCH_SIZE", "MAX_BODY_BYTES", "METRICS_ENABLED", "LOG_LEVEL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MODEL_DIR", str(tiny_bundle))
    monkeypatch.setenv("CAPTURE_URI", str(tmp_path / "capture"))
    monkeypatch.setattr(app, "_service", None)
    return tmp_path / "capture"
