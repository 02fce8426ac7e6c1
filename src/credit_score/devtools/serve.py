"""A local HTTP server in front of ``app.handler``, shaped like API Gateway's HTTP API (payload 2.0).

    credit-score-serve [--host 127.0.0.1] [--port 8080] [--model-dir model] [--allow-no-model]
    python -m credit_score.devtools.serve ...

``Gateway`` is a WSGI application: each request becomes the event an HTTP API ``$default`` route would
send (lower-cased headers, ``cookies``, ``requestContext.http``, base64 for bodies that are not UTF-8),
the handler is called with a Lambda-like context, and its envelope becomes the HTTP response, so what
runs locally is exactly what runs in Lambda. Calls to the handler are serialised: one server is one
Lambda container, which never runs two invocations at once. It also answers ``GET /openapi.json`` (the
API's OpenAPI 3.1 document) and ``GET /docs``: Swagger UI over that document, its assets from the pinned
``swagger-ui-bundle-v2`` package (Swagger UI 5, the first to render OpenAPI 3.1) and served from here, so the
page works offline and its policy allows no other origin.

HTTP itself (request parsing, chunked bodies, ``Expect: 100-continue``, threads) is werkzeug's
development server. It answers every response with ``Connection: close``, so keep-alive clients
reconnect instead of waiting on a half-sent response. Bodies over ``MAX_BODY_BYTES`` are refused with
413 before they are read, like the gateway's own limit; requests werkzeug cannot parse get a JSON
error rather than an HTML page that quotes them. For local use: it binds to 127.0.0.1 unless told
otherwise.
"""

from __future__ import annotations

import argparse
import base64
import html
import http.client
import json
import os
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from credit_score.cli import CommandParser
from credit_score.contract.bundle import MODEL_CARD_HTML, BundleError, load_bundle
from credit_score.devtools import openapi
from credit_score.runtime.config import MODEL_DIR, Settings
from credit_score.runtime.errors import (
    BadRequest,
    ClientError,
    ConfigError,
    MethodNotAllowed,
    ModelUnavailable,
    NotFound,
    PayloadTooLarge,
)
from credit_score.runtime.model import Model

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

Handler = Callable[[dict[str, Any], Any], Any]

FUNCTION_NAME = "credit-score-local"
FUNCTION_TIMEOUT_S = 30.0
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
MODEL_CARD_PATH = "/model-card"
SOCKET_TIMEOUT_S = 30.0
READ_CHUNK_BYTES = 64 * 1024
# The methods API Gateway forwards; anything else is answered here, as the gateway would.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_HOP_BY_HOP = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})
_GATEWAY_ERROR = b'{"message":"Internal Server Error"}'


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers commonly read."""

    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = FUNCTION_NAME
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    timeout_s: float = FUNCTION_TIMEOUT_S
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


def _gateway_request_id() -> str:
    """An id shaped like API Gateway's (``UkXq1jvHoAMEbwQ=``)."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(15)) + "="


def _trace_id(now: float) -> str:
    return f"Root=1-{int(now):08x}-{secrets.token_hex(12)}"


def build_event(
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    source_ip: str = "127.0.0.1",
    server_port: int = 8080,
    protocol: str = "HTTP/1.1",
    now: float | None = None,
) -> dict[str, Any]:
    """The HTTP API payload-2.0 event of one request, as the ``$default`` route delivers it."""
    now = time.time() if now is None else now
    path, _, query = target.partition("?")
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    merged.setdefault("x-forwarded-for", source_ip)
    merged.setdefault("x-forwarded-port", str(server_port))
    merged.setdefault("x-forwarded-proto", "http")
    merged.setdefault("x-amzn-trace-id", _trace_id(now))
    domain = merged.get("host", f"localhost:{server_port}")
    request_id = _gateway_request_id()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path or "/",
        "rawQueryString": query,
        "headers": merged,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        parameters: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
        event["queryStringParameters"] = parameters
    event["requestContext"] = {
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": method,
            "path": path or "/",
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now * 1000),
    }
    if body:
        try:
            event["body"], event["isBase64Encoded"] = body.decode("utf-8"), False
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
    else:
        event["isBase64Encoded"] = False
    return event


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def to_response(result: Any) -> HttpResponse:
    """The HTTP response API Gateway makes of a handler's return value (payload format 2.0 rules)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # 2.0 infers a response: any JSON value becomes a 200 application/json body.
        try:
            text = json.dumps(result)
        except (TypeError, ValueError):
            return HttpResponse(500, [("Content-Type", "application/json")], _GATEWAY_ERROR)
        return HttpResponse(200, [("Content-Type", "application/json")], text.encode())
    status, body = result.get("statusCode"), result.get("body") or ""
    if type(status) is not int or not 100 <= status <= 599 or not isinstance(body, str):
        return HttpResponse(500, [("Content-Type", "application/json")], _GATEWAY_ERROR)
    try:
        payload = base64.b64decode(body, validate=True) if result.get("isBase64Encoded") else body.encode()
    except ValueError:
        return HttpResponse(500, [("Content-Type", "application/json")], _GATEWAY_ERROR)
    headers = [
        (str(name), str(value))
        for name, value in (result.get("headers") or {}).items()
        if str(name).lower() not in _HOP_BY_HOP
    ]
    headers.extend(("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or [])
    return HttpResponse(status, headers, payload)


# Swagger UI's assets (swagger-ui-bundle-v2, pinned) and our initializer, served under /docs/.
SWAGGER_UI_ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
DOCS_INIT = "swagger-init.js"
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def docs_assets() -> dict[str, tuple[bytes, str]]:
    """``/docs/<name>`` → (body, content type): Swagger UI from its package, the initializer from ours."""
    from swagger_ui_bundle import swagger_ui_path

    assets = {
        f"{DOCS_PATH}/{name}": ((swagger_ui_path / name).read_bytes(), kind) for name, kind in SWAGGER_UI_ASSETS.items()
    }
    init = resources.files(__package__).joinpath(DOCS_INIT).read_bytes()
    assets[f"{DOCS_PATH}/{DOCS_INIT}"] = (init, "text/javascript")
    return assets


def docs_page(document: dict[str, Any]) -> bytes:
    """The /docs page: Swagger UI over ``/openapi.json``, every script and style from this server."""
    template = resources.files(__package__).joinpath("docs.html").read_text(encoding="utf-8")
    return template.replace("{{title}}", html.escape(document["info"]["title"])).encode()


def model_card_response(model_dir: Path | None) -> HttpResponse:
    """The bundle's ``model_card.html``, read from the verified bundle on each request (a new download shows)."""
    try:
        bundle = load_bundle(model_dir or "model")
    except BundleError as error:
        return error_response(NotFound(f"no verified model bundle: {error}"))
    if not bundle.has_file(MODEL_CARD_HTML):
        return error_response(NotFound("this bundle has no model card; download it again with model_downloader.py"))
    policy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"  # a static page
    headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", policy)]
    return HttpResponse(200, headers, (bundle.path / MODEL_CARD_HTML).read_bytes())


def error_response(error: ClientError, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    """Errors of the server itself, in the handler's error shape."""
    request_id = str(uuid.uuid4())
    body = json.dumps({"error": error.code, "message": error.message, "request_id": request_id}).encode()
    headers = [("Content-Type", "application/json"), ("X-Request-Id", request_id), *headers]
    return HttpResponse(error.status, headers, body)


def _read_at_most(stream: IO[bytes], limit: int) -> bytes:
    parts: list[bytes] = []
    remaining = limit
    while remaining > 0 and (part := stream.read(min(remaining, READ_CHUNK_BYTES))):
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """The request body, or PayloadTooLarge having read at most ``limit + 1`` bytes of it.

    A declared length over the limit is refused without reading anything; a chunked body (which
    werkzeug decodes and marks ``wsgi.input_terminated``) is refused at its first byte past the limit.
    """
    stream = environ["wsgi.input"]
    too_large = PayloadTooLarge(f"the request body exceeds {limit} bytes")
    if environ.get("wsgi.input_terminated"):
        try:
            body = _read_at_most(stream, limit + 1)
        except OSError:  # werkzeug's decoder reports a malformed chunk as OSError
            raise BadRequest("malformed chunked body") from None
        if len(body) > limit:
            raise too_large
        return body
    length_text = environ.get("CONTENT_LENGTH", "")
    if not length_text:
        return b""
    if not length_text.strip().isdigit():
        raise BadRequest("the Content-Length header must be a whole number")
    length = int(length_text)
    if length > limit:
        raise too_large
    return _read_at_most(stream, length)


def request_headers(environ: WSGIEnvironment) -> list[tuple[str, str]]:
    """The request's headers from the WSGI environ (``HTTP_X_CUSTOM`` is ``x-custom``)."""
    headers = [(key[5:].replace("_", "-").lower(), value) for key, value in environ.items() if key.startswith("HTTP_")]
    headers.extend(
        (key.replace("_", "-").lower(), environ[key]) for key in ("CONTENT_TYPE", "CONTENT_LENGTH") if environ.get(key)
    )
    return headers


class Gateway:
    """The WSGI application: one handler (one Lambda container) plus the API's description."""

    def __init__(
        self, handler: Handler, *, max_body_bytes: int, document: dict[str, Any], model_dir: Path | None = None
    ) -> None:
        self.handler = handler
        self.model_dir = model_dir
        self.max_body_bytes = max_body_bytes
        self.invocations = threading.Lock()
        self.openapi_body = json.dumps(document, indent=1).encode()
        self.docs_body = docs_page(document)
        self.docs_assets = docs_assets()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        started = time.perf_counter()
        method, target = environ["REQUEST_METHOD"], environ["RAW_URI"]  # werkzeug: the target as sent
        path = target.partition("?")[0]
        response = self.respond(environ, method, target, path)
        reason = http.client.responses.get(response.status, "")
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {reason}".rstrip(), headers)
        _log({"message": "http_access", "method": method, "path": path, "status": response.status, "ms": _ms(started)})
        return [] if method == "HEAD" else [response.body]  # HEAD: GET's headers, no body

    def respond(self, environ: WSGIEnvironment, method: str, target: str, path: str) -> HttpResponse:
        if method not in METHODS:
            allow = [("Allow", MethodNotAllowed.allow)]
            return error_response(MethodNotAllowed("use POST to predict or GET /health"), allow)
        if method in ("GET", "HEAD") and path == OPENAPI_PATH:
            return HttpResponse(200, [("Content-Type", "application/json")], self.openapi_body)
        if method in ("GET", "HEAD") and path == DOCS_PATH:
            headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", DOCS_POLICY)]
            return HttpResponse(200, headers, self.docs_body)
        if method in ("GET", "HEAD") and path == MODEL_CARD_PATH:
            return model_card_response(self.model_dir)
        if method in ("GET", "HEAD") and path in self.docs_assets:
            body, kind = self.docs_assets[path]
            return HttpResponse(200, [("Content-Type", kind), ("Cache-Control", "max-age=3600")], body)
        try:
            body = read_body(environ, self.max_body_bytes)
        except ClientError as error:
            return error_response(error)
        event = build_event(
            method,
            target,
            request_headers(environ),
            body,
            source_ip=environ.get("REMOTE_ADDR") or "127.0.0.1",
            server_port=int(environ["SERVER_PORT"]),
            protocol=environ["SERVER_PROTOCOL"],
        )
        with self.invocations:
            try:
                result = self.handler(event, LambdaContext())
            except Exception as error:  # the gateway answers a crashed function with a generic 500
                _log({"message": "handler_raised", "error": type(error).__name__})
                return HttpResponse(500, [("Content-Type", "application/json")], _GATEWAY_ERROR)
        return to_response(result)


class RequestHandler(WSGIRequestHandler):
    """werkzeug's handler with JSON for what it cannot parse and JSON log lines without query strings."""

    server: Server
    timeout = SOCKET_TIMEOUT_S

    def handle_expect_100(self) -> bool:
        """Refuse a declared oversized body before the client sends it (413 instead of ``100 Continue``).

        Otherwise werkzeug sends the ``100 Continue`` itself when the request reaches the app; http.server's
        would be a second one.
        """
        length = self.headers.get("Content-Length", "").strip()
        limit = self.server.app.max_body_bytes
        if length.isdigit() and int(length) > limit:
            self.send_direct(error_response(PayloadTooLarge(f"the request body exceeds {limit} bytes")))
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """JSON instead of http.server's HTML page, which quotes the bad request line (400, 414, 431, 505)."""
        self.request_version = "HTTP/1.1"  # never answer in HTTP/0.9 (a bare body, no status line)
        self.send_direct(replace(error_response(BadRequest(HTTPStatus(code).phrase.lower())), status=code))

    def send_direct(self, response: HttpResponse) -> None:
        """A response from the HTTP layer itself (the app never saw the request); the connection closes."""
        self.close_connection = True
        self.send_response(response.status)
        for name, value in [*response.headers, ("Content-Length", str(len(response.body))), ("Connection", "close")]:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)
        _log({"message": "http_refused", "status": response.status})

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Access lines come from :class:`Gateway` (no query strings, which may carry anything)."""

    def log(self, type: str, message: str, *args: Any) -> None:
        _log({"message": "http_server", "level": type, "detail": message % args})


class Server(ThreadedWSGIServer):
    """werkzeug's threaded server around a :class:`Gateway`; ``port=0`` picks a free port."""

    block_on_close = False

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _log(line: dict[str, Any]) -> None:
    sys.stderr.write(json.dumps(line) + "\n")


def make_server(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    handler: Handler | None = None,
    settings: Settings | None = None,
    answers: dict[str, Any] | None = None,
) -> Server:
    """A bound, not yet serving server (``serve_forever`` starts it; ``server.url`` says where).

    ``answers`` (:func:`credit_score.devtools.examples.answer_all`) become the API page's response examples.
    """
    settings = settings or Settings.from_env()
    if handler is None:
        import app

        handler = app.handler
    document = openapi.document(
        max_batch_size=settings.max_batch_size, max_body_bytes=settings.max_body_bytes, answers=answers
    )
    gateway = Gateway(handler, max_body_bytes=settings.max_body_bytes, document=document, model_dir=settings.model_dir)
    return Server(host, port, gateway, handler=RequestHandler)


PROG = "credit-score-serve"
EXIT_CODES = {
    0: "stopped with Ctrl-C",
    1: "no loadable model bundle (run `make demo`, or pass --allow-no-model to start anyway)",
    2: "usage error, a bad configuration variable, or the address cannot be bound",
}


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError("must be a whole number from 0 to 65535")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=PROG,
        description=(
            "Serve app.handler over HTTP the way API Gateway's HTTP API does: POST /predict (or /) predicts, "
            f"GET /health describes the model, GET {DOCS_PATH} is the API page, GET {OPENAPI_PATH} its document. "
            "Refuses to start without a loadable model bundle."
        ),
        exit_codes=EXIT_CODES,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0 picks a free one)")
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="model bundle folder (default: $MODEL_DIR, else ./model)"
    )
    parser.add_argument(
        "--allow-no-model",
        action="store_true",
        help="start even when the bundle cannot be loaded (predictions then answer 500 model_unavailable)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ[MODEL_DIR] = str(args.model_dir or os.environ.get(MODEL_DIR) or Path("model").resolve())
    try:
        settings = Settings.from_env()
        answers = None
        if not args.allow_no_model:  # a missing bundle stops here, not as a 500 to every request
            from credit_score.devtools.examples import answer_all

            Model.load(settings.model_dir, threads=settings.model_threads)
            answers = answer_all(settings.model_dir)  # the page's examples: this model's answers, never captured
        server = make_server(args.host, args.port, settings=settings, answers=answers)
    except ConfigError as error:
        print(f"{PROG}: error: configuration: {error.reason}", file=sys.stderr)
        return 2
    except ModelUnavailable as error:
        reason = " ".join(error.reason.split())
        print(
            f"{PROG}: error: no loadable model bundle in {os.environ[MODEL_DIR]} ({reason}); "
            "run `make demo` to build one, or pass --allow-no-model",
            file=sys.stderr,
        )
        return 1
    except SystemExit:  # werkzeug exits when it cannot bind, having printed why
        print(f"{PROG}: error: cannot listen on {args.host}:{args.port}", file=sys.stderr)
        return 2
    print(
        f"serving on {server.url} (docs: {server.url}{DOCS_PATH}, OpenAPI: {server.url}{OPENAPI_PATH})", file=sys.stderr
    )
    server.serve_forever()  # returns on Ctrl-C, having closed the socket
    return 0


if __name__ == "__main__":
    sys.exit(main())
