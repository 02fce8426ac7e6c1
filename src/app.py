"""AWS Lambda entry point: ``app.handler``.

A thin adapter: the container's :class:`~credit_score.runtime.service.Service` is built on the first
invocation (settings read once, model loaded once), never at import, so importing this module needs
neither AWS nor a model bundle. See ``credit_score.runtime.service`` for routes and the model lifecycle and
``credit_score.runtime.config`` for the environment variables.
"""

from __future__ import annotations

import json
import os
from typing import Any

from credit_score.runtime.config import Settings
from credit_score.runtime.errors import ConfigError
from credit_score.runtime.events import detect, request_id
from credit_score.runtime.flusher import RUNTIME_API, Flusher
from credit_score.runtime.logs import Log
from credit_score.runtime.service import Service
from credit_score.runtime.shutdown import exit_on_sigterm

_service: Service | None = None


if RUNTIME_API in os.environ:
    exit_on_sigterm()

# Registered now, during Lambda's init, or never: capture after the answer (runtime/flusher.py).
_flusher = Flusher.start()


def init(settings: Settings | None = None) -> Service:
    """Build (or rebuild, with explicit ``settings``) this container's service; loads no model yet."""
    global _service
    _service = Service(settings or Settings.from_env(), flusher=_flusher)
    return _service


def handler(event: Any, context: Any) -> dict[str, Any]:
    if _flusher is not None:
        _flusher.begin(getattr(context, "aws_request_id", None))
    try:
        service = _service
        if service is None:
            try:
                service = init()
            except ConfigError as error:
                return _misconfigured(event, context, error)
        return service.handle(event, context)
    finally:
        if _flusher is not None:
            _flusher.done(getattr(context, "aws_request_id", None))


def _misconfigured(event: Any, context: Any, error: ConfigError) -> dict[str, Any]:
    """Every request of a misconfigured container: 500, generic body, the reason in the log only.

    The request is not read: its limits are part of the configuration that failed. Identity is the
    server's as everywhere (the Lambda request id; the source's id only as a sanitised correlation id).
    """
    source = detect(event)
    server_id = request_id(context)
    Log("credit-score", "ERROR").error(
        error.code, request_id=server_id, correlation_id=source.correlation_id(), reason=error.reason
    )
    body = json.dumps({**error.body(), "request_id": server_id})
    headers = {"Content-Type": "application/json", "X-Request-Id": server_id}
    return source.envelope(error.status, body, headers)
