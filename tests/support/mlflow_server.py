"""A real ``mlflow server`` on 127.0.0.1 for integration tests, and a proxy that can impersonate older servers.

Import ``mlflow_server_fixture`` (the fixture named ``mlflow_server``) into a test module, or list
this module in a conftest's ``pytest_plugins``; ``registry_env_fixture`` likewise provides ``registry_env``.
However many modules import it, one server runs per test session: the fixture is reference
counted, so the process starts once and stops after the last user tears down. Tests share the
server, so each should register models under its own name.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

STARTUP_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 5.0  # then SIGKILL: uvicorn waits for idle keep-alive clients

# The server must not inherit the test process's registry settings, nor call home (MLflow 3 telemetry).
_SCRUBBED_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
# Everything connect() or the downloader reads or writes; cleared around each test that uses them.
REGISTRY_ENV = (
    *_SCRUBBED_ENV,
    "DAGSHUB_REPO",
    "DAGSHUB_USER_TOKEN",
    "DAGSHUB_CLIENT_HOST",
    "MODEL_NAME",
    "MODEL_ALIAS",
    "MODEL_VERSION",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:  # noqa: S310 - loopback http only
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and its workers (they share its process group)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT_SECONDS)


@contextmanager
def running_mlflow_server(root: Path) -> Iterator[str]:
    """Run ``mlflow server`` with a sqlite store and proxied artifacts under ``root``; yield its URI."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED_ENV} | NO_TELEMETRY
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not _healthy(uri):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"mlflow server did not become healthy on {uri}:\n{tail}")
            time.sleep(0.2)
        yield uri
    finally:
        _stop(process)


class _SharedServer:
    """One server per session, however many modules hold the fixture."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._context: AbstractContextManager[str] | None = None
        self.uri = ""

    def acquire(self, make_root: Callable[[], Path]) -> str:
        with self._lock:
            if self._users == 0:
                context = running_mlflow_server(make_root())
                self.uri = context.__enter__()
                self._context = context
            self._users += 1
            return self.uri

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._context is not None:
                context, self._context = self._context, None
                context.__exit__(None, None, None)


_SHARED = _SharedServer()


@pytest.fixture(scope="session", name="mlflow_server")
def mlflow_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of a real MLflow tracking + registry server with artifact proxying, on a free loopback port."""
    uri = _SHARED.acquire(lambda: tmp_path_factory.mktemp("mlflow-server"))
    try:
        with pytest.MonkeyPatch.context() as patch:  # clients in this process must not call home either
            for name, value in NO_TELEMETRY.items():
                patch.setenv(name, value)
            yield uri
    finally:
        _SHARED.release()


@pytest.fixture(name="registry_env")
def registry_env_fixture(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """No registry settings leak in or out of a test; MLflow's process-wide URIs are reset after it."""
    import mlflow

    for name in REGISTRY_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in NO_TELEMETRY.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOCAL_REGISTRY_DIR", str(tmp_path / "local-registry"))
    yield monkeypatch
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


Rule = Callable[[BaseHTTPRequestHandler], tuple[int, bytes] | None]


def require_basic_auth(username: str, password: str) -> Rule:
    """Answer 401 unless the request carries exactly these basic-auth credentials."""
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    def rule(request: BaseHTTPRequestHandler) -> tuple[int, bytes] | None:
        if request.headers.get("Authorization") != expected:
            return 401, b'{"error_code": "UNAUTHENTICATED", "message": "credentials required"}'
        return None

    return rule


def missing_endpoints(*path_fragments: str) -> Rule:
    """Answer 404 with a plain-text body, as a server predating these endpoints does."""

    def rule(request: BaseHTTPRequestHandler) -> tuple[int, bytes] | None:
        if any(fragment in request.path for fragment in path_fragments):
            return 404, b"Not Found"
        return None

    return rule


@contextmanager
def proxy(upstream: str, *rules: Rule) -> Iterator[tuple[str, list[str]]]:
    """Forward HTTP to ``upstream`` unless a rule answers first; yield the proxy URI and the paths it saw."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            seen.append(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            for rule in rules:
                answer = rule(self)
                if answer is not None:
                    self._reply(*answer, content_type="application/json")
                    return
            headers = {
                key: value
                for key, value in self.headers.items()
                if key.lower() not in ("host", "authorization", "connection")
            }
            request = urllib.request.Request(upstream + self.path, data=body or None, method=self.command)  # noqa: S310
            for key, value in headers.items():
                request.add_header(key, value)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback http only
                    self._reply(response.status, response.read(), response.headers.get("Content-Type", ""))
            except urllib.error.HTTPError as error:
                self._reply(error.code, error.read(), error.headers.get("Content-Type", ""))

        def _reply(self, status: int, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
