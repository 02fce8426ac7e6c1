"""What the Lambda image's own layers and metadata must never hold, as rules on paths and text.

Pure functions, so each rule is tested on a bad example without an engine (``test_audit.py``);
``test_image.py`` applies them to the layers ``docker save`` wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

TASK_ROOT = "var/task"
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|KEY|CREDENTIAL|USERNAME", re.IGNORECASE)

# (rule, pattern on a layer path without leading "/")
PATH_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("virtual environment", re.compile(r"(^|/)\.venv(/|$)")),
    ("git metadata", re.compile(r"(^|/)\.git(/|$)")),
    ("local MLflow registry", re.compile(r"(^|/)(\.mlflow|mlruns)(/|$)")),
    ("test suite", re.compile(rf"^{TASK_ROOT}/(.+/)?tests?(/|$)")),
    # The image compiles its task root once (Dockerfile: compileall), so __pycache__/*.pyc there is ours;
    # a .pyc beside its source, or a cache anywhere else, came from a build machine.
    ("bytecode cache", re.compile(rf"^(?!{TASK_ROOT}/).*__pycache__(/|$)|(^|/)(?!__pycache__/)[^/]+/[^/]+\.py[co]$")),
    ("console scripts", re.compile(rf"^{TASK_ROOT}/bin(/|$)")),
    ("build-time module", re.compile(rf"^{TASK_ROOT}/credit_score/(modelling|monitoring|devtools)(/|$)")),
    (
        "build-time file",
        re.compile(rf"^{TASK_ROOT}/(model_downloader\.py|test\.py|requirements(-\w+)?\.txt|Dockerfile|src)(/|$)"),
    ),
    ("credentials file", re.compile(r"(^|/)(\.aws/credentials|\.netrc|\.pypirc|\.git-credentials|\.env)$")),
    ("build secret", re.compile(r"^run/secrets(/|$)")),
    ("build machine's CA trust", re.compile(r"^(usr/local/share/ca-certificates|etc/ssl)(/|$)")),
    ("capture or drift output", re.compile(rf"^{TASK_ROOT}/(capture|drift-report)(/|$)")),
)

# What a working image must hold (its own layers).
REQUIRED_PATHS = (
    f"{TASK_ROOT}/app.py",
    f"{TASK_ROOT}/credit_score/__init__.py",
    f"{TASK_ROOT}/credit_score/contract/bundle.py",
    f"{TASK_ROOT}/credit_score/runtime/service.py",
    f"{TASK_ROOT}/model/model.onnx",
    f"{TASK_ROOT}/model/metadata.json",
)

# The armour line and base64 after it: a binary that merely parses PEM (OpenSSL in onnxruntime) holds the line alone.
PRIVATE_KEY = re.compile(rb"-----BEGIN (RSA |EC |OPENSSH |ENCRYPTED )?PRIVATE KEY-----\r?\n[A-Za-z0-9+/=]{16,}")
BUILD_ARG = re.compile(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=")


def path_findings(paths: Iterable[str]) -> list[str]:
    """One line per path a rule forbids, ``rule: path``."""
    findings = []
    for path in paths:
        for rule, pattern in PATH_RULES:
            if pattern.search(path):
                findings.append(f"{rule}: {path}")
                break
    return findings


def missing_paths(paths: Iterable[str]) -> list[str]:
    present = set(paths)
    return [path for path in REQUIRED_PATHS if path not in present]


def history_findings(history: Iterable[dict[str, Any]], secrets: Iterable[str] = ()) -> list[str]:
    """Build args with secret-looking names recorded in a ``created_by`` entry, or secret values anywhere in it."""
    values = [value for value in secrets if value]
    findings = []
    for entry in history:
        created_by = entry.get("created_by", "")
        arguments = re.search(r"\|\d+ (.*?) (/bin/sh -c|\[)", created_by)  # "RUN |2 A=1 B=2 /bin/sh -c …"
        for name in BUILD_ARG.findall(arguments.group(1)) if arguments else ():
            if SECRET_NAME.search(name):
                findings.append(f"build arg {name} recorded in history: {created_by[:80]}")
        findings += [f"secret value in history: {created_by[:40]}" for value in values if value in created_by]
    return findings


def config_findings(config: dict[str, Any], secrets: Iterable[str] = ()) -> list[str]:
    """Environment variables with secret-looking names, and secret values anywhere in the image config."""
    image_config = config.get("config") or {}
    findings = [
        f"environment variable {entry.partition('=')[0]} looks like a secret"
        for entry in image_config.get("Env") or []
        if SECRET_NAME.search(entry.partition("=")[0])
    ]
    text = repr(config)
    findings += ["secret value in the image config" for value in secrets if value and value in text]
    return findings


def content_findings(name: str, data: bytes, secrets: Iterable[bytes] = ()) -> list[str]:
    findings = [f"private key: {name}"] if PRIVATE_KEY.search(data) else []
    findings += [f"secret value in {name}" for value in secrets if value and value in data]
    return findings
