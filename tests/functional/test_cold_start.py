"""A cold start imports only what the first answer needs: no AWS SDK, no HTTP client or TLS, no thread
pool before the first explained answer (each of them is 7-150 ms of import; benchmarks.compare)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.explained import Explained, explained  # noqa: F401 (fixture)
from tests.support.paths import ROOT

NOT_BEFORE_THE_FIRST_ANSWER = ("boto3", "botocore", "http.client", "ssl", "email", "concurrent.futures")
CODE = """
import json, sys
import app
response = app.handler(json.load(open("data.json")), None)
body = json.loads(response["body"])
sys.stderr.write(json.dumps({"status": response["statusCode"], "explained": "reasons" in body,
                             "loaded": sorted(m for m in MODULES if m in sys.modules)}))
"""


@pytest.mark.parametrize("capture", [None, "folder"])
def test_the_first_explained_answer_imports_no_aws_http_or_thread_pool(explained: Explained, tmp_path, capture):  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CAPTURE_"))}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]), MODEL_DIR=str(explained.bundle.path))
    if capture:
        env["CAPTURE_URI"] = str(tmp_path / "capture")
    code = CODE.replace("MODULES", repr(NOT_BEFORE_THE_FIRST_ANSWER))
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stderr) == {"status": 200, "explained": True, "loaded": []}
