"""``python test.py FILE`` as the README shows it: the seed payload answers 200, the bad one 422."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.bundles import tiny_bundle  # noqa: F401 - fixture
from tests.support.paths import ROOT

BAD = ROOT / "tests" / "payloads" / "bad.json"


def run_test_py(payload: Path, bundle: Path, capture: Path) -> tuple[int, dict]:
    env = {**os.environ, "MODEL_DIR": str(bundle), "CAPTURE_URI": str(capture), "METRICS_ENABLED": "false"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "test.py"), str(payload)], env=env, capture_output=True, text=True, check=False
    )
    envelope = json.loads(result.stdout[result.stdout.index("\n{\n") + 1 :])
    return result.returncode, envelope


def test_the_readme_bad_payload_lists_its_three_problems(tiny_bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    code, envelope = run_test_py(BAD, tiny_bundle, tmp_path / "capture")
    assert code == 1
    assert envelope["statusCode"] == 422
    problems = {(d["field"], d["problem"]) for d in envelope["body"]["details"]}
    assert problems == {("Age", "out_of_domain"), ("Monthly_Balance", "missing"), ("Credit_Mix", "unknown_category")}
    assert not (tmp_path / "capture").exists(), "a refused request is never captured"


def test_the_seed_payload_is_answered_and_captured(tiny_bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    code, envelope = run_test_py(ROOT / "data.json", tiny_bundle, tmp_path / "capture")
    assert code == 0
    assert envelope["statusCode"] == 200
    assert envelope["body"]["prediction"] in (0, 1, 2)
    assert len(list((tmp_path / "capture").rglob("*.jsonl"))) == 1
