"""moto's server mode on 127.0.0.1 (real HTTP) and an environment that points boto3 at it, never at AWS.

Import ``moto_endpoint_fixture`` (fixture ``moto_endpoint``: one server per test module) and
``aws_fixture`` (fixture ``aws``: that environment for one test) into a test module or conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer


def fake_aws_environment(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Fake credentials, a region and ``endpoint`` for every AWS client; no profile or metadata service."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module", name="moto_endpoint")
def moto_endpoint_fixture() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(name="aws")
def aws_fixture(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> str:
    fake_aws_environment(monkeypatch, moto_endpoint)
    return moto_endpoint
