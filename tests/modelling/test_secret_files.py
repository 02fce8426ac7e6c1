"""Build secrets as files: the downloader reads ``/run/secrets/<NAME>`` when the variable is unset."""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_score.modelling import download_cli
from credit_score.modelling.download_cli import SECRET_NAMES, read_secret_files
from tests.support.mlflow_server import free_port, registry_env_fixture  # noqa: F401 - fixture registry_env

PASSWORD = "file-secret-0d8f2c"


def test_given_secret_files_and_no_variables_when_read_then_each_fills_its_variable_without_newline(
    tmp_path: Path,
) -> None:
    for name in SECRET_NAMES:
        (tmp_path / name).write_text(f"value-of-{name}\n")
    environ: dict[str, str] = {}
    assert read_secret_files(environ, tmp_path) == list(SECRET_NAMES)
    assert environ == {name: f"value-of-{name}" for name in SECRET_NAMES}


def test_given_variable_already_set_when_read_then_environment_wins(tmp_path: Path) -> None:
    (tmp_path / "MLFLOW_TRACKING_PASSWORD").write_text("from-file")
    environ = {"MLFLOW_TRACKING_PASSWORD": "from-env"}
    assert read_secret_files(environ, tmp_path) == []
    assert environ == {"MLFLOW_TRACKING_PASSWORD": "from-env"}


@pytest.mark.parametrize("content", ["", "\n", "  \n"], ids=["empty", "newline", "blank"])
def test_given_empty_secret_file_when_read_then_variable_stays_unset(tmp_path: Path, content: str) -> None:
    (tmp_path / "DAGSHUB_USER_TOKEN").write_text(content)
    environ: dict[str, str] = {}
    assert read_secret_files(environ, tmp_path) == []
    assert environ == {}


def test_given_no_secrets_folder_or_other_files_when_read_then_nothing_filled(tmp_path: Path) -> None:
    (tmp_path / "AWS_SECRET_ACCESS_KEY").write_text("not ours")
    (tmp_path / "MLFLOW_TRACKING_URI").mkdir()  # unreadable as a file
    environ: dict[str, str] = {}
    assert read_secret_files(environ, tmp_path / "missing") == []
    assert read_secret_files(environ, tmp_path) == []
    assert environ == {}


@pytest.mark.integration
def test_given_registry_in_secret_files_when_downloading_then_it_is_used_and_password_never_printed(
    registry_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    closed = f"http://127.0.0.1:{free_port()}"
    (secrets / "MLFLOW_TRACKING_URI").write_text(closed + "\n")
    (secrets / "MLFLOW_TRACKING_USERNAME").write_text("builder\n")
    (secrets / "MLFLOW_TRACKING_PASSWORD").write_text(PASSWORD + "\n")
    registry_env.setattr(download_cli, "SECRETS_DIR", secrets)
    registry_env.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    registry_env.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    assert download_cli.main(["--output", str(tmp_path / "model")]) == download_cli.EXIT_FAILURE
    captured = capsys.readouterr()
    assert "cannot reach the MLflow registry" in captured.err  # the URI came from the file
    assert PASSWORD not in captured.out + captured.err
