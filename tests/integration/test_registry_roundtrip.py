"""Build time end to end against a real ``mlflow server``: train, gate, register, download, verify.

The path a release takes: two trainings into one registry (the weaker must not take ``champion``),
then ``model_downloader.py`` by alias, by version and ``latest``, each bundle verified, one tampered.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from credit_score.build.training import synthetic
from credit_score.build.training.train import TrainResult, train
from credit_score.contract.bundle import MODEL_FILE, BundleError, load_bundle
from tests.support.mlflow_server import mlflow_server_fixture, registry_env_fixture  # noqa: F401 - fixtures
from tests.support.paths import ROOT

NAME = "roundtrip-classifier"
GOOD = {"forest__n_estimators": 20, "forest__max_depth": 8, "boosting__n_estimators": 30}
WEAK = {"forest__n_estimators": 1, "forest__max_depth": 1, "boosting__n_estimators": 1, "boosting__max_depth": 1}

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trainings(mlflow_server: str) -> tuple[TrainResult, TrainResult]:
    rows: pd.DataFrame = synthetic.generate(3000, seed=5)
    good = train(rows, model_name=NAME, tracking_uri=mlflow_server, classifier_params=GOOD)
    weak = train(rows, model_name=NAME, tracking_uri=mlflow_server, classifier_params=WEAK)
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
