"""Where an invocation came from, judged by the event's shape, and how to answer that source.

One small class per source, each with an ``infer(event)`` test; :func:`detect` tries them from the
most specific shape to the least:

* :class:`Alb` — ``requestContext.elb`` is present (an ALB event also has ``httpMethod``);
* :class:`FunctionUrl` / :class:`HttpApi` — payload format ``version`` ``"2.0"`` with
  ``requestContext.http``; a Function URL's domain is ``*.lambda-url.*``;
* :class:`LatticeV2` — ``version`` ``"2.0"``, ``method`` and a ``requestContext`` with the VPC
  Lattice ARNs (``serviceNetworkArn``, ``serviceArn``, ``targetGroupArn``);
* :class:`RestApi` — ``httpMethod`` with a ``requestContext`` (REST API proxy, or HTTP API with
  payload format 1.0);
* :class:`LatticeV1` — ``raw_path`` and ``method`` with no ``requestContext`` (snake_case keys);
* :class:`Direct` — no ``requestContext``: the event is the payload itself (``{"data": ...}``
  or an MLflow scoring shape), or the seed's ``{"body": "<json>"}`` test event.

Anything else (a list, a string, an unknown ``requestContext``) is an :class:`UnsupportedEvent`.

Options: only the query flags the service reads (:data:`QUERY_FLAGS`) are looked up, each by its exact
name, and only their first value is decoded (ALB passes them percent-encoded), so a query of 100,000
keys costs three lookups. Every source's shapes are read: single values, API Gateway's and ALB's
``multiValue*`` lists, the HTTP API's comma-joined repeats, VPC Lattice v1's ``query_string_parameters``
and v2's lists. ``Accept-Language`` is every line of the header, from whichever shape the source
uses, joined by commas in the order sent (RFC 9110 section 5.3), at most :data:`MAX_HEADER_CHARS`.
This module never looks at the model; it turns events into :class:`Request` and answers back.

Identity: the request id is always the server's (the Lambda request id, a uuid4 without a context),
because a client can extend or repeat any id a source forwards (ALB keeps a client's
``X-Amzn-Trace-Id``). The source's own id is kept only as a :func:`correlation_id`: a short token of
``[A-Za-z0-9._:=-]`` (no ``/``), at most :data:`MAX_CORRELATION_ID` characters, else dropped; it goes
to logs and capture records, never into a path or key.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote_plus

from credit_score.contract.capture import OBJECT_ID
from credit_score.runtime.config import ALB_RESPONSE_BYTES, LAMBDA_RESPONSE_BYTES
from credit_score.runtime.errors import BadRequest, PayloadTooLarge, UnsupportedEvent
from credit_score.runtime.payload import SHAPES

PAYLOAD_KEYS = frozenset(SHAPES)
MAX_CORRELATION_ID = 64
_CORRELATION_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:=-]{{0,{MAX_CORRELATION_ID - 1}}}")
_TRACE_HEADER = "x-amzn-trace-id"
_LANGUAGE_HEADER = "accept-language"
QUERY_FLAGS = ("explain", "contributions", "lang")  # the query parameters the service reads, nothing else
MAX_FLAG_CHARS = 64  # a flag value longer than this is passed on undecoded (and refused as malformed)
MAX_HEADER_CHARS = 4096  # Accept-Language lines are combined up to this many characters
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
    """What the service needs from an invocation: ``body`` is JSON text/bytes when ``raw``, else the payload.

    ``query`` (the first value of each of :data:`QUERY_FLAGS` sent) and ``accept_language`` (every line
    of the header, comma-joined) carry the answer's options.
    """

    method: str
    path: str
    body: Any
    raw: bool
    query: Mapping[str, str] | None = None
    accept_language: str | None = None


def correlation_id(candidate: Any) -> str | None:
    """``candidate`` when it is a short safe token (it reaches logs and capture records), else ``None``."""
    if type(candidate) is str and len(candidate) <= MAX_CORRELATION_ID and _CORRELATION_ID.fullmatch(candidate):
        return candidate
    return None


def _trace_root(header: Any) -> str | None:
    """The first field of an ``X-Amzn-Trace-Id`` (``Root=...``), the part the load balancer made or kept."""
    return correlation_id(header.split(";", 1)[0]) if type(header) is str else None


def request_id(context: Any) -> str:
    """The Lambda request id (it matches START/END/REPORT lines), or a fresh uuid4 without a usable one."""
    candidate = getattr(context, "aws_request_id", None)
    if type(candidate) is str and OBJECT_ID.fullmatch(candidate):  # also the capture object id
        return candidate
    return str(uuid.uuid4())


class Source:
    """A source shape: ``infer`` recognises it, ``request`` reads it, ``envelope`` answers it.

    ``response_bytes`` is the largest answer its front door passes on (``config.py`` cites each).
    """

    name: ClassVar[str] = "unknown"
    label: ClassVar[str] = "Lambda"
    response_bytes: ClassVar[int] = LAMBDA_RESPONSE_BYTES

    def __init__(self, event: Any) -> None:
        self.event = event

    @classmethod
    def infer(cls, event: Any) -> bool:
        raise NotImplementedError

    def request(self, max_body_bytes: int) -> Request:
        raise NotImplementedError

    def correlation_id(self) -> str | None:
        """The source's own id for this request, sanitised; ``None`` when it has none or it is unsafe."""
        return None

    def envelope(self, status: int, body: str, headers: dict[str, str]) -> dict[str, Any]:
        return {"statusCode": status, "headers": headers, "body": body}


def _context_of(event: Mapping[str, Any]) -> Mapping[str, Any]:
    context = event.get("requestContext")
    return context if isinstance(context, dict) else {}


def _text(value: Any, default: str) -> str:
    return value if type(value) is str and value else default


def _first_text(value: Any) -> str | None:
    """A query parameter's first value, whether the source sends a string or a list of them."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if type(value) is str else None


def _lines(value: Any) -> list[str]:
    """A header's lines, whether the source sends one string or a list (one per line)."""
    if type(value) is str:
        return [value]
    return [line for line in value if type(line) is str] if isinstance(value, list) else []


def _flags(parameters: Any, decode: bool = False, *, joined: bool = False) -> dict[str, str] | None:
    """The first value of each flag in ``parameters`` (a dict of strings or lists); ``joined``: repeats
    arrive comma-joined (HTTP API 2.0); ``decode``: percent-encoded (ALB)."""
    if not isinstance(parameters, dict) or not parameters:
        return None
    found = {}
    for flag in QUERY_FLAGS:
        value = _first_text(parameters.get(flag))
        if value is None:
            continue
        if joined:
            value = value.split(",", 1)[0]
        if decode and len(value) <= MAX_FLAG_CHARS:
            value = unquote_plus(value)
        found[flag] = value
    return found or None


def _header_lines(headers: Any, name: str) -> list[str]:
    """Every line of header ``name`` (any case of it) in ``headers``, a dict of strings or lists."""
    if not isinstance(headers, dict):
        return []
    lines = _lines(headers.get(name))
    for key, value in headers.items():  # sources keep the client's spelling of a name (REST, ALB)
        if key != name and type(key) is str and key.lower() == name:
            lines += _lines(value)
    return lines


def _combined(lines: list[str]) -> str | None:
    """Header lines as one value, RFC 9110's comma join; bounded."""
    if not lines:
        return None
    text = ",".join(lines)
    return text[:MAX_HEADER_CHARS]


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

    def correlation_id(self) -> str | None:
        return correlation_id(_context_of(self.event).get("requestId"))

    def _query(self) -> Mapping[str, str] | None:
        """The flags' first values: API Gateway payload format 1.0 (single or multi-value)."""
        multi = _flags(self.event.get("multiValueQueryStringParameters"))
        return multi if multi is not None else _flags(self.event.get("queryStringParameters"))

    def _accept_language(self) -> str | None:
        """Every line: the multi-value form holds them all, the single form only the last (REST, ALB)."""
        lines = _header_lines(self.event.get("multiValueHeaders"), _LANGUAGE_HEADER)
        return _combined(lines or _header_lines(self._headers(), _LANGUAGE_HEADER))

    def request(self, max_body_bytes: int) -> Request:
        method = self._method()
        body = _body(self.event, max_body_bytes) if method == "POST" else ""
        return Request(method, self._path(), body, True, self._query(), self._accept_language())


class Alb(_Http):
    name = "alb"
    label = "Application Load Balancer"
    response_bytes = ALB_RESPONSE_BYTES

    @classmethod
    def infer(cls, event: Any) -> bool:
        return "elb" in _context_of(event)

    def _multi_value(self) -> bool:
        return isinstance(self.event.get("multiValueHeaders"), dict)

    def _query(self) -> Mapping[str, str] | None:
        """ALB passes query parameters as sent, percent-encoded: only the flags' values are decoded."""
        multi = _flags(self.event.get("multiValueQueryStringParameters"), decode=True)
        return multi if multi is not None else _flags(self.event.get("queryStringParameters"), decode=True)

    def correlation_id(self) -> str | None:
        if self._multi_value():
            values = self.event["multiValueHeaders"].get(_TRACE_HEADER)
            trace = values[0] if isinstance(values, list) and values else None
        else:
            trace = self._headers().get(_TRACE_HEADER)
        return _trace_root(trace)

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
    label = "API Gateway HTTP API"

    @classmethod
    def infer(cls, event: Any) -> bool:
        return event.get("version") == "2.0" and isinstance(_context_of(event).get("http"), dict)

    def _method(self) -> str:
        return _text(_context_of(self.event)["http"].get("method"), "POST").upper()

    def _path(self) -> str:
        return _text(self.event.get("rawPath"), "") or _text(_context_of(self.event)["http"].get("path"), "/")

    def _query(self) -> Mapping[str, str] | None:
        """Payload format 2.0 joins a repeated parameter's values with commas; the first one counts."""
        return _flags(self.event.get("queryStringParameters"), joined=True)

    def envelope(self, status: int, body: str, headers: dict[str, str]) -> dict[str, Any]:
        return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}


class FunctionUrl(HttpApi):
    """Lambda Function URL: the 2.0 shape on a ``*.lambda-url.*`` domain."""

    name = "function_url"
    label = "Lambda Function URL"

    @classmethod
    def infer(cls, event: Any) -> bool:
        return super().infer(event) and ".lambda-url." in _text(_context_of(event).get("domainName"), "")


class RestApi(_Http):
    """API Gateway REST API proxy integration (payload format 1.0)."""

    name = "rest_api"
    label = "API Gateway REST API"

    @classmethod
    def infer(cls, event: Any) -> bool:
        return "httpMethod" in event and isinstance(event.get("requestContext"), dict)

    def envelope(self, status: int, body: str, headers: dict[str, str]) -> dict[str, Any]:
        response: dict[str, Any] = {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}
        if isinstance(self.event.get("multiValueHeaders"), dict):
            response["multiValueHeaders"] = {key: [value] for key, value in headers.items()}
        return response


def _first(value: Any) -> Any:
    """Lattice sends header values as lists (one per occurrence); the first one, or the value itself."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


class _Lattice(_Http):
    """VPC Lattice: method, path and headers under their own names, answered like an ALB (single values)."""

    _path_key: ClassVar[str] = "path"
    _base64_key: ClassVar[str] = "isBase64Encoded"
    _query_key: ClassVar[str] = "queryStringParameters"

    def _method(self) -> str:
        return _text(self.event.get("method"), "POST").upper()

    def _path(self) -> str:
        return _text(self.event.get(self._path_key), "/")

    def correlation_id(self) -> str | None:
        headers = self._headers()
        return _trace_root(_first(headers.get(_TRACE_HEADER)))

    def request(self, max_body_bytes: int) -> Request:
        method = self._method()
        body = ""
        if method == "POST":
            event = {"body": self.event.get("body"), "isBase64Encoded": self.event.get(self._base64_key)}
            body = _body(event, max_body_bytes)
        language = _combined(_header_lines(self._headers(), _LANGUAGE_HEADER))
        return Request(method, self._path(), body, True, self._query(), language)

    def _query(self) -> Mapping[str, str] | None:
        """Strings or lists (v2 sends a list per parameter), under the version's own key."""
        return _flags(self.event.get(self._query_key))

    def envelope(self, status: int, body: str, headers: dict[str, str]) -> dict[str, Any]:
        return {
            "statusCode": status,
            "statusDescription": f"{status} {_REASONS.get(status, '')}".rstrip(),
            "headers": headers,
            "body": body,
            "isBase64Encoded": False,
        }


class LatticeV2(_Lattice):
    """VPC Lattice, event structure version 2.0."""

    name = "vpc_lattice_v2"
    label = "VPC Lattice"

    @classmethod
    def infer(cls, event: Any) -> bool:
        context = _context_of(event)
        return (
            event.get("version") == "2.0"
            and "method" in event
            and any(key in context for key in ("serviceNetworkArn", "serviceArn", "targetGroupArn"))
        )


class LatticeV1(_Lattice):
    """VPC Lattice, event structure version 1 (snake_case keys, no request context)."""

    name = "vpc_lattice_v1"
    label = "VPC Lattice"
    _path_key = "raw_path"
    _base64_key = "is_base64_encoded"
    _query_key = "query_string_parameters"

    @classmethod
    def infer(cls, event: Any) -> bool:
        return "requestContext" not in event and "raw_path" in event and "method" in event


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
            "unrecognised event: send an API Gateway, HTTP API, Function URL, ALB or VPC Lattice event, "
            "or invoke directly with {'data': {...}}"
        )


SOURCES: tuple[type[Source], ...] = (Alb, FunctionUrl, HttpApi, LatticeV2, RestApi, LatticeV1, Direct)


def detect(event: Any) -> Source:
    """The source of ``event``; :class:`Unknown` when no shape matches (its request raises 400)."""
    if isinstance(event, dict):
        for source in SOURCES:
            if source.infer(event):
                return source(event)
    return Unknown(event)
