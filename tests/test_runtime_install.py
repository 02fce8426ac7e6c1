"""requirements.txt alone is enough to serve: the Lambda image installs nothing else.

The run-time requirements are installed into an empty folder (``pip install --target``, as the
Dockerfile does), the run-time code is copied as the Dockerfile copies it (``app.py``,
``contract/``, ``runtime/``: no ``build/``, ``monitoring/`` or ``devtools/``), then a child
interpreter started with ``-I -S`` (no site-packages, no PYTHON* variables) and
``sys.path = [target, task root]`` imports ``app`` and serves data.json from a real bundle. A
run-time import of anything only the build has (scikit-learn, pandas, mlflow, our modelling house...)
fails there. The install is cached under ~/.cache keyed by the requirements' sha256 and the interpreter.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from tests.support.bundles import build_tiny_bundle
from tests.test_dockerfile import RUNTIME_SOURCES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements.txt"
BUILD_ONLY_MODULES = (
    *("sklearn", "pandas", "mlflow", "skl2onnx", "onnx", "scipy", "dagshub", "pytest"),
    *("credit_score.modelling", "credit_score.monitoring", "credit_score.devtools"),
)

CHILD = r"""
import importlib.util, json, sys
target, task_root, event_path, result_path = sys.argv[1:5]
sys.path[:0] = [target, task_root]

import app

class Context:
    aws_request_id = "runtime-install-test"
    function_name = "credit-score"

event = json.load(open(event_path, encoding="utf-8"))
health = {"version": "2.0", "rawPath": "/health", "requestContext": {"http": {"method": "GET", "path": "/health"}}}
result = {
    "predict": app.handler(event, Context()),
    "health": app.handler(health, Context()),
    "site_disabled": "site" not in sys.modules,
    "numpy_file": getattr(sys.modules.get("numpy"), "__file__", None),
    "onnxruntime_file": getattr(sys.modules.get("onnxruntime"), "__file__", None),
    "build_only_found": [name for name in sys.argv[5:] if importlib.util.find_spec(name) is not None],
    "app_file": app.__file__,
}
json.dump(result, open(result_path, "w", encoding="utf-8"))
"""


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "credit-score" / "runtime-install"


@pytest.fixture(scope="module")
def runtime_target() -> Path:
    """requirements.txt installed into a folder of its own, reused while the requirements do not change."""
    key = hashlib.sha256(REQUIREMENTS.read_bytes())
    key.update(f"{sys.implementation.cache_tag}-{sysconfig.get_platform()}".encode())
    target = _cache_root() / key.hexdigest()[:16]
    if (target / ".complete").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".install-", dir=target.parent))
    try:
        command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
        command += ["--target", str(staging), "-r", str(REQUIREMENTS)]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        assert completed.returncode == 0, completed.stderr[-3000:]
        (staging / ".complete").write_text(REQUIREMENTS.read_text(encoding="utf-8"), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@pytest.fixture(scope="module")
def served(runtime_target: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What the isolated child answered for data.json and GET /health."""
    workdir = tmp_path_factory.mktemp("runtime-install")
    task_root = workdir / "task"
    for source in sorted(RUNTIME_SOURCES):  # as the Dockerfile's COPY lines lay them out
        relative = Path(source).relative_to("src") if source.startswith("src/") else Path(source)
        if source.endswith("/"):
            shutil.copytree(ROOT / source, task_root / relative, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (task_root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / source, task_root / relative)
    bundle = build_tiny_bundle(workdir / "model", version="7")
    result_path = workdir / "result.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CAPTURE_", "MODEL_"))}
    env.update({"MODEL_DIR": str(bundle.path), "METRICS_ENABLED": "false", "LOG_LEVEL": "ERROR"})
    command = [sys.executable, "-I", "-S", "-c", CHILD, str(runtime_target), str(task_root)]
    command += [str(ROOT / "data.json"), str(result_path), *BUILD_ONLY_MODULES]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(result_path.read_text(encoding="utf-8"))


def test_given_runtime_install_only_when_serving_data_json_then_200_with_prediction_of_version_7(served: dict) -> None:
    response = served["predict"]
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    assert body["prediction"] in {0, 1, 2}
    assert body["version"] == "7"


def test_given_runtime_install_only_when_health_requested_then_model_version_reported(served: dict) -> None:
    response = served["health"]
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["version"] == "7"


def test_given_isolated_child_when_serving_then_only_the_runtime_install_was_importable(
    served: dict, runtime_target: Path
) -> None:
    assert served["site_disabled"]
    for module in ("numpy_file", "onnxruntime_file"):
        assert served[module] is not None, f"{module}: not imported while serving"
        assert Path(served[module]).is_relative_to(runtime_target)
    assert served["build_only_found"] == []
    assert "/task/" in served["app_file"]  # the copied task root, not the checkout
