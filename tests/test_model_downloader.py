"""The build-time CLI: exit codes, one-line messages, selection from env and flags, no secret in any output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import model_downloader
from credit_score.contract.bundle import load_bundle
from credit_score.modelling import conversion
from credit_score.modelling.registry import local_registry
from tests.support.mlflow_server import (  # noqa: F401 - fixtures mlflow_server, registry_env
    NO_TELEMETRY,
    REGISTRY_ENV,
    free_port,
    mlflow_server_fixture,
    proxy,
    registry_env_fixture,
    require_basic_auth,
)
from tests.support.registry_models import RegisteredVersion, register_model, train_cascade

REPO_ROOT = Path(__file__).resolve().parents[1]
NAME = "cli-test-model"
PASSWORD = "s3cr3t-Pa55"
SUCCESS_LINE = re.compile(
    r"^(?P<output>\S+)/ ← (?P<name>\S+) v(?P<version>\d+) \((?P<how>[^)]+)\) from (?P<uri>\S+): "
    r"parity (?P<rows>\d+) rows, max \|Δp\| (?P<diff>\S+)$"
)


@pytest.fixture(scope="module")
def versions(mlflow_server: str) -> list[RegisteredVersion]:
    """v1 holds the champion alias; v2, newer, holds none."""
    return [register_model(mlflow_server, NAME, seed=0), register_model(mlflow_server, NAME, alias=None, seed=1)]


def _run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key not in REGISTRY_ENV}
    base |= NO_TELEMETRY | {"PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}"}
    command = [sys.executable, str(REPO_ROOT / "model_downloader.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, env=base | env, cwd=REPO_ROOT, timeout=120)


def _one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("model_downloader.py: error: ")
    return lines[0]


@pytest.mark.integration
def test_given_password_in_tracking_uri_when_running_the_script_then_bundle_written_and_password_never_printed(
    mlflow_server, versions, tmp_path
) -> None:
    with proxy(mlflow_server, require_basic_auth("builder", PASSWORD)) as (uri, _):
        secured = uri.replace("http://", f"http://builder:{PASSWORD}@")
        done = _run_cli("--output", str(tmp_path / "model"), env={"MLFLOW_TRACKING_URI": secured, "MODEL_NAME": NAME})

    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert done.stderr == ""
    line = SUCCESS_LINE.match(done.stdout.strip())
    assert line, done.stdout
    assert line.group("output", "name", "version", "how", "uri") == (
        str(tmp_path / "model"),
        NAME,
        "1",
        "alias champion",
        uri,
    )
    assert int(line.group("rows")) == load_bundle(tmp_path / "model").metadata["parity"]["rows"]
    assert PASSWORD not in (tmp_path / "model" / "metadata.json").read_text(encoding="utf-8")


@pytest.mark.integration
def test_given_wrong_password_in_env_when_running_the_script_then_exit_2_one_line_without_password(
    mlflow_server, versions, tmp_path
) -> None:
    with proxy(mlflow_server, require_basic_auth("builder", PASSWORD)) as (uri, _):
        env = {
            "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_TRACKING_USERNAME": "builder",
            "MLFLOW_TRACKING_PASSWORD": "wr0ng-Pa55",
        }
        done = _run_cli("--model-name", NAME, "--output", str(tmp_path / "model"), env=env)

    assert done.returncode == 2
    assert done.stdout == ""
    assert "HTTP 401" in _one_error_line(done.stderr)
    assert "wr0ng-Pa55" not in done.stderr
    assert not (tmp_path / "model").exists()


def _main(*args: str) -> int:
    return model_downloader.main(list(args))


@pytest.mark.integration
def test_given_env_selection_when_running_then_flags_win_over_env(
    registry_env, mlflow_server, versions, tmp_path, capsys
) -> None:
    registry_env.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    registry_env.setenv("MODEL_NAME", NAME)
    registry_env.setenv("MODEL_VERSION", "latest")
    assert _main("--output", str(tmp_path / "latest")) == 0
    assert load_bundle(tmp_path / "latest").version == "2"

    assert _main("--output", str(tmp_path / "pinned"), "--version", "1") == 0
    assert load_bundle(tmp_path / "pinned").version == "1"

    registry_env.setenv("MODEL_VERSION", "1")
    assert _main("--output", str(tmp_path / "latest-flag"), "--version", "latest") == 0
    assert load_bundle(tmp_path / "latest-flag").version == "2"
    lines = capsys.readouterr().out.splitlines()
    assert [SUCCESS_LINE.match(line).group("how") for line in lines] == ["latest", "pinned", "latest"]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--alias", "ghost"), "has no alias 'ghost'"),
        (("--version", "42"), "has no version 42"),
        (("--model-name", "never-registered"), "registered model 'never-registered' not found"),
    ],
)
def test_given_unknown_selection_when_running_then_exit_2_with_one_line(
    registry_env, mlflow_server, versions, tmp_path, capsys, args: tuple[str, ...], message: str
) -> None:
    code = _main("--tracking-uri", mlflow_server, "--model-name", NAME, *args, "--output", str(tmp_path / "m"))
    captured = capsys.readouterr()
    assert code == 2
    assert message in _one_error_line(captured.err)
    assert captured.out == ""


@pytest.mark.integration
def test_given_unreachable_registry_when_running_then_exit_2_with_one_line(registry_env, tmp_path, capsys) -> None:
    registry_env.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    registry_env.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    closed = f"http://127.0.0.1:{free_port()}"
    assert _main("--tracking-uri", closed, "--output", str(tmp_path / "m")) == 2
    assert "cannot reach the MLflow registry" in _one_error_line(capsys.readouterr().err)


@pytest.mark.integration
def test_given_disagreeing_onnx_when_running_then_exit_2_and_previous_bundle_kept(
    registry_env, mlflow_server, versions, tmp_path, capsys, monkeypatch
) -> None:
    target = str(tmp_path / "model")
    assert _main("--tracking-uri", mlflow_server, "--model-name", NAME, "--version", "1", "--output", target) == 0
    impostor = conversion.to_onnx(train_cascade(seed=42))
    monkeypatch.setattr(conversion, "to_onnx", lambda cascade: impostor)
    capsys.readouterr()

    code = _main("--tracking-uri", mlflow_server, "--model-name", NAME, "--version", "2", "--output", target)

    assert code == 2
    assert "label mismatches" in _one_error_line(capsys.readouterr().err)
    assert load_bundle(target).version == "1"


@pytest.mark.parametrize(
    "args",
    [
        ("--alias", "champion", "--latest"),
        ("--version", "1", "--alias", "champion"),
        ("--version", "zero"),
        ("--parity-rows", "10"),
    ],
)
def test_given_invalid_flags_when_running_then_exit_2_with_one_line(args: tuple[str, ...], capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        _main(*args)
    assert exited.value.code == 2
    _one_error_line(capsys.readouterr().err)


def test_given_env_alias_and_version_when_running_then_exit_2_with_one_line(registry_env, capsys) -> None:
    registry_env.setenv("MODEL_ALIAS", "champion")
    registry_env.setenv("MODEL_VERSION", "3")
    assert _main() == 2
    assert "only one of MODEL_ALIAS and MODEL_VERSION" in _one_error_line(capsys.readouterr().err)


def test_given_empty_local_registry_when_running_then_exit_2_pointing_at_make_demo(
    registry_env, tmp_path, capsys
) -> None:
    assert _main("--output", str(tmp_path / "m")) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "registered model 'credit-score-classifier' not found" in line
    assert "make demo" in line


@pytest.mark.integration
def test_given_model_in_local_registry_when_running_without_settings_then_bundle_written_quietly(
    registry_env, tmp_path, capfd
) -> None:
    """The ``make demo`` path: sqlite registry, file artifacts, default name and alias."""
    local = local_registry()  # LOCAL_REGISTRY_DIR comes from registry_env
    register_model(local.tracking_uri, "credit-score-classifier", artifact_location=local.artifact_location)
    capfd.readouterr()

    assert _main("--output", str(tmp_path / "model")) == 0

    captured = capfd.readouterr()
    assert captured.err == ""
    assert SUCCESS_LINE.match(captured.out.strip()).group("how") == "alias champion"
    assert load_bundle(tmp_path / "model").metadata["model"]["registry"] == local.tracking_uri
