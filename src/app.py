"""AWS Lambda entry point: ``app.handler``.

A thin adapter: the container's :class:`~credit_score.runtime.service.Service` is built on the first
invocation (settings read once, model loaded once), never at import, so importing this module needs
neither AWS nor a model bundle. See ``credit_score.runtime.service`` for routes and the model lifecycle and
``credit_score.runtime.config`` for the environment variables.
"""

from __future__ import annotations

import json
from typing import Any

from credit_score.runtime.config import Settings
from credit_score.runtime.errors import ConfigError
from credit_score.runtime.events import detect
from credit_score.runtime.logs import Log
from credit_score.runtime.service import Service

_service: Service | None = None


def init(settings: Settings | None = None) -> Service:
    """Build (or rebuild, with explicit ``settings``) this container's service; loads no model yet."""
    global _service
    _service = Service(settings or Settings.from_env())
    return _service


def handler(event: Any, context: Any) -> dict[str, Any]:
    service = _service
    if service is None:
        try:
            service = init()
        except ConfigError as error:
            return _misconfigured(event, context, error)
    return service.handle(event, context)


def _misconfigured(event: Any, context: Any, error: ConfigError) -> dict[str, Any]:
    """Every request of a misconfigured container: 500, generic body, the reason in the log only."""
    source = detect(event)
    request_id = source.request_id(context)
    Log("credit-score", "ERROR").error(error.code, request_id=request_id, reason=error.reason)
    body = json.dumps({**error.body(), "request_id": request_id})
    headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
    return source.envelope(error.status, body, headers)
