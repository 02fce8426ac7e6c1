"""A local HTTP server in front of ``app.handler``, shaped like API Gateway's HTTP API (payload 2.0).

    python -m credit_score.devtools.serve [--host 127.0.0.1] [--port 8080] [--model-dir model]

Each request becomes the event an HTTP API ``$default`` route would send (lower-cased headers,
``cookies``, ``requestContext.http``, base64 for bodies that are not UTF-8), the handler is called with
a Lambda-like context, and its envelope becomes the HTTP response, so what runs locally is exactly
what runs in Lambda. Calls to the handler are serialised: one server is one Lambda container, which
never runs two invocations at once. The server also answers ``GET /openapi.json`` (the API's
OpenAPI 3.1 document) and ``GET /docs`` (a self-contained page rendering it; no network needed).

Bodies over ``MAX_BODY_BYTES`` are refused with 413 before they are read, like the gateway's own
limit; malformed requests get a JSON 400 rather than the standard library's HTML page. Standard
library only, for local use: it binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from credit_score.devtools import openapi
from credit_score.runtime.config import MODEL_DIR, Settings
from credit_score.runtime.errors import BadRequest, ClientError, ConfigError, MethodNotAllowed, PayloadTooLarge

Handler = Callable[[dict[str, Any], Any], Any]

FUNCTION_NAME = "credit-score-local"
FUNCTION_TIMEOUT_S = 30.0
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
SOCKET_TIMEOUT_S = 30.0
DRAIN_BYTES = 64 * 1024 * 1024
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


def docs_page(document: dict[str, Any]) -> tuple[bytes, str]:
    """The /docs page and its Content-Security-Policy: the spec and its renderer inline, nothing fetched."""
    spec = json.dumps(document, separators=(",", ":")).replace("</", "<\\/")
    script = _DOCS_SCRIPT
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = (
        f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    page = _DOCS_HTML.format(title=document["info"]["title"], spec=spec, script=script, style=_DOCS_STYLE)
    return page.encode(), policy


class Server(ThreadingHTTPServer):
    """Serves one handler (one Lambda container) plus the API's description."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: Handler, *, max_body_bytes: int, document: dict[str, Any]):
        super().__init__(address, RequestHandler)
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.invocations = threading.Lock()
        self.openapi_body = json.dumps(document, indent=1).encode()
        self.docs_body, self.docs_policy = docs_page(document)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class RequestHandler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"
    server_version = "credit-score-local"
    sys_version = ""
    timeout = SOCKET_TIMEOUT_S

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        if path == OPENAPI_PATH:
            self._send(HttpResponse(200, [("Content-Type", "application/json")], self.server.openapi_body))
        elif path == DOCS_PATH:
            headers = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Security-Policy", self.server.docs_policy),
            ]
            self._send(HttpResponse(200, headers, self.server.docs_body))
        else:
            self._invoke()

    def do_HEAD(self) -> None:
        path = self.path.partition("?")[0]
        if path in (OPENAPI_PATH, DOCS_PATH):
            self.do_GET()  # _send leaves the body out for HEAD
        else:
            self._invoke()  # the gateway forwards HEAD; the handler answers it

    def do_POST(self) -> None:
        self._invoke()

    do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST

    def _invoke(self) -> None:
        started = time.perf_counter()
        try:
            body = self._read_body()
        except ClientError as error:
            self.close_connection = True  # the unread rest of the body must not be taken for a request
            self._send_error_body(error.status, error.code, error.message)
            return
        event = build_event(
            self.command,
            self.path,
            self.headers.items(),
            body,
            source_ip=self.client_address[0],
            server_port=self.server.server_address[1],
            protocol=self.request_version,
        )
        context = LambdaContext()
        with self.server.invocations:
            try:
                result = self.server.handler(event, context)
            except Exception as error:  # the gateway answers a crashed function with a generic 500
                self.log_error("handler raised %s", type(error).__name__)
                response = HttpResponse(500, [("Content-Type", "application/json")], _GATEWAY_ERROR)
            else:
                response = to_response(result)
        self._send(response)
        self._access(response.status, started)

    def _read_body(self) -> bytes:
        limit = self.server.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        if not length_text.strip().isdigit():
            raise BadRequest("the Content-Length header must be a whole number")
        length = int(length_text)
        if length > limit:
            self._discard(length)
            raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
        return self.rfile.read(length)

    def _discard(self, length: int) -> None:
        """Read and drop a refused body up to DRAIN_BYTES, so the client gets to read the 413."""
        if length > DRAIN_BYTES:
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                return
            length -= len(chunk)

    def handle_expect_100(self) -> bool:
        """Refuse an oversized body before the client sends it (``Expect: 100-continue``)."""
        length = self.headers.get("Content-Length", "").strip()
        if length.isdigit() and int(length) > self.server.max_body_bytes:
            self.close_connection = True
            limit = self.server.max_body_bytes
            self._send_error_body(413, PayloadTooLarge.code, f"the request body exceeds {limit} bytes")
            return False
        return super().handle_expect_100()

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _send_error_body(
        self, status: int, code: str, message: str, extra: list[tuple[str, str]] | None = None
    ) -> None:
        """Errors of the server itself, in the handler's error shape."""
        request_id = str(uuid.uuid4())
        body = json.dumps({"error": code, "message": message, "request_id": request_id}).encode()
        headers = [("Content-Type", "application/json"), ("X-Request-Id", request_id), *(extra or [])]
        self._send(HttpResponse(status, headers, body))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """JSON instead of the standard library's HTML for requests it cannot parse (400, 414, 431), and an
        unknown method answered 405 like the handler answers the known ones; ``message`` may quote the
        request line, so it is not repeated."""
        self.close_connection = True
        self.request_version = "HTTP/1.1"  # never answer in HTTP/0.9 (a bare body, no status line)
        if code == HTTPStatus.NOT_IMPLEMENTED:
            allow = [("Allow", MethodNotAllowed.allow)]
            self._send_error_body(405, MethodNotAllowed.code, "use POST to predict or GET /health", allow)
        else:
            self._send_error_body(code, BadRequest.code, HTTPStatus(code).phrase.lower())

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(json.dumps({"message": "http_server", "detail": format % args}) + "\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Access lines come from :meth:`_access` (no query strings, which may carry anything)."""

    def _access(self, status: int, started: float) -> None:
        line = {
            "message": "http_access",
            "method": self.command,
            "path": self.path.partition("?")[0],
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 3),
        }
        sys.stderr.write(json.dumps(line) + "\n")


def make_server(
    host: str = "127.0.0.1", port: int = 8080, *, handler: Handler | None = None, settings: Settings | None = None
) -> Server:
    """A bound, not yet serving server; ``port=0`` picks a free one (see ``server.url``)."""
    settings = settings or Settings.from_env()
    if handler is None:
        import app

        handler = app.handler
    document = openapi.document(max_batch_size=settings.max_batch_size, max_body_bytes=settings.max_body_bytes)
    return Server((host, port), handler, max_body_bytes=settings.max_body_bytes, document=document)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve app.handler over HTTP the way API Gateway's HTTP API does.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    parser.add_argument(
        "--model-dir", type=Path, default=None, help="model bundle folder (default: $MODEL_DIR, else ./model)"
    )
    args = parser.parse_args(argv)
    os.environ[MODEL_DIR] = str(args.model_dir or os.environ.get(MODEL_DIR) or Path("model").resolve())
    try:
        server = make_server(args.host, args.port)
    except ConfigError as error:
        print(f"configuration error: {error.reason}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 2
    print(
        f"serving on {server.url} (docs: {server.url}{DOCS_PATH}, OpenAPI: {server.url}{OPENAPI_PATH})", file=sys.stderr
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


_DOCS_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1d2330}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ccd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{border:1px solid #d8dbe3;padding:4px 7px;
text-align:left;vertical-align:top}th{background:#f1f3f7}code,pre,textarea{font:13px ui-monospace,monospace}
pre{background:#f6f7f9;padding:8px;overflow:auto;max-height:24em}.op{margin:1em 0;padding:.6em 1em;
border:1px solid #d8dbe3;border-radius:6px}.verb{display:inline-block;min-width:4.2em;font-weight:700;
color:#fff;background:#3b6fd1;border-radius:4px;text-align:center;margin-right:.6em}.verb.get{background:#2f9a5d}
textarea{width:100%;height:16em}button{font-size:15px;padding:.3em 1.2em}
"""

_DOCS_SCRIPT = """
const spec = JSON.parse(document.getElementById("spec").textContent);
const schemas = spec.components.schemas;
const root = document.getElementById("app");
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}
function add(parent, ...kids) { kids.forEach(k => parent.appendChild(k)); return parent; }
function refName(ref) { return ref ? ref.split("/").pop() : ""; }
function table(headers, rows) {
  const t = el("table"), head = el("tr");
  headers.forEach(h => head.appendChild(el("th", h)));
  t.appendChild(head);
  rows.forEach(r => { const tr = el("tr"); r.forEach(c => tr.appendChild(el("td", c))); t.appendChild(tr); });
  return t;
}
add(root, el("h1", spec.info.title), el("p", spec.info.description),
    el("p", "OpenAPI " + spec.openapi + ", API version " + spec.info.version + " - raw document: /openapi.json"));
add(root, el("h2", "Operations"));
const responses = spec.components.responses;
for (const [path, item] of Object.entries(spec.paths)) {
  for (const [method, op] of Object.entries(item)) {
    const box = el("div", undefined, "op");
    const title = el("div");
    add(title, el("span", method.toUpperCase(), "verb " + method), el("code", path), el("span", "  " + op.summary));
    add(box, title);
    if (op.description) add(box, el("p", op.description));
    if (op.requestBody) {
      const shapes = op.requestBody.content["application/json"].schema.oneOf.map(s => schemas[refName(s.$ref)].title);
      add(box, el("p", "Request body, one of: " + shapes.join("; ")));
    }
    const rows = Object.entries(op.responses).map(([status, r]) => {
      const resp = r.$ref ? responses[refName(r.$ref)] : r;
      const schema = resp.content["application/json"].schema;
      const names = schema.oneOf ? schema.oneOf.map(s => refName(s.$ref)).join(" | ") : refName(schema.$ref);
      return [status, resp.description, names];
    });
    add(box, table(["status", "meaning", "body"], rows));
    root.appendChild(box);
  }
}
add(root, el("h2", "Record fields"),
    el("p", "Numbers may be JSON numbers or numeric strings. Every field is required; other keys are ignored."));
const fieldRows = Object.keys(schemas).filter(n => n.startsWith("field.")).map(n => {
  const s = schemas[n];
  if (s.enum) return [n.slice(6), "category", s.enum.join(", "), s.description];
  const num = s.oneOf[0];
  return [n.slice(6), num.type, num.minimum + " to " + num.maximum + (s["x-unit"] ? " (" + s["x-unit"] + ")" : ""),
          s.description];
});
add(root, table(["field", "type", "allowed", "description"], fieldRows));
add(root, el("h2", "Errors"));
const errorRows = Object.entries(responses).map(([name, r]) => {
  const schema = schemas[refName(r.content["application/json"].schema.$ref)];
  return [name, schema.properties.error.enum.join(", "), r.description];
});
add(root, table(["response", "error codes", "meaning"], errorRows),
    el("p", "422 bodies list every problem as details[]: field, index (record), problem, message."));
add(root, el("h2", "Try it"));
const examples = spec.paths["/predict"].post.requestBody.content["application/json"].examples;
const input = el("textarea");
input.value = JSON.stringify(examples.single.value, null, 2);
const output = el("pre", "");
const send = el("button", "POST /predict");
send.addEventListener("click", async () => {
  output.textContent = "...";
  try {
    const headers = {"Content-Type": "application/json"};
    const r = await fetch("/predict", {method: "POST", headers: headers, body: input.value});
    output.textContent = r.status + " " + r.statusText + "\\n" + JSON.stringify(await r.json(), null, 2);
  } catch (e) { output.textContent = String(e); }
});
add(root, input, send, output);
"""

_DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{style}</style></head>
<body><div id="app"><noscript>This page needs JavaScript; the raw document is at /openapi.json.</noscript></div>
<script type="application/json" id="spec">{spec}</script>
<script>{script}</script>
</body></html>
"""


if __name__ == "__main__":
    sys.exit(main())
