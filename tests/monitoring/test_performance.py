"""Realised and estimated performance: the figures of credit-score-evaluate on the same rows, and CBPE within 0.03."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_score.contract import fields as features
from credit_score.contract.fairness import fairness_table
from credit_score.modelling.training.data import to_dataset
from credit_score.modelling.training.evaluate import evaluate_bundle
from credit_score.monitoring.cli import main
from credit_score.monitoring.performance import Expected, Scored, estimated, realized
from tests.monitoring.conftest import window
from tests.support.real_bundles import RealBundle, real_bundle, send_one_by_one  # noqa: F401 - fixture

HEADLINE = ("macro_f1", "auc", "accuracy")


def calibrated(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels drawn from the probabilities themselves: calibrated by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=1.5, size=(rows, 3))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = (rng.random(rows)[:, None] > probabilities.cumsum(axis=1)).sum(axis=1)
    return labels, probabilities, probabilities.argmax(axis=1)


def test_given_calibrated_probabilities_when_estimated_then_close_to_the_realised_figures() -> None:
    labels, probabilities, predicted = calibrated(20_000, seed=3)

    truth = realized(Scored(predicted, probabilities, labels), bootstrap=20)
    estimate = estimated(Scored(predicted, probabilities))

    for name in HEADLINE:
        assert estimate[name] == pytest.approx(truth[name], abs=0.01)


def test_given_overconfident_probabilities_when_estimated_then_the_estimate_is_off_and_says_so() -> None:
    labels, probabilities, predicted = calibrated(20_000, seed=4)
    sharpened = probabilities**4 / (probabilities**4).sum(axis=1, keepdims=True)

    truth = realized(Scored(predicted, sharpened, labels), bootstrap=20)
    estimate = estimated(Scored(predicted, sharpened))

    assert estimate["accuracy"] - truth["accuracy"] > 0.05  # CBPE trusts calibration: the guard is the ECE


def test_given_split_decisions_when_merged_then_the_estimate_equals_the_whole() -> None:
    _, probabilities, predicted = calibrated(3_000, seed=5)
    first, second = Expected(), Expected()
    first.add(probabilities[:1000], predicted[:1000])
    second.add(probabilities[1000:], predicted[1000:])

    assert first.merge(second).estimate() == estimated(Scored(predicted, probabilities))


def test_given_labelled_decisions_when_realised_then_interval_brackets_the_figure_and_is_seeded() -> None:
    labels, probabilities, predicted = calibrated(2_000, seed=6)

    figures = realized(Scored(predicted, probabilities, labels), bootstrap=100, seed=1)

    for name in HEADLINE:
        low, high = figures["ci95"][name]
        assert low < figures[name] < high
    assert figures == realized(Scored(predicted, probabilities, labels), bootstrap=100, seed=1)
    assert sum(map(sum, figures["confusion_matrix"]["matrix"])) == figures["n"] == 2_000


def test_given_held_out_real_rows_through_the_handler_when_outcomes_joined_then_evaluate_agrees(
    real_bundle: RealBundle,  # noqa: F811
    tmp_path,
) -> None:
    held_out = real_bundle.held_out
    ids = send_one_by_one(held_out, model_dir=real_bundle.path, capture=str(tmp_path / "capture"))
    outcomes = tmp_path / "outcomes.csv"
    with outcomes.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["request_id", "Credit_Score"])
        writer.writerows(zip(ids, held_out["Credit_Score"], strict=True))
        writer.writerow([ids[0], held_out["Credit_Score"].iloc[0]])  # a duplicate
        writer.writerow(["never-answered", "Good"])  # unmatched
        writer.writerow([ids[1], "Excellent"])  # malformed
    report = tmp_path / "report.json"

    main(
        [
            *("--capture", str(tmp_path / "capture"), "--bundle", str(real_bundle.path), *window()),
            *("--outcomes", str(outcomes), "--json", str(report), "--bootstrap", "50"),
        ]
    )

    document = json.loads(report.read_text())
    performance = document["performance"]
    realised, estimate = performance["realized"]["5"], performance["estimated"]["5"]
    evaluated = evaluate_bundle(real_bundle.path, held_out)
    assert realised["n"] == evaluated["rows"] == len(held_out) > 1000
    assert abs(realised["macro_f1"] - evaluated["macro_f1"]) <= 1e-6
    assert abs(realised["auc"] - evaluated["weighted_roc_auc"]) <= 1e-6
    assert abs(realised["accuracy"] - evaluated["accuracy"]) <= 1e-6
    assert round(realised["auc"], 6) == evaluated["weighted_roc_auc"]  # the served model's exact numbers
    assert realised["confusion_matrix"] == evaluated["confusion_matrix"]
    for name in HEADLINE:
        assert abs(estimate[name] - realised[name]) <= 0.03, name
    assert list(realised["by_month"]) == list(estimate["by_month"])
    assert len(realised["by_month"]) >= 1
    assert performance["outcomes"] | {"rows": 0} == performance["outcomes"] | {
        "rows": 0,
        "matched": len(held_out),
        "unmatched": 1,
        "duplicates": 1,
        "malformed": 1,
        "conflicting": 0,
    }
    expected = fairness_table(*served(real_bundle.path, held_out))
    assert {key: document["fairness"][key] for key in expected} == expected
    assert document["fairness"]["reference"] is None  # this test bundle was written without one


def served(bundle: Path, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ages, served labels, probabilities and true classes of raw rows, computed apart from the report."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(bundle / "model.onnx"), options, providers=["CPUExecutionProvider"])
    dataset = to_dataset(frame)
    predicted, probabilities = session.run(["label", "probabilities"], {"features": dataset.features})
    names = [f.name for f in features.FIELDS]
    ages = [
        features.parse_record(dict(zip(names, row, strict=True)))[0]["Age"] for row in frame[names].itertuples(False)
    ]
    return np.array(ages, float), predicted, probabilities, dataset.labels
