"""Shared pieces of the reliability suite: the tiny bundle, app.handler bound to explicit settings."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import app
from credit_score.runtime.config import Settings
from tests.support.bundles import tiny_bundle  # noqa: F401 - the session fixture, re-exported
from tests.support.lambda_context import LambdaContext

Context = LambdaContext


@contextlib.contextmanager
def handler_for(settings: Settings) -> Iterator[Any]:
    """``app.handler`` serving ``settings``; the module's previous container state is restored after."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app, "_service", None)
        app.init(settings)
        yield app.handler


@contextlib.contextmanager
def captured_stdout() -> Iterator[io.StringIO]:
    """The handler's log and metric lines, read back as JSON documents with :func:`json_lines`."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield buffer


def json_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def settings_for(bundle: Path, **overrides: Any) -> Settings:
    environ = {"MODEL_DIR": str(bundle), "METRICS_ENABLED": "false", "LOG_LEVEL": "ERROR"}
    return Settings.from_env(environ, **overrides)
