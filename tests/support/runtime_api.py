"""A Lambda Runtime API and Extensions API emulator on 127.0.0.1, for the real runtime client.

Lambda's own runtime interface client (``awslambdaric``, in a subprocess or in the image) talks to
it exactly as to Lambda: ``invocation/next`` long-polls, ``response``/``error`` answer,
``init/error`` reports a failed start. Extensions register during init and long-poll
``extension/event/next``; an invoke *ends* only when the runtime has answered and called ``next``
again and every extension registered for ``INVOKE`` has called ``event/next`` again, while the
answer itself is available as soon as it is posted (AWS, "Lambda Extensions API": "The Invoke
phase ends after the runtime and all extensions signal that they are done by sending a Next API
request"). Internal extensions (any name not declared external) may not register for
``SHUTDOWN``; nothing may register once the runtime has asked for its first event.

    with RuntimeApi() as api:               # AWS_LAMBDA_RUNTIME_API=api.address
        result = api.invoke({"data": {...}})
        result.status, result.json(), result.responded_at, result.ended_at

Timestamps are ``time.monotonic()`` (one clock for every process of the machine, containers
included), so a subprocess may record its own and compare. Nagle is off on every connection:
a long-poll answer must not wait 40 ms for a delayed ACK.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RUNTIME = "/2018-06-01/runtime"
EXTENSION = "/2020-01-01/extension"
FUNCTION_NAME = "credit-score"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION_NAME}"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous response limit
MAX_EXTENSIONS = 10


class ApiError(Exception):
    """A refusal in the Runtime API's own shape: status, ``errorType`` and ``errorMessage``."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type


@dataclass
class Invocation:
    """One invoke as the emulator saw it; ``result()`` waits for the answer or for the invoke's end."""

    request_id: str
    payload: bytes
    deadline_ms: int
    trace_id: str
    submitted_at: float
    started_at: float | None = None
    responded_at: float | None = None
    ended_at: float | None = None
    status: str | None = None  # success | error | init_error
    body: bytes = b""
    content_type: str | None = None
    error_type: str | None = None  # Lambda-Runtime-Function-Error-Type, else the error body's errorType
    extensions_done_at: dict[str, float] = field(default_factory=dict)
    _runtime_done: bool = False
    _waiting_for: set[str] = field(default_factory=set)
    _answered: threading.Event = field(default_factory=threading.Event)
    _ended: threading.Event = field(default_factory=threading.Event)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def wait_response(self, timeout: float = 30.0) -> Invocation:
        if not self._answered.wait(timeout):
            raise TimeoutError(f"invocation {self.request_id}: no answer within {timeout} s")
        return self

    def wait_end(self, timeout: float = 30.0) -> Invocation:
        if not self._ended.wait(timeout):
            raise TimeoutError(
                f"invocation {self.request_id}: not ended within {timeout} s (answered: {self._answered.is_set()}, "
                f"runtime done: {self._runtime_done}, extensions still working: {sorted(self._waiting_for)})"
            )
        return self


@dataclass
class Extension:
    """A registered extension; ``events`` are what it registered for."""

    identifier: str
    name: str
    events: tuple[str, ...]
    external: bool
    registered_at: float
    waiting: bool = False
    pending: dict[str, Any] | None = None
    delivered: list[dict[str, Any]] = field(default_factory=list)
    errors: list[tuple[str, str, bytes]] = field(default_factory=list)


class RuntimeApi:
    """The emulator; a context manager that serves on a free loopback port until it exits."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        timeout_seconds: float = 30.0,
        external_extensions: Iterable[str] = (),
        function_arn: str = FUNCTION_ARN,
        extensions_api: bool = True,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.extensions_api = extensions_api  # False: a Runtime API without extensions, register is 404
        self.function_arn = function_arn
        self.external_extensions = frozenset(external_extensions)
        self.init_errors: list[tuple[str | None, bytes]] = []
        self.extensions: dict[str, Extension] = {}
        self.invocations: list[Invocation] = []
        self.runtime_next_calls = 0
        self._lock = threading.Condition()
        self._queue: deque[Invocation] = deque()
        self._current: Invocation | None = None
        self._handed: Invocation | None = None  # given to the runtime's pending next
        self._runtime_waiting = False
        self._closed = False
        self._connections: set[socket.socket] = set()
        self._server = ThreadingHTTPServer((host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="runtime-api", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> RuntimeApi:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; every pending long poll is dropped, as when Lambda freezes or kills the sandbox."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._server.shutdown()
        self._server.server_close()
        for connection in list(self._connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)

    def __enter__(self) -> RuntimeApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the test side ----------------------------------------------------------------------------

    def submit(self, event: Any, *, request_id: str | None = None) -> Invocation:
        """Queue an invoke (a JSON value, or raw ``bytes``/``str`` sent as they are) and return at once."""
        payload = event if isinstance(event, bytes) else event.encode() if isinstance(event, str) else None
        payload = payload if payload is not None else json.dumps(event).encode()
        now = time.monotonic()
        invocation = Invocation(
            request_id=request_id or str(uuid.uuid4()),
            payload=payload,
            deadline_ms=int((time.time() + self.timeout_seconds) * 1000),
            trace_id=f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0",
            submitted_at=now,
        )
        with self._lock:
            self.invocations.append(invocation)
            if self.init_errors:
                self._fail_init(invocation)
            else:
                self._queue.append(invocation)
                self._dispatch()
        return invocation

    def invoke(self, event: Any, *, timeout: float = 30.0, request_id: str | None = None) -> Invocation:
        """Invoke and wait for the invoke's end (runtime and extensions done); the answer's time is kept."""
        return self.submit(event, request_id=request_id).wait_end(timeout)

    def wait_for_init(self, timeout: float = 30.0) -> None:
        """Until the runtime first asks for an event (init done), or it reported an init error."""
        with self._lock:
            if not self._lock.wait_for(lambda: self.runtime_next_calls > 0 or self.init_errors, timeout):
                raise TimeoutError(f"the runtime did not finish init within {timeout} s")

    def shutdown(self, reason: str = "spindown", *, timeout: float = 2.0) -> list[str]:
        """Send SHUTDOWN to each extension registered for it; return the names it reached within ``timeout``."""
        deadline_ms = int((time.time() + timeout) * 1000)
        with self._lock:
            targets = [ext for ext in self.extensions.values() if "SHUTDOWN" in ext.events]
            for ext in targets:
                ext.pending = {"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms}
            self._lock.notify_all()
            self._lock.wait_for(lambda: all(ext.pending is None for ext in targets), timeout)
            return [ext.name for ext in targets if ext.pending is None]

    # --- the server side (called by the HTTP handler, under no lock) ------------------------------

    def runtime_next(self) -> Invocation | None:
        with self._lock:
            self.runtime_next_calls += 1
            current = self._current
            if current is not None and current.status is not None and not current._runtime_done:
                current._runtime_done = True
                self._maybe_end(current)
            self._runtime_waiting = True
            self._dispatch()
            self._lock.wait_for(lambda: self._handed is not None or self._closed)
            handed, self._handed = self._handed, None
            self._runtime_waiting = False
            return handed

    def runtime_answer(
        self, request_id: str, status: str, body: bytes, content_type: str | None, error_type: str | None
    ) -> None:
        too_large = len(body) > MAX_RESPONSE_BYTES
        with self._lock:
            current = self._current
            if current is None or current.request_id != request_id:
                raise ApiError(400, "InvalidRequestID", "no invocation in flight with this request id")
            if current.status is not None:
                raise ApiError(403, "InvalidStateTransition", "this invocation was already answered")
            if too_large:  # Lambda fails the invoke and tells the runtime why
                status, body, error_type = "error", b"", "Function.ResponseSizeTooLarge"
            current.status, current.body, current.content_type = status, body, content_type
            current.error_type = error_type
            current.responded_at = time.monotonic()
            current._answered.set()
            self._lock.notify_all()
        if too_large:
            raise ApiError(413, "RequestEntityTooLarge", f"the response exceeds {MAX_RESPONSE_BYTES} bytes")

    def runtime_init_error(self, error_type: str | None, body: bytes) -> None:
        with self._lock:
            if self.runtime_next_calls:
                raise ApiError(403, "InvalidStateTransition", "init is over")
            self.init_errors.append((error_type, body))
            while self._queue:
                self._fail_init(self._queue.popleft())
            self._lock.notify_all()

    def register(self, name: str | None, body: bytes) -> Extension:
        if not self.extensions_api:
            raise ApiError(404, "NotFound", "this Runtime API has no Extensions API")
        if not name:
            raise ApiError(403, "Extension.InvalidExtensionName", "the Lambda-Extension-Name header is required")
        try:
            events = tuple(json.loads(body or b"{}").get("events") or ())
        except (ValueError, AttributeError):
            raise ApiError(400, "InvalidRequestFormat", "the body must be a JSON object") from None
        external = name in self.external_extensions
        for event in events:
            if event == "SHUTDOWN" and not external:
                raise ApiError(403, "ShutdownEventNotSupportedForInternalExtension", f"{name}: internal extension")
            if event not in {"INVOKE", "SHUTDOWN"}:
                raise ApiError(403, "Extension.InvalidEventType", f"{name}: {event}")
        with self._lock:
            if self.runtime_next_calls or self.init_errors:
                raise ApiError(403, "Extension.InvalidState", "extensions register during init only")
            if any(ext.name == name for ext in self.extensions.values()):
                raise ApiError(403, "Extension.AlreadyRegistered", f"{name} is already registered")
            if len(self.extensions) >= MAX_EXTENSIONS:
                raise ApiError(403, "Extension.TooManyExtensions", f"at most {MAX_EXTENSIONS} extensions")
            extension = Extension(str(uuid.uuid4()), name, events, external, time.monotonic())
            self.extensions[extension.identifier] = extension
            return extension

    def extension_next(self, identifier: str | None) -> dict[str, Any] | None:
        with self._lock:
            extension = self._extension(identifier)
            current = self._current
            if current is not None and extension.name in current._waiting_for:
                current._waiting_for.discard(extension.name)
                current.extensions_done_at[extension.name] = time.monotonic()
                self._maybe_end(current)
            extension.waiting = True
            self._dispatch()
            self._lock.wait_for(lambda: extension.pending is not None or self._closed)
            event, extension.pending = extension.pending, None
            extension.waiting = False
            if event is not None:
                extension.delivered.append(event)
            self._lock.notify_all()
            return event

    def extension_error(self, identifier: str | None, kind: str, error_type: str | None, body: bytes) -> None:
        with self._lock:
            self._extension(identifier).errors.append((kind, error_type or "", body))

    # --- state machine (under the lock) -----------------------------------------------------------

    def _extension(self, identifier: str | None) -> Extension:
        extension = self.extensions.get(identifier or "")
        if extension is None:
            raise ApiError(403, "Extension.UnknownExtensionIdentifier", "unknown Lambda-Extension-Identifier")
        return extension

    def _dispatch(self) -> None:
        """Start the next invoke once the runtime and every extension wait for an event."""
        ready = self._runtime_waiting and all(ext.waiting and ext.pending is None for ext in self.extensions.values())
        if self._current is None and self._queue and ready and not self._closed:
            invocation = self._current = self._queue.popleft()
            invocation.started_at = time.monotonic()
            event = {
                "eventType": "INVOKE",
                "deadlineMs": invocation.deadline_ms,
                "requestId": invocation.request_id,
                "invokedFunctionArn": self.function_arn,
                "tracing": {"type": "X-Amzn-Trace-Id", "value": invocation.trace_id},
            }
            for ext in self.extensions.values():
                if "INVOKE" in ext.events:
                    ext.pending = dict(event)
                    invocation._waiting_for.add(ext.name)
            self._handed = invocation
        self._lock.notify_all()

    def _maybe_end(self, invocation: Invocation) -> None:
        if invocation.status is not None and invocation._runtime_done and not invocation._waiting_for:
            invocation.ended_at = time.monotonic()
            invocation._ended.set()
            self._current = None

    def _fail_init(self, invocation: Invocation) -> None:
        error_type, body = self.init_errors[0]
        invocation.status, invocation.body, invocation.error_type = "init_error", body, error_type
        invocation.responded_at = invocation.ended_at = time.monotonic()
        invocation._answered.set()
        invocation._ended.set()


def _error_type(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document.get("errorType") if isinstance(document, dict) else None


def _handler_for(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the runtime client expects

        def setup(self) -> None:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            api._connections.add(self.request)
            super().setup()

        def finish(self) -> None:
            api._connections.discard(self.request)
            super().finish()

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def _route(self, method: str) -> None:
            try:
                body = self._body()
                path = self.path.split("?", 1)[0]
                if method == "GET" and path == f"{RUNTIME}/invocation/next":
                    self._next_invocation()
                elif method == "POST" and path.startswith(f"{RUNTIME}/invocation/"):
                    self._answer(path, body)
                elif method == "POST" and path == f"{RUNTIME}/init/error":
                    api.runtime_init_error(self.headers.get("Lambda-Runtime-Function-Error-Type"), body)
                    self._reply(202, {"status": "OK"})
                elif method == "POST" and path == f"{EXTENSION}/register":
                    extension = api.register(self.headers.get("Lambda-Extension-Name"), body)
                    self._registered(extension)
                elif method == "GET" and path == f"{EXTENSION}/event/next":
                    self._next_event()
                elif method == "POST" and path in {f"{EXTENSION}/init/error", f"{EXTENSION}/exit/error"}:
                    kind = path.rsplit("/", 2)[-2]
                    api.extension_error(
                        self.headers.get("Lambda-Extension-Identifier"),
                        kind,
                        self.headers.get("Lambda-Extension-Function-Error-Type"),
                        body,
                    )
                    self._reply(202, {"status": "OK"})
                else:
                    raise ApiError(404, "NotFound", f"{method} {path}")
            except ApiError as error:
                self._reply(error.status, {"errorType": error.error_type, "errorMessage": str(error)})
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _next_invocation(self) -> None:
            invocation = api.runtime_next()
            if invocation is None:
                self.close_connection = True
                return
            headers = {
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                "Lambda-Runtime-Trace-Id": invocation.trace_id,
            }
            self._send(200, invocation.payload, headers)

        def _answer(self, path: str, body: bytes) -> None:
            request_id, _, verb = path[len(f"{RUNTIME}/invocation/") :].partition("/")
            if verb not in {"response", "error"}:
                raise ApiError(404, "NotFound", path)
            status = "success" if verb == "response" else "error"
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type") if verb == "error" else None
            if verb == "error" and not error_type:  # the runtime client names the type in the body only
                error_type = _error_type(body)
            api.runtime_answer(request_id, status, body, self.headers.get("Content-Type"), error_type)
            self._reply(202, {"status": "OK"})

        def _registered(self, extension: Extension) -> None:
            answer: dict[str, Any] = {
                "functionName": FUNCTION_NAME,
                "functionVersion": "$LATEST",
                "handler": "app.handler",
            }
            if "accountId" in (self.headers.get("Lambda-Extension-Accept-Feature") or ""):
                answer["accountId"] = api.function_arn.split(":")[4]
            self._reply(200, answer, {"Lambda-Extension-Identifier": extension.identifier})

        def _next_event(self) -> None:
            identifier = self.headers.get("Lambda-Extension-Identifier")
            event = api.extension_next(identifier)
            if event is None:
                self.close_connection = True
                return
            headers = {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())}
            self._reply(200, event, headers)

        def _reply(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(document).encode(), headers or {})

        def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
            """Status line, headers and body in one write (with Nagle off, one segment when small)."""
            lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
            lines += [f"{key}: {value}" for key, value in headers.items()]
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}", "", ""]
            self.wfile.write("\r\n".join(lines).encode("latin-1") + payload)
            self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    return Handler
