"""The registry is checked before training fits: one actionable line for each way it can fail.

A real ``mlflow server`` behind a local proxy that answers 401, 403 or 404 (a server older than
aliases) stands in for a remote registry; a closed port for one that is down.
"""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import pytest

from credit_score.modelling import registry as registries
from credit_score.modelling.registry import MLFLOW_DEFAULTS, Registry, RegistryError, apply_client_defaults, check
from credit_score.modelling.training import cli
from tests.support.mlflow_server import (  # noqa: F401 - fixtures
    free_port,
    missing_endpoints,
    mlflow_server_fixture,
    proxy,
    registry_env_fixture,
    require_basic_auth,
)


def forbid(request: BaseHTTPRequestHandler) -> tuple[int, bytes] | None:
    """A gateway that knows the caller but grants nothing, with a plain-text body as proxies send."""
    return 403, b"Forbidden"


def remote(uri: str) -> Registry:
    return Registry(uri, None, "mlflow")


def test_given_defaults_when_applied_then_only_unset_variables_are_filled() -> None:
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7"}
    apply_client_defaults(env)
    assert env == {**MLFLOW_DEFAULTS, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7"}


def test_given_the_downloader_and_training_when_configured_then_one_home_for_the_limits() -> None:
    import model_downloader

    assert model_downloader.MLFLOW_DEFAULTS is registries.MLFLOW_DEFAULTS
    assert int(MLFLOW_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) <= 2


@pytest.mark.integration
def test_given_healthy_registry_without_the_model_when_checked_then_fine(registry_env, mlflow_server) -> None:
    check(remote(mlflow_server), "not-registered-yet")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param(require_basic_auth("ana", "secret"), r"refused the credentials \(HTTP 401\)", id="401"),
        pytest.param(forbid, r"denied access \(HTTP 403\); the account needs write access", id="403"),
        pytest.param(
            missing_endpoints("/registered-models/alias"), r"older than MLflow 2\.3 .*upgrade the server", id="old"
        ),
    ],
)
def test_given_refusing_registry_when_checked_then_one_actionable_line(
    registry_env, mlflow_server, rule: Callable, expected: str
) -> None:
    with proxy(mlflow_server, rule) as (uri, _), pytest.raises(RegistryError, match=expected) as refused:
        check(remote(uri), "credit-score-classifier")
    assert "\n" not in str(refused.value)
    assert "Forbidden" not in str(refused.value), "MLflow's text is never passed on"


@pytest.mark.integration
def test_given_unreachable_registry_when_checked_then_named_with_the_retry_settings(registry_env) -> None:
    registry_env.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError, match=f"cannot reach the MLflow registry at {closed}.*MAX_RETRIES"):
        check(remote(closed), "credit-score-classifier")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param(None, "cannot reach the MLflow registry", id="unreachable"),
        pytest.param(require_basic_auth("ana", "secret"), "HTTP 401", id="401"),
        pytest.param(forbid, "HTTP 403", id="403"),
        pytest.param(missing_endpoints("/registered-models/alias"), "older than MLflow 2.3", id="old"),
    ],
)
def test_given_failing_registry_when_training_then_exit_1_with_one_line_and_nothing_fitted(
    registry_env, mlflow_server, monkeypatch, capsys, rule, expected: str
) -> None:
    from credit_score.modelling.training import data, train

    def never(*args, **kwargs):
        raise AssertionError("the registry must be checked before any data is read or fitted")

    monkeypatch.setattr(train, "train", never)
    monkeypatch.setattr(data, "read_raw_csv", never)
    registry_env.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    if rule is None:
        code = cli.main(["train", "--synthetic", "100", "--tracking-uri", f"http://127.0.0.1:{free_port()}"])
    else:
        with proxy(mlflow_server, rule) as (uri, _):
            code = cli.main(["train", "--synthetic", "100", "--tracking-uri", uri])
    captured = capsys.readouterr()
    assert code == 1
    [line] = captured.err.splitlines()
    assert line.startswith("registry error: ")
    assert expected in line
