"""The shared metric definitions equal scikit-learn's, including ties, absent classes and empty classes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score, roc_auc_score

from credit_score.contract import metrics

CODES = [0, 1, 2]


def sample(rows: int, seed: int, *, decimals: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, rows, p=[0.3, 0.5, 0.2])
    logits = rng.normal(size=(rows, 3)) + 1.2 * np.eye(3)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if decimals is not None:  # coarse scores: many ties
        probabilities = probabilities.round(decimals) + 1e-3
        probabilities /= probabilities.sum(axis=1, keepdims=True)
    predicted = rng.choice(3, rows) if seed % 2 else probabilities.argmax(axis=1)
    return labels, probabilities, predicted


@pytest.mark.parametrize(("rows", "seed", "decimals"), [(50, 1, None), (700, 2, None), (400, 3, 1), (2000, 4, 2)])
def test_given_scores_when_measured_then_every_metric_equals_sklearn(
    rows: int, seed: int, decimals: int | None
) -> None:
    labels, probabilities, predicted = sample(rows, seed, decimals=decimals)

    assert metrics.macro_f1(labels, predicted) == pytest.approx(
        f1_score(labels, predicted, labels=CODES, average="macro", zero_division=0), abs=1e-12
    )
    assert metrics.accuracy(labels, predicted) == pytest.approx(accuracy_score(labels, predicted), abs=1e-12)
    assert metrics.recalls(labels, predicted) == pytest.approx(
        recall_score(labels, predicted, labels=CODES, average=None, zero_division=0), abs=1e-12
    )
    assert metrics.weighted_roc_auc(labels, probabilities) == pytest.approx(
        roc_auc_score(labels, probabilities, multi_class="ovr", average="weighted"), abs=1e-12
    )
    assert metrics.confusion_matrix(labels, predicted).tolist() == confusion_matrix(labels, predicted).tolist()
    weighted = f1_score(labels, predicted, labels=CODES, average="weighted", zero_division=0)
    assert metrics.classification_metrics(labels, probabilities, predicted)["weighted_f1"] == round(weighted, 6)


def test_given_a_class_never_predicted_nor_present_when_scoring_f1_then_it_counts_zero_like_sklearn() -> None:
    labels = np.array([0, 0, 1, 1, 1])
    predicted = np.array([0, 1, 1, 1, 0])

    expected = f1_score(labels, predicted, labels=CODES, average="macro", zero_division=0)

    assert metrics.macro_f1(labels, predicted) == pytest.approx(expected, abs=1e-12)
    assert metrics.recalls(labels, predicted)[2] == 0.0


def test_given_one_class_only_when_scoring_auc_then_none() -> None:
    assert metrics.roc_auc(np.ones(4, bool), np.arange(4.0)) is None
    assert metrics.weighted_roc_auc(np.zeros(4, np.int64), np.full((4, 3), 1 / 3)) is None


def test_given_expected_counts_when_scoring_f1_then_fractional_confusion_is_accepted() -> None:
    matrix = np.array([[2.5, 0.5, 0.0], [0.5, 3.0, 0.5], [0.0, 1.0, 2.0]])

    f1 = metrics.f1_scores(matrix)

    assert f1[0] == pytest.approx(2 * 2.5 / (2 * 2.5 + 0.5 + 0.5))
    assert f1[2] == pytest.approx(2 * 2.0 / (2 * 2.0 + 0.5 + 1.0))
