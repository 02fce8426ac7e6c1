"""Registry resolution from the environment, URI redaction, and connect() for MLflow and DagsHub.

DagsHub is never contacted: a fake DagsHub API on 127.0.0.1 (reached through the dagshub package's
own ``DAGSHUB_CLIENT_HOST`` setting) answers the token check, and fakes stand in for the OAuth flow
and the web browser so a test fails if either is ever used.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlflow
import pytest

from credit_score.modelling.registry import Registry, RegistryError, connect, redact, resolve
from tests.support.mlflow_server import free_port, registry_env_fixture  # noqa: F401 - provides registry_env
from tests.support.paths import ROOT

REPO_ROOT = ROOT

# --- redact ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://ana:s3cret@mlflow.example.com/", "https://mlflow.example.com/"),
        ("https://ana:s3cret@mlflow.example.com:8443/path?x=1", "https://mlflow.example.com:8443/path?x=1"),
        ("https://token-only@dagshub.com/o/r.mlflow", "https://dagshub.com/o/r.mlflow"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("sqlite:////tmp/registry/mlflow.db", "sqlite:////tmp/registry/mlflow.db"),
        ("mlflow-artifacts:/1/abc/artifacts/model", "mlflow-artifacts:/1/abc/artifacts/model"),
    ],
)
def test_given_uri_when_redacting_then_userinfo_is_gone_and_the_rest_kept(uri: str, expected: str) -> None:
    assert redact(uri) == expected


def test_given_registry_with_credentials_when_displayed_then_password_absent() -> None:
    shown = Registry("https://ana:p%40ss@mlflow.example.com", None, "mlflow").display_uri
    assert "p%40ss" not in shown
    assert "ana" not in shown


# --- resolve --------------------------------------------------------------------------------


def test_given_explicit_uri_when_resolving_then_it_wins_over_every_env_setting() -> None:
    env = {"MLFLOW_TRACKING_URI": "http://env:5000", "DAGSHUB_REPO": "o/r", "DAGSHUB_USER_TOKEN": "t"}
    assert resolve("http://flag:5000", env) == Registry("http://flag:5000", None, "mlflow")


def test_given_tracking_uri_and_dagshub_env_when_resolving_then_tracking_uri_wins() -> None:
    env = {"MLFLOW_TRACKING_URI": "http://env:5000", "DAGSHUB_REPO": "o/r", "DAGSHUB_USER_TOKEN": "t"}
    assert resolve(None, env).kind == "mlflow"
    assert resolve(None, env).tracking_uri == "http://env:5000"


def test_given_dagshub_repo_and_token_when_resolving_then_dagshub_mlflow_endpoint() -> None:
    resolved = resolve(None, {"DAGSHUB_REPO": "ana/credit", "DAGSHUB_USER_TOKEN": "t"})
    assert resolved == Registry("https://dagshub.com/ana/credit.mlflow", None, "dagshub")


def test_given_self_hosted_dagshub_when_resolving_then_its_host_is_used() -> None:
    env = {"DAGSHUB_REPO": "ana/credit", "DAGSHUB_USER_TOKEN": "t", "DAGSHUB_CLIENT_HOST": "https://dh.example.org/"}
    assert resolve(None, env).tracking_uri == "https://dh.example.org/ana/credit.mlflow"


@pytest.mark.parametrize("repo", ["ana", "ana/", "/credit", "ana/credit/extra"])
def test_given_malformed_dagshub_repo_when_resolving_then_refused(repo: str) -> None:
    with pytest.raises(RegistryError, match="owner/name"):
        resolve(None, {"DAGSHUB_REPO": repo, "DAGSHUB_USER_TOKEN": "t"})


def test_given_dagshub_repo_without_token_when_resolving_then_refused_naming_the_variable() -> None:
    with pytest.raises(RegistryError, match="DAGSHUB_USER_TOKEN"):
        resolve(None, {"DAGSHUB_REPO": "ana/credit"})


def test_given_no_settings_when_resolving_then_local_sqlite_registry_in_local_dir(tmp_path: Path) -> None:
    resolved = resolve(None, {"LOCAL_REGISTRY_DIR": str(tmp_path / "reg")})
    assert resolved.kind == "local"
    assert resolved.tracking_uri == f"sqlite:///{tmp_path / 'reg' / 'mlflow.db'}"
    assert resolved.artifact_location == (tmp_path / "reg" / "artifacts").as_uri()


# --- connect --------------------------------------------------------------------------------


def test_given_no_settings_when_connecting_then_mlflow_tracks_and_registers_locally(registry_env, tmp_path) -> None:
    connected = connect()
    expected = f"sqlite:///{tmp_path / 'local-registry' / 'mlflow.db'}"
    assert connected.kind == "local"
    assert mlflow.get_tracking_uri() == expected
    assert mlflow.get_registry_uri() == expected


def test_given_credentials_in_uri_when_connecting_then_moved_to_mlflow_env_and_uri_redacted(registry_env) -> None:
    connected = connect("https://ana:p%40ss%3Aword@mlflow.example.com:8443/")
    assert connected.tracking_uri == "https://mlflow.example.com:8443/"
    assert mlflow.get_tracking_uri() == "https://mlflow.example.com:8443/"
    assert mlflow.get_registry_uri() == "https://mlflow.example.com:8443/"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "ana"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "p@ss:word"


def test_given_env_credentials_and_plain_uri_when_connecting_then_env_credentials_kept(registry_env) -> None:
    registry_env.setenv("MLFLOW_TRACKING_USERNAME", "ana")
    registry_env.setenv("MLFLOW_TRACKING_PASSWORD", "from-env")
    connect("https://mlflow.example.com")
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "from-env"


class _FakeDagsHub:
    """The one DagsHub endpoint the token check uses, answering per token; records every request."""

    def __init__(self, valid_tokens: dict[str, str]) -> None:
        self.requests: list[tuple[str, str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                authorization = self.headers.get("Authorization")
                fake.requests.append((self.path, authorization))
                user = next((u for t, u in valid_tokens.items() if authorization == f"Bearer {t}"), None)
                if self.path == "/api/v1/user" and user:
                    body = {"id": 7, "login": user, "username": user, "full_name": "", "avatar_url": None}
                    body |= {"public_email": None, "website": None, "company": None, "description": None}
                    self._send(200, json.dumps(body).encode())
                else:
                    self._send(401, b'{"message": "token is invalid"}')

            do_POST = do_GET

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def fake_dagshub() -> Iterator[_FakeDagsHub]:
    fake = _FakeDagsHub({"app-token-valid": "ana"})
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    thread.join()


@pytest.fixture
def no_interactive_login(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fakes for the OAuth flow and the browser that record any use (and then fail loudly)."""
    import webbrowser

    import dagshub.auth.oauth
    import dagshub.auth.tokens

    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append("interactive login")
        raise AssertionError("an interactive login was attempted")

    monkeypatch.setattr(dagshub.auth.oauth, "oauth_flow", refuse)
    monkeypatch.setattr(dagshub.auth.tokens.oauth, "oauth_flow", refuse)
    monkeypatch.setattr(webbrowser, "open", refuse)
    return attempts


def _dagshub_env(env: pytest.MonkeyPatch, host: str, token: str) -> None:
    env.setenv("DAGSHUB_REPO", "ana/credit")
    env.setenv("DAGSHUB_USER_TOKEN", token)
    env.setenv("DAGSHUB_CLIENT_HOST", host)


def test_given_dagshub_token_when_connecting_then_mlflow_uses_repo_endpoint_with_token_credentials(
    registry_env, fake_dagshub, no_interactive_login
) -> None:
    _dagshub_env(registry_env, fake_dagshub.host, "app-token-valid")
    connected = connect()
    assert connected == Registry(f"{fake_dagshub.host}/ana/credit.mlflow", None, "dagshub")
    assert mlflow.get_tracking_uri() == f"{fake_dagshub.host}/ana/credit.mlflow"
    assert mlflow.get_registry_uri() == f"{fake_dagshub.host}/ana/credit.mlflow"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "ana"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "app-token-valid"
    assert fake_dagshub.requests == [("/api/v1/user", "Bearer app-token-valid")]
    assert no_interactive_login == []


def test_given_rejected_dagshub_token_when_connecting_then_actionable_error_without_the_token(
    registry_env, fake_dagshub, no_interactive_login
) -> None:
    _dagshub_env(registry_env, fake_dagshub.host, "app-token-revoked")
    with pytest.raises(RegistryError) as refused:
        connect()
    assert "DAGSHUB_USER_TOKEN" in str(refused.value)
    assert "HTTP 401" in str(refused.value)
    assert "app-token-revoked" not in str(refused.value)
    assert [path for path, _ in fake_dagshub.requests] == ["/api/v1/user"]
    assert no_interactive_login == []


def test_given_unreachable_dagshub_when_connecting_then_network_error_names_the_host(
    registry_env, no_interactive_login
) -> None:
    host = f"http://127.0.0.1:{free_port()}"
    _dagshub_env(registry_env, host, "app-token-unreachable")
    with pytest.raises(RegistryError, match="cannot reach DagsHub") as refused:
        connect()
    assert host in str(refused.value)
    assert "app-token-unreachable" not in str(refused.value)
    assert no_interactive_login == []


def test_given_dagshub_env_when_importing_and_resolving_then_no_network_call() -> None:
    """The dagshub package and resolve() stay off the network until connect() checks the token."""
    script = (
        "import socket\n"
        "def refuse(*a, **k): raise SystemExit('network call attempted')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "import dagshub, dagshub.auth, dagshub.common.api\n"
        "from credit_score.modelling.registry import resolve\n"
        "print(resolve().kind)\n"
    )
    env = {"PYTHONPATH": str(REPO_ROOT / "src"), "DAGSHUB_REPO": "ana/credit", "DAGSHUB_USER_TOKEN": "t"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "dagshub"
