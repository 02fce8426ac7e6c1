from __future__ import annotations

import json
import sys
from pathlib import Path

import mlflow
import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.models import Model

from credit_score.contract.bundle import load_bundle
from credit_score.contract.fields import FEATURE_NAMES, FIELD_NAMES, encode, parse_record
from credit_score.modelling import artifacts
from credit_score.modelling.downloader import Selection, download
from credit_score.modelling.registry import Registry, local_registry
from credit_score.modelling.training import pyfunc, synthetic
from credit_score.modelling.training import train as training_module
from credit_score.modelling.training.cascade import MONOTONE
from credit_score.modelling.training.data import DataError, split, to_dataset
from credit_score.modelling.training.evaluate import evaluate_bundle
from credit_score.modelling.training.monotonicity import MonotonicityError, TreeProof
from credit_score.modelling.training.train import TrainResult, model_name_from, train
from tests.modelling.training.test_evaluate import METRIC_NAMES as EVALUATION_METRICS
from tests.support.mlflow_server import REGISTRY_ENV, missing_endpoints, proxy

TINY = {"rounds": (30, 30), "booster_overrides": {"learning_rate": 0.1}}
METRIC_NAMES = EVALUATION_METRICS | {"eval_rows", "train_rows"}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return synthetic.generate(2500, seed=3)


@pytest.fixture(scope="module")
def trained_in(rows: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, TrainResult]:
    """One training into a fresh local registry, shared by the tests that only read what it wrote."""
    with pytest.MonkeyPatch.context() as patch:
        for name in REGISTRY_ENV:
            patch.delenv(name, raising=False)
        patch.setenv("LOCAL_REGISTRY_DIR", str(tmp_path_factory.mktemp("registry")))
        registry = local_registry()
        result = train(rows, model_name="train-test", **TINY, data_label="rows.csv")
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    return registry, result


@pytest.fixture
def trained(trained_in: tuple[Registry, TrainResult]) -> TrainResult:
    return trained_in[1]


@pytest.fixture
def client(trained_in: tuple[Registry, TrainResult]) -> MlflowClient:
    uri = trained_in[0].tracking_uri
    return MlflowClient(uri, uri)


def run_files(client: MlflowClient, result: TrainResult, tmp_path: Path) -> Path:
    uri = client.get_run(result.run_id).info.artifact_uri
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path / "run")))


def test_given_raw_rows_when_training_then_run_logs_params_and_all_metrics(
    trained: TrainResult, client: MlflowClient
) -> None:
    run = client.get_run(trained.run_id)

    assert set(trained.metrics) == METRIC_NAMES
    assert {name for name in run.data.metrics if not name.startswith("fairness_")} == METRIC_NAMES  # + by age band
    assert run.data.metrics["macro_f1"] == pytest.approx(trained.metrics["macro_f1"])
    assert trained.metrics["eval_rows"] + trained.metrics["train_rows"] == 2500
    assert trained.metrics["eval_rows"] == pytest.approx(500, abs=3)
    assert run.data.params["rounds_standard_or_better"] == "30"
    assert set(run.data.params["decreasing_features"].split(",")) == {n for n, s in MONOTONE.items() if s < 0}
    assert set(run.data.params["increasing_features"].split(",")) == {n for n, s in MONOTONE.items() if s > 0}
    assert 0.0 < float(run.data.params["threshold_t1"]) < 1.0
    assert run.data.params["data"] == "rows.csv"
    assert run.data.params["seed"] == "42"
    assert trained.metrics["weighted_roc_auc"] > 0.6  # the synthetic rows carry signal the forest finds


def test_given_training_run_when_reading_artifacts_then_bundle_files_follow_the_contract(
    trained: TrainResult, client: MlflowClient, tmp_path: Path
) -> None:
    files = run_files(client, trained, tmp_path)

    assert json.loads((files / "bundle" / "metrics.json").read_text()) == trained.metrics
    profile = json.loads((files / "bundle" / "reference_profile.json").read_text())
    assert profile["rows"] == trained.metrics["train_rows"]
    assert set(profile["prediction_mix"]) == {"Poor", "Standard", "Good"}
    assert set(profile["probabilities"]) == {"Poor", "Good"}  # deciles of the training rows' probabilities
    sample = np.load(files / "bundle" / "parity_sample.npy")
    assert sample.dtype == np.float32
    assert sample.shape == (2000, len(FEATURE_NAMES))
    assert np.isnan(sample).any(axis=1).sum() >= 100
    matrix = json.loads((files / "confusion_matrix.json").read_text())["matrix"]
    assert np.asarray(matrix).sum() == trained.metrics["eval_rows"]
    assert (files / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG")
    step_report = json.loads((files / artifacts.MONOTONICITY_FILE).read_text())
    assert step_report["rows"] == 2500
    assert step_report["violations"]
    assert not any(step_report["violations"].values())
    assert step_report["trees_proven"] == 60  # (30 + 30) rounds, every tree of both boosters


def test_given_training_run_when_loading_its_cascade_then_boosters_and_thresholds_score_like_the_metrics(
    trained: TrainResult, client: MlflowClient, rows: pd.DataFrame, tmp_path: Path
) -> None:
    cascade = artifacts.load_cascade(run_files(client, trained, tmp_path))
    _, evaluation = split(to_dataset(rows), 0.2, 42)

    assert [booster.num_trees() for booster in cascade.boosters] == [30, 30]
    assert cascade.monotone == MONOTONE
    assert cascade.thresholds == (float(trained.params["threshold_t1"]), float(trained.params["threshold_t2"]))
    accuracy = float((cascade.labels(evaluation.features) == evaluation.labels).mean())
    assert accuracy == pytest.approx(trained.metrics["accuracy"], abs=1e-6)


@pytest.fixture
def code_paths_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a pyfunc prepends its ``code/`` copy of the package to sys.path; later tests must not see it."""
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.mark.usefixtures("code_paths_undone")
def test_given_training_run_when_loading_registered_model_then_raw_field_pyfunc_answers_like_the_cascade(
    trained: TrainResult, client: MlflowClient, tmp_path: Path
) -> None:
    version = client.get_model_version("train-test", trained.version)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=version.source, dst_path=str(tmp_path / "model"), tracking_uri=client.tracking_uri
    )
    model = Model.load(local)
    example = model.load_input_example(local)

    answer = mlflow.pyfunc.load_model(local).predict(example)

    assert version.run_id == trained.run_id
    assert version.source.endswith("/model")
    assert version.tags["macro_f1"] == str(trained.metrics["macro_f1"])
    assert model.signature.inputs.input_names() == list(FIELD_NAMES)
    assert {spec.type.name for spec in model.signature.inputs.inputs} == {"string"}
    assert [path.name for path in (Path(local) / "code").iterdir()] == [pyfunc.stage_code(tmp_path / "staged")[1]]
    cascade = artifacts.load_cascade(run_files(client, trained, tmp_path))
    records = example.to_dict(orient="records")
    matrix = encode([parse_record(record)[0] for record in records])
    np.testing.assert_allclose(
        answer[["probability_Poor", "probability_Standard", "probability_Good"]].to_numpy(),
        cascade.probabilities(matrix),
        atol=1e-12,
    )
    assert answer["prediction"].tolist() == cascade.labels(matrix).tolist()
    assert set(answer["label"]) <= {"Poor", "Standard", "Good"}


def test_given_unconstrained_boosters_when_training_then_step_test_refuses_and_nothing_is_registered(
    local_registry: Registry, rows: pd.DataFrame
) -> None:
    with pytest.raises(MonotonicityError, match="not registered"):
        train(
            rows,
            model_name="unconstrained",
            booster_overrides={"monotone_constraints": [0] * len(FEATURE_NAMES)},
            rounds=(60, 60),
        )

    client = MlflowClient(local_registry.tracking_uri, local_registry.tracking_uri)
    assert client.search_registered_models("name = 'unconstrained'") == []


def test_given_a_tree_against_a_direction_when_training_then_the_proof_refuses_and_nothing_is_registered(
    local_registry: Registry, rows: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training_module, "prove_trees", lambda cascade: TreeProof(120, {"Outstanding_Debt": 1}))

    with pytest.raises(MonotonicityError, match=r"Outstanding_Debt: 1 trees of 120\); it is not registered"):
        train(rows, model_name="disproven", **TINY)

    client = MlflowClient(local_registry.tracking_uri, local_registry.tracking_uri)
    assert client.search_registered_models("name = 'disproven'") == []


def test_given_empty_registry_when_training_then_first_version_becomes_champion(
    trained: TrainResult, client: MlflowClient
) -> None:
    aliases = client.get_registered_model("train-test").aliases

    assert trained.version == "1"
    assert trained.became_champion
    assert {alias: str(version) for alias, version in aliases.items()} == {"champion": "1"}
    assert "first champion" in trained.decision


def test_given_trained_champion_when_downloading_and_evaluating_then_bundle_scores_like_training(
    trained: TrainResult, client: MlflowClient, rows: pd.DataFrame, tmp_path: Path
) -> None:
    download(Selection("train-test", alias="champion"), tmp_path / "bundle", tracking_uri=client.tracking_uri)
    _, evaluation = split(to_dataset(rows), 0.2, 42)

    result = evaluate_bundle(tmp_path / "bundle", rows[rows["Customer_ID"].isin(evaluation.groups)])

    assert load_bundle(tmp_path / "bundle").metadata["metrics"] == trained.metrics
    assert result["rows"] == trained.metrics["eval_rows"]
    for name in ("macro_f1", "weighted_roc_auc", "accuracy"):
        assert result[name] == pytest.approx(trained.metrics[name], abs=1e-3), name


def test_given_model_name_sources_when_choosing_then_flag_beats_env_beats_default() -> None:
    assert model_name_from("flag", {"MODEL_NAME": "env"}) == "flag"
    assert model_name_from(None, {"MODEL_NAME": "env"}) == "env"
    assert model_name_from(None, {}) == "credit-score-classifier"


def test_given_model_name_in_env_when_training_then_registered_under_it(
    local_registry: Registry, rows: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_NAME", "named-by-env")

    result = train(rows.head(1200), **TINY)

    assert result.model_name == "named-by-env"
    aliases = (
        MlflowClient(local_registry.tracking_uri, local_registry.tracking_uri)
        .get_registered_model("named-by-env")
        .aliases
    )
    assert str(aliases["champion"]) == result.version


def test_given_synthetic_row_count_when_training_then_generated_rows_are_used(local_registry: Registry) -> None:
    result = train(synthetic_rows=1500, model_name="synthetic-test", **TINY)

    assert result.metrics["train_rows"] + result.metrics["eval_rows"] == 1500
    assert result.params["data"] == "synthetic"
    assert result.params["synthetic_rows"] == 1500


def test_given_both_or_neither_data_source_when_training_then_refused(rows: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="either"):
        train(rows, synthetic_rows=100)
    with pytest.raises(DataError, match="either"):
        train()


def test_given_training_rows_lacking_a_class_when_training_then_refused_before_logging(rows: pd.DataFrame) -> None:
    no_good = rows[rows["Credit_Score"] != "Good"]

    with pytest.raises(DataError, match="lack the classes"):
        train(no_good, **TINY)


@pytest.mark.integration
def test_given_server_without_mlflow3_endpoints_when_training_then_registered_with_champion(
    registry_env: pytest.MonkeyPatch, mlflow_server: str, rows: pd.DataFrame, tmp_path: Path
) -> None:
    """DagsHub runs MLflow 2.7.1: no /api/3.0, no logged models. Training must not need them."""
    with proxy(mlflow_server, missing_endpoints("/api/3.0/", "/logged-models")) as (uri, seen):
        first = train(rows, model_name="server-train-test", tracking_uri=uri, **TINY)
        second = train(rows, model_name="server-train-test", tracking_uri=uri, **TINY, seed=7)

    assert first.became_champion
    client = MlflowClient(mlflow_server, mlflow_server)
    assert str(client.get_registered_model("server-train-test").aliases["champion"]) in {first.version, second.version}
    assert second.champion_macro_f1 is not None
    assert not [path for path in seen if "logged-models" in path]  # /api/3.0 probes answered 404 are tolerated
    download(Selection("server-train-test", alias="champion"), tmp_path / "bundle", tracking_uri=mlflow_server)
    assert load_bundle(tmp_path / "bundle").name == "server-train-test"


@pytest.mark.slow
def test_given_real_data_and_defaults_when_training_then_served_onnx_model_meets_quality_bar_on_unseen_rows(
    local_registry: Registry, real_frame: pd.DataFrame, tmp_path: Path
) -> None:
    result = train(real_frame, model_name="quality-test")
    download(Selection("quality-test", alias="champion"), tmp_path / "bundle")
    _, evaluation = split(to_dataset(real_frame), 0.2, 42)
    unseen = real_frame[real_frame["Customer_ID"].isin(evaluation.groups)]

    served = evaluate_bundle(tmp_path / "bundle", unseen)

    print(f"served ONNX on {served['rows']} unseen rows: {json.dumps(served)}")
    assert served["rows"] == result.metrics["eval_rows"] == len(unseen)
    # Measured on this split with every used field in its credit direction: macro-F1 0.582, weighted AUC 0.731,
    # ECE 0.024. Seed 42 is the hardest of the ten splits of python -m benchmarks.holdout_spread for AUC
    # (docs/model.md), whose means are the quality claim; this guards the level the served recipe reaches here.
    assert served["macro_f1"] >= 0.575
    assert served["weighted_roc_auc"] >= 0.725
    assert served["ece"] <= 0.035
