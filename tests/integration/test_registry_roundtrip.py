"""Build time end to end against a real ``mlflow server``: train, gate, register, download, verify, serve.

The path a release takes: two trainings into one registry (the weaker must not take ``champion``),
then ``model_downloader.py`` by alias, by version and ``latest``, each bundle verified, one tampered;
and the registered version served by MLflow's own ``mlflow models serve`` on the raw fields,
answering what the Lambda answers from a bundle of the same version.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import app
from credit_score.contract.bundle import MODEL_FILE, BundleError, load_bundle
from credit_score.modelling.training import synthetic
from credit_score.modelling.training.train import TrainResult, train
from tests.support.bundles import synthetic_records
from tests.support.lambda_context import LambdaContext
from tests.support.mlflow_server import (  # noqa: F401 - fixtures
    NO_TELEMETRY,
    free_port,
    mlflow_server_fixture,
    registry_env_fixture,
)
from tests.support.paths import ROOT

NAME = "roundtrip-classifier"
GOOD = {"rounds": (60, 60), "booster_overrides": {"learning_rate": 0.1}}
WEAK = {"rounds": (1, 1), "booster_overrides": {"max_depth": 1, "num_leaves": 2}}

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trainings(mlflow_server: str) -> tuple[TrainResult, TrainResult]:
    rows: pd.DataFrame = synthetic.generate(3000, seed=5)
    good = train(rows, model_name=NAME, tracking_uri=mlflow_server, **GOOD)
    weak = train(rows, model_name=NAME, tracking_uri=mlflow_server, **WEAK)
    return good, weak


def download(mlflow_server: str, output: Path, *selection: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "model_downloader.py"), "--model-name", NAME, *selection, "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "MLFLOW_TRACKING_URI": mlflow_server},
        check=False,
    )


def test_given_weaker_second_training_when_gating_then_champion_stays_on_the_first(
    trainings: tuple[TrainResult, TrainResult],
) -> None:
    good, weak = trainings

    assert (good.version, weak.version) == ("1", "2")
    assert good.became_champion
    assert not weak.became_champion
    assert weak.champion_version == "1"
    assert weak.metrics["macro_f1"] < weak.champion_macro_f1


@pytest.mark.parametrize(
    ("selection", "expected_version", "expected_alias"),
    [((), "1", "champion"), (("--version", "2"), "2", None), (("--latest",), "2", None)],
    ids=["default-alias", "version", "latest"],
)
def test_given_two_versions_when_downloading_then_selected_version_lands_as_verified_bundle(
    trainings: tuple[TrainResult, TrainResult],
    mlflow_server: str,
    tmp_path: Path,
    selection: tuple[str, ...],
    expected_version: str,
    expected_alias: str | None,
) -> None:
    finished = download(mlflow_server, tmp_path / "model", *selection)

    assert finished.returncode == 0, finished.stderr
    bundle = load_bundle(tmp_path / "model")
    assert (bundle.name, bundle.version, bundle.alias) == (NAME, expected_version, expected_alias)
    assert bundle.metadata["metrics"]["macro_f1"] == trainings[int(expected_version) - 1].metrics["macro_f1"]
    assert bundle.metadata["parity"]["rows"] >= 1000
    assert bundle.metadata["parity"]["max_abs_prob_diff"] <= 1e-4


def test_given_downloaded_bundle_when_model_file_tampered_then_refused(
    trainings: tuple[TrainResult, TrainResult], mlflow_server: str, tmp_path: Path
) -> None:
    assert download(mlflow_server, tmp_path / "model").returncode == 0
    model_file = tmp_path / "model" / MODEL_FILE
    tampered = bytearray(model_file.read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    model_file.write_bytes(bytes(tampered))

    with pytest.raises(BundleError, match="sha256"):
        load_bundle(tmp_path / "model")


def test_given_unknown_alias_when_downloading_then_exit_2_with_one_line(
    trainings: tuple[TrainResult, TrainResult], mlflow_server: str, tmp_path: Path
) -> None:
    finished = download(mlflow_server, tmp_path / "model", "--alias", "no-such-alias")

    assert finished.returncode == 2
    assert len(finished.stderr.strip().splitlines()) == 1
    assert "no-such-alias" in finished.stderr
    assert not (tmp_path / "model").exists()


SERVE_TIMEOUT_SECONDS = 180.0
PROBABILITY_COLUMNS = ("probability_Poor", "probability_Standard", "probability_Good")


@pytest.fixture
def served_model(mlflow_server: str, trainings: tuple[TrainResult, TrainResult], tmp_path: Path) -> Iterator[str]:
    """``mlflow models serve`` on version 1, in a process that has neither this repository nor its src on the path."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{NAME}/1",
        "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"  # MLflow runs uvicorn by name
    env = {"PATH": path, "HOME": str(tmp_path), "MLFLOW_TRACKING_URI": mlflow_server}
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env | NO_TELEMETRY, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + SERVE_TIMEOUT_SECONDS
        while not _answers(f"{uri}/ping"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow models serve did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield uri
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http only
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _invocations(uri: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - loopback http only
        f"{uri}/invocations", json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback http only
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _lambda_probabilities(bundle: Path, records: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    monkeypatch.setenv("MODEL_DIR", str(bundle))
    monkeypatch.setenv("CAPTURE_URI", str(bundle.parent / "capture"))
    monkeypatch.setattr(app, "_service", None)
    response = app.handler({"data": records}, LambdaContext("pyfunc-parity"))
    body = json.loads(response["body"]) if isinstance(response.get("body"), str) else response
    rows = [prediction["probabilities"] for prediction in body["predictions"]]
    return np.asarray([[row[label] for label in ("Poor", "Standard", "Good")] for row in rows])


def test_given_registered_version_when_served_by_mlflow_models_serve_then_same_probabilities_as_the_lambda(
    served_model: str, mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = synthetic_records(40, seed=99)
    assert download(mlflow_server, tmp_path / "model", "--version", "1").returncode == 0

    status, served = _invocations(served_model, {"dataframe_records": records})

    assert status == 200, served
    answers = served["predictions"]
    mlflow_probabilities = np.asarray([[answer[column] for column in PROBABILITY_COLUMNS] for answer in answers])
    lambda_probabilities = _lambda_probabilities(tmp_path / "model", records, monkeypatch)
    assert np.abs(mlflow_probabilities - lambda_probabilities).max() <= 1e-4
    assert len({answer["label"] for answer in answers}) > 1, "the served model must follow the fields"


def test_given_a_record_the_contract_refuses_when_served_by_mlflow_then_400_naming_the_field_never_the_value(
    served_model: str,
) -> None:
    record = {**synthetic_records(1, seed=3)[0], "Interest_Rate": "5000"}

    status, answer = _invocations(served_model, {"dataframe_records": [record]})

    assert status == 400
    assert "Interest_Rate" in answer["message"]
    assert "5000" not in answer["message"]


def test_given_a_batch_with_a_refused_record_when_served_by_mlflow_then_200_with_a_row_naming_the_problem(
    served_model: str, mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = synthetic_records(3, seed=4)
    records[1] = {**records[1], "Interest_Rate": "5000"}
    assert download(mlflow_server, tmp_path / "model", "--version", "1").returncode == 0

    status, served = _invocations(served_model, {"dataframe_records": records})

    assert status == 200, served
    refused, *scored = [served["predictions"][i] for i in (1, 0, 2)]
    assert refused["error"] == ["Interest_Rate: out_of_domain"]
    assert [refused[column] for column in PROBABILITY_COLUMNS] == [None, None, None]
    assert [answer["error"] for answer in scored] == [None, None]
    lambda_probabilities = _lambda_probabilities(tmp_path / "model", [records[0], records[2]], monkeypatch)
    mlflow_probabilities = np.asarray([[answer[column] for column in PROBABILITY_COLUMNS] for answer in scored])
    assert np.abs(mlflow_probabilities - lambda_probabilities).max() <= 1e-4
