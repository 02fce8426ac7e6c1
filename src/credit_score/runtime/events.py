"""Where an invocation came from, judged by the event's shape, and how to answer that source.

One small class per source, each with an ``infer(event)`` test; :func:`detect` tries them from the
most specific shape to the least:

* :class:`Alb` — ``requestContext.elb`` is present (an ALB event also has ``httpMethod``);
* :class:`FunctionUrl` / :class:`HttpApi` — payload format ``version`` ``"2.0"`` with
  ``requestContext.http``; a Function URL's domain is ``*.lambda-url.*``;
* :class:`RestApi` — ``httpMethod`` with a ``requestContext`` (REST API proxy, or HTTP API with
  payload format 1.0);
* :class:`Direct` — no ``requestContext``: the event is the payload itself (``{"data": ...}``
  or an MLflow scoring shape), or the seed's ``{"body": "<json>"}`` test event.

Anything else (a list, a string, an unknown ``requestContext``) is an :class:`UnsupportedEvent`.
This module never looks at the model; it turns events into :class:`Request` and answers back.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from credit_score.runtime.errors import BadRequest, PayloadTooLarge, UnsupportedEvent
from credit_score.runtime.payload import SHAPES

PAYLOAD_KEYS = frozenset(SHAPES)
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:;=/-]{0,127}")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}


@dataclass(frozen=True, slots=True)
class Request:
    """What the service needs from an invocation: ``body`` is JSON text/bytes when ``raw``, else the payload."""

    method: str
    path: str
    body: Any
    raw: bool


def safe_request_id(candidate: Any) -> str | None:
    """The id when it is a short token (it reaches logs, headers and S3 keys), else ``None``."""
    if type(candidate) is str and _SAFE_ID.fullmatch(candidate):
        return candidate
    return None


def new_request_id() -> str:
    return str(uuid.uuid4())


class Source:
    """A source shape: ``infer`` recognises it, ``request`` reads it, ``envelope`` answers it."""

    name: ClassVar[str] = "unknown"

    def __init__(self, event: Any) -> None:
        self.event = event

    @classmethod
    def infer(cls, event: Any) -> bool:
        raise NotImplementedError

    def request(self, max_body_bytes: int) -> Request:
        raise NotImplementedError

    def request_id(self, context: Any) -> str:
        """The source's own id when it carries a safe one, else the Lambda's, else a new uuid4."""
        return safe_request_id(getattr(context, "aws_request_id", None)) or new_request_id()

    def envelope(self, status: int, body: str, headers: dict[str, str]) -> dict[str, Any]:
        return {"statusCode": status, "headers": headers, "body": body}


def _context_of(event: Mapping[str, Any]) -> Mapping[str, Any]:
    context = event.get("requestContext")
    return context if isinstance(context, dict) else {}


def _text(value: Any, default: str) -> str:
    return value if type(value) is str and value else default


def _body(event: Mapping[str, Any], max_body_bytes: int) -> str | bytes:
    """The body as sent, base64 decoded when flagged; refuses bodies over ``max_body_bytes``."""
    body = event.get("body")
    if body is None:
        return ""
    if type(body) is not str:
        raise BadRequest("the event body must be a string")
    encoded = event.get("isBase64Encoded") is True
    limit = (max_body_bytes + 2) // 3 * 4 if encoded else max_body_bytes
    if len(body) > limit or (len(body) * 4 > limit and len(body.encode("utf-8", "surrogatepass")) > limit):
        raise PayloadTooLarge(f"the request body exceeds {max_body_bytes} bytes")
    if not encoded:
        return body
    try:
        decoded = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("the body is flagged base64 but is not valid base64") from None
    if len(decoded) > max_body_bytes:
        raise PayloadTooLarge(f"the request body exceeds {max_body_bytes} bytes")
    return decoded


class _Http(Source):
    """Shared by the HTTP sources: method, path, headers and body live in the event."""

    def _headers(self) -> Mapping[str, Any]:
        headers = self.event.get("headers")
        return headers if isinstance(headers, dict) else {}

    def _method(self) -> str:
        return _text(self.event.get("httpMethod"), "POST").upper()

    def _path(self) -> str:
        return _text(self.event.get("path"), "/")

    def _own_request_id(self) -> str | None:
        return safe_request_id(_context_of(self.event).get("requestId"))

    def request_id(self, context: Any) -> str:
        return self._own_request_id() or super().request_id(context)

    def request(self, max_body_bytes: int) -> Request:
        method = self._method()
        body = _body(self.event, max_body_bytes) if method == "POST" else ""
        return Request(method, self._path(), body, True)


class Alb(_Http):
    name = "alb"

    @classmethod
    def infer(cls, event: Any) -> bool:
        return "elb" in _context_of(event)

    def _multi_value(self) -> bool:
        return isinstance(self.event.get("multiValueHeaders"), dict)

    def _own_request_id(self) -> str | None:
        if self._multi_value():
            values = self.event["multiValueHeaders"].get("x-amzn-trace-id")
            trace = values[0] if isinstance(values, list) and values else None
        else:
            trace = self._headers().get("x-amzn-trace-id")
        return safe_request_id(trace)

    def envelope(self, status: int, body: str, headers: dict[str, str]) -> dict[str, Any]:
        response: dict[str, Any] = {
            "statusCode": status,
            "statusDescription": f"{status} {_REASONS.get(status, '')}".rstrip(),
            "body": body,
            "isBase64Encoded": False,
        }
        if self._multi_value():
            response["multiValueHeaders"] = {key: [value] for key, value in headers.items()}
        else:
            response["headers"] = headers
        return response


class HttpApi(_Http):
    """HTTP API, payload format 2.0."""

    name = "http_api"

    @classmethod
    def infer(cls, event: Any) -> bool:
        return event.get("version") == "2.0" and isinstance(_context_of(event).get("http"), dict)

    def _method(self) -> str:
        return _text(_context_of(self.event)["http"].get("method"), "POST").upper()

    def _path(self) -> str:
        return _text(self.event.get("rawPath"), "") or _text(_context_of(self.event)["http"].get("path"), "/")

    def envelope(self, status: int, body: str, headers: dict[str, str]) -> dict[str, Any]:
        return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}


class FunctionUrl(HttpApi):
    """Lambda Function URL: the 2.0 shape on a ``*.lambda-url.*`` domain."""

    name = "function_url"

    @classmethod
    def infer(cls, event: Any) -> bool:
        return super().infer(event) and ".lambda-url." in _text(_context_of(event).get("domainName"), "")


class RestApi(_Http):
    """API Gateway REST API proxy integration (payload format 1.0)."""

    name = "rest_api"

    @classmethod
    def infer(cls, event: Any) -> bool:
        return "httpMethod" in event and isinstance(event.get("requestContext"), dict)

    def envelope(self, status: int, body: str, headers: dict[str, str]) -> dict[str, Any]:
        response: dict[str, Any] = {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}
        if isinstance(self.event.get("multiValueHeaders"), dict):
            response["multiValueHeaders"] = {key: [value] for key, value in headers.items()}
        return response


class Direct(Source):
    """``lambda invoke`` with the payload as the event; answered with the seed's envelope."""

    name = "direct"

    @classmethod
    def infer(cls, event: Any) -> bool:
        return "requestContext" not in event and (not PAYLOAD_KEYS.isdisjoint(event) or "body" in event)

    def request(self, max_body_bytes: int) -> Request:
        if PAYLOAD_KEYS.isdisjoint(self.event):  # the seed's {"body": "<json>"} test event
            body = self.event["body"]
            if isinstance(body, dict):
                return Request("POST", "/", body, False)
            return Request("POST", "/", _body(self.event, max_body_bytes), True)
        return Request("POST", "/", self.event, False)


class Unknown(Source):
    """Not a shape we know; answered with the direct envelope so any caller can read it."""

    @classmethod
    def infer(cls, event: Any) -> bool:
        return True

    def request(self, max_body_bytes: int) -> Request:
        raise UnsupportedEvent(
            "unrecognised event: send an API Gateway, HTTP API, Function URL or ALB event, "
            "or invoke directly with {'data': {...}}"
        )


SOURCES: tuple[type[Source], ...] = (Alb, FunctionUrl, HttpApi, RestApi, Direct)


def detect(event: Any) -> Source:
    """The source of ``event``; :class:`Unknown` when no shape matches (its request raises 400)."""
    if isinstance(event, dict):
        for source in SOURCES:
            if source.infer(event):
                return source(event)
    return Unknown(event)
