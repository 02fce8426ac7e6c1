from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, f1_score, log_loss, roc_auc_score

from credit_score.contract import fields as features
from credit_score.contract.bundle import BundleError, classes_metadata, write_bundle
from credit_score.modelling.conversion import to_onnx
from credit_score.modelling.training import synthetic
from credit_score.modelling.training.cascade import fit_cascade
from credit_score.modelling.training.cli import main
from credit_score.modelling.training.data import to_dataset
from credit_score.modelling.training.evaluate import (
    classification_metrics,
    confusion,
    evaluate_bundle,
    expected_calibration_error,
    weighted_roc_auc,
)

METRIC_NAMES = {
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "weighted_roc_auc",
    "recall_Poor",
    "recall_Standard",
    "recall_Good",
    "log_loss",
    "brier",
    "ece",
}


def random_scores(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, rows, p=[0.3, 0.5, 0.2])
    logits = rng.normal(size=(rows, 3)) + 1.5 * np.eye(3)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probabilities


def test_given_all_classes_when_scoring_auc_then_equal_to_sklearn_weighted_ovr() -> None:
    labels, probabilities = random_scores(500)

    expected = roc_auc_score(labels, probabilities, multi_class="ovr", average="weighted")

    assert weighted_roc_auc(labels, probabilities) == pytest.approx(expected, abs=1e-12)


def test_given_sample_lacking_a_class_when_scoring_auc_then_weighted_over_present_classes() -> None:
    labels, probabilities = random_scores(400)
    present = labels != 2

    value = weighted_roc_auc(labels[present], probabilities[present])

    poor = roc_auc_score(labels[present] == 0, probabilities[present, 0])
    standard = roc_auc_score(labels[present] == 1, probabilities[present, 1])
    share = (labels[present] == 0).mean()
    assert value == pytest.approx(share * poor + (1 - share) * standard)


def test_given_single_class_when_scoring_auc_then_none_and_left_out_of_metrics() -> None:
    labels = np.ones(10, dtype=np.int64)
    probabilities = np.full((10, 3), 1 / 3)

    assert weighted_roc_auc(labels, probabilities) is None
    assert "weighted_roc_auc" not in classification_metrics(labels, probabilities)


def test_given_predictions_when_computing_metrics_then_flat_names_and_sklearn_values() -> None:
    labels, probabilities = random_scores(600, seed=3)

    metrics = classification_metrics(labels, probabilities)

    assert set(metrics) == METRIC_NAMES
    predicted = probabilities.argmax(axis=1)
    assert metrics["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"), abs=1e-6)
    assert metrics["recall_Good"] == pytest.approx((predicted[labels == 2] == 2).mean(), abs=1e-6)
    assert metrics["accuracy"] == pytest.approx((predicted == labels).mean(), abs=1e-6)
    assert metrics["log_loss"] == pytest.approx(log_loss(labels, probabilities), abs=1e-6)
    brier = sum(brier_score_loss(labels == code, probabilities[:, code]) for code in range(3))
    assert metrics["brier"] == pytest.approx(brier, abs=1e-6)


def test_given_served_labels_when_computing_metrics_then_they_replace_the_argmax() -> None:
    labels, probabilities = random_scores(600, seed=4)
    served = np.zeros_like(labels)  # a rule that always answers Poor

    metrics = classification_metrics(labels, probabilities, served)

    assert metrics["recall_Poor"] == 1.0
    assert metrics["accuracy"] == pytest.approx((labels == 0).mean(), abs=1e-6)
    assert metrics["weighted_roc_auc"] == classification_metrics(labels, probabilities)["weighted_roc_auc"]


def test_given_calibrated_or_overconfident_scores_when_computing_ece_then_gap_measured() -> None:
    rng = np.random.default_rng(5)
    confidence = rng.uniform(0.4, 1.0, 20_000)
    correct = rng.random(20_000) < confidence  # right exactly as often as claimed
    probabilities = np.column_stack([confidence, (1 - confidence) / 2, (1 - confidence) / 2])
    labels = np.where(correct, 0, 1)

    assert expected_calibration_error(labels, probabilities) < 0.01
    overconfident = np.column_stack([np.full(20_000, 0.99), np.full(20_000, 0.005), np.full(20_000, 0.005)])
    assert expected_calibration_error(labels, overconfident) == pytest.approx(0.99 - correct.mean(), abs=1e-9)


def test_given_predictions_when_building_confusion_then_true_rows_predicted_columns() -> None:
    result = confusion(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]))

    assert result["labels"] == ["Poor", "Standard", "Good"]
    assert result["matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


@pytest.fixture(scope="module")
def raw_rows() -> pd.DataFrame:
    return synthetic.generate(1500, seed=11)


@pytest.fixture(scope="module")
def bundle_and_cascade(raw_rows: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    dataset = to_dataset(raw_rows.head(1000))
    cascade = fit_cascade(dataset.features, dataset.labels, dataset.groups, seed=0, rounds=(20, 20))
    metadata = {
        "model": {"name": "credit-score-classifier", "version": "7"},
        "classes": classes_metadata(),
        "input": {"name": "features", "feature_names": list(features.FEATURE_NAMES), "fields": features.schema()},
    }
    target = tmp_path_factory.mktemp("bundle") / "model"
    write_bundle(target, to_onnx(cascade), metadata)
    return target, cascade


def test_given_bundle_and_labelled_raw_rows_when_evaluating_then_onnx_scores_match_the_cascade(
    raw_rows: pd.DataFrame, bundle_and_cascade: tuple[Path, object]
) -> None:
    bundle, cascade = bundle_and_cascade
    unseen = raw_rows.tail(500)

    result = evaluate_bundle(bundle, unseen)

    dataset = to_dataset(unseen)
    expected = classification_metrics(
        dataset.labels, cascade.probabilities(dataset.features), cascade.labels(dataset.features)
    )
    assert set(result) >= METRIC_NAMES
    for name in METRIC_NAMES:
        assert result[name] == pytest.approx(expected[name], abs=1e-5), name
    assert result["rows"] == 500
    assert result["model"] == {"name": "credit-score-classifier", "version": "7"}
    assert np.asarray(result["confusion_matrix"]["matrix"]).sum() == 500


def test_given_tampered_bundle_when_evaluating_then_refused(
    raw_rows: pd.DataFrame, bundle_and_cascade: tuple[Path, object], tmp_path: Path
) -> None:
    bundle, _ = bundle_and_cascade
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("metadata.json", "model.onnx"):
        (copy / name).write_bytes((bundle / name).read_bytes())
    with (copy / "model.onnx").open("ab") as handle:
        handle.write(b"\0")

    with pytest.raises(BundleError, match="sha256"):
        evaluate_bundle(copy, raw_rows.tail(10))


def test_given_evaluate_command_when_run_then_metrics_json_on_stdout(
    raw_rows: pd.DataFrame,
    bundle_and_cascade: tuple[Path, object],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle, _ = bundle_and_cascade
    data = tmp_path / "labelled.csv"
    raw_rows.tail(300).to_csv(data, index=False)

    code = main(["evaluate", "--bundle", str(bundle), "--data", str(data)])

    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["rows"] == 300
    assert 0.0 <= printed["macro_f1"] <= 1.0
    assert set(printed) >= METRIC_NAMES


def test_given_missing_bundle_when_evaluate_command_runs_then_exit_2_with_reason(
    tmp_path: Path, raw_rows: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "labelled.csv"
    raw_rows.head(20).to_csv(data, index=False)

    code = main(["evaluate", "--bundle", str(tmp_path / "nowhere"), "--data", str(data)])

    assert code == 2
    assert "metadata.json" in capsys.readouterr().err
