"""The demo path end to end: train on synthetic rows into a local registry, download, and the bundle
ships verified reason-code tables whose parity with shap is recorded; the handler then explains."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from credit_score.contract.bundle import EXPLAINER_FILE, load_bundle, sha256_file
from credit_score.runtime.model import Model
from credit_score.runtime.payload import prepare_payload
from credit_score.runtime.predict import predict_batch, read_options
from tests.support.paths import ROOT, seed_payload


def test_the_demo_bundle_carries_exact_reasons(tmp_path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
        "LOCAL_REGISTRY_DIR": str(tmp_path / "registry"),
        "HOME": str(tmp_path),
    }
    train = [
        sys.executable,
        "-m",
        "credit_score.modelling.training",
        "train",
        "--synthetic",
        "20000",
    ]  # as make demo does
    subprocess.run(train, env=env, check=True, capture_output=True, timeout=600, cwd=tmp_path)
    download = [sys.executable, str(ROOT / "model_downloader.py"), "--output", str(tmp_path / "model")]
    subprocess.run(download, env=env, check=True, capture_output=True, timeout=600, cwd=tmp_path)

    bundle = load_bundle(tmp_path / "model")
    entry = bundle.metadata["files"][EXPLAINER_FILE]
    assert entry["sha256"] == sha256_file(tmp_path / "model" / EXPLAINER_FILE)
    parity = bundle.metadata["explainer"]["parity"]
    assert parity["rows"] >= 1_000
    assert parity["reference"].startswith("shap ")
    for margin in ("standard_or_better", "good_given_standard"):
        assert parity[margin]["max_abs_contribution_diff"] < 1e-6
        assert parity[margin]["max_additivity_error"] < 1e-5

    model = Model.load(tmp_path / "model")
    payload = {**seed_payload(), "contributions": True}
    batch = prepare_payload(payload, 10)
    outcome = predict_batch(batch, model, request_id="t", options=read_options(payload, None, None))
    body = outcome.body
    assert body["reasons"]
    total = sum(body["contributions"]["fields"].values()) + body["contributions"]["base_value"]
    assert abs(total - body["contributions"]["margin"]["value"]) < 1e-5
    assert np.isfinite(body["contributions"]["margin"]["value"])
    assert json.dumps(body)  # serialisable as the handler sends it
