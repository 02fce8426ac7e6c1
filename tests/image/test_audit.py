"""Each rule of the image audit fires on a bad example and spares what the image legitimately ships."""

from __future__ import annotations

import pytest

from tests.image import audit


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("var/task/.venv/bin/python", "virtual environment"),
        ("var/task/.git/HEAD", "git metadata"),
        ("var/task/.mlflow/mlflow.db", "local MLflow registry"),
        ("var/task/mlruns/0/meta.yaml", "local MLflow registry"),
        ("var/task/tests/test_app.py", "test suite"),
        ("var/task/numpy/_core/tests/test_umath.py", "test suite"),
        ("root/__pycache__/sitecustomize.cpython-312.pyc", "bytecode cache"),
        ("var/task/six.pyc", "bytecode cache"),
        ("var/task/credit_score/runtime/service.pyc", "bytecode cache"),
        ("var/task/bin/f2py", "console scripts"),
        ("var/task/credit_score/modelling/downloader.py", "build-time module"),
        ("var/task/credit_score/monitoring/report.py", "build-time module"),
        ("var/task/credit_score/devtools/serve.py", "build-time module"),
        ("var/task/model_downloader.py", "build-time file"),
        ("var/task/requirements-build.txt", "build-time file"),
        ("var/task/src/app.py", "build-time file"),
        ("root/.aws/credentials", "credentials file"),
        ("root/.netrc", "credentials file"),
        ("var/task/.env", "credentials file"),
        ("run/secrets/MLFLOW_TRACKING_PASSWORD", "build secret"),
        ("usr/local/share/ca-certificates/custom-ca.crt", "build machine's CA trust"),
        ("etc/ssl/certs/ca-certificates.crt", "build machine's CA trust"),
        ("var/task/capture/2026/01/01/part.jsonl", "capture or drift output"),
    ],
)
def test_given_forbidden_path_when_audited_then_its_rule_fires(path: str, rule: str) -> None:
    assert audit.path_findings([path]) == [f"{rule}: {path}"]


@pytest.mark.parametrize(
    "path",
    [
        "var/task/app.py",
        "var/task/credit_score/runtime/service.py",
        "var/task/numpy/testing/__init__.py",
        "var/task/botocore/cacert.pem",
        "var/task/model/model.onnx",
        "var/task/credit_score/runtime/__pycache__/service.cpython-312.pyc",  # compiled in the image
        "var/task/requirements.txt.bak/x",
    ],
)
def test_given_runtime_path_when_audited_then_not_flagged(path: str) -> None:
    assert audit.path_findings([path]) == []


def test_given_image_without_app_py_when_checked_then_app_py_reported_missing() -> None:
    present = [path for path in audit.REQUIRED_PATHS if not path.endswith("app.py")]
    assert audit.missing_paths(present) == ["var/task/app.py"]


def test_given_history_with_secret_build_arg_when_audited_then_flagged() -> None:
    history = [
        {"created_by": "RUN |2 MODEL_SOURCE=local MLFLOW_TRACKING_PASSWORD=hunter2 /bin/sh -c python3 -m pip"},
        {"created_by": "|1 MODEL_SOURCE=local /bin/sh -c true"},
    ]
    findings = audit.history_findings(history, ["hunter2"])
    assert len(findings) == 2
    assert findings[0].startswith("build arg MLFLOW_TRACKING_PASSWORD")
    assert findings[1].startswith("secret value in history")
    assert audit.history_findings(history[1:], ["hunter2"]) == []


def test_given_config_with_secret_env_or_value_when_audited_then_flagged() -> None:
    config = {"config": {"Env": ["DAGSHUB_USER_TOKEN=abc", "MODEL_DIR=/var/task/model"], "Labels": {"x": "hunter2"}}}
    assert audit.config_findings(config, ["hunter2"]) == [
        "environment variable DAGSHUB_USER_TOKEN looks like a secret",
        "secret value in the image config",
    ]
    assert audit.config_findings({"config": {"Env": ["MODEL_DIR=/var/task/model"]}}, ["hunter2"]) == []


def test_given_file_with_private_key_or_secret_when_read_then_flagged() -> None:
    key = b"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4d1cVq\n"
    assert audit.content_findings("so", b"\0-----BEGIN PRIVATE KEY-----\0") == []
    assert audit.content_findings("a", key) == ["private key: a"]
    assert audit.content_findings("b", b"uri=http://u:hunter2@host", [b"hunter2"]) == ["secret value in b"]
    assert audit.content_findings("c", b"-----BEGIN CERTIFICATE-----\n", [b"hunter2"]) == []
