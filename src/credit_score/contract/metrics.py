"""Quality metrics of three-class credit decisions: the one definition training and monitoring share.

``credit-score-evaluate`` (modelling) and the drift report's realised performance (monitoring) both
import these functions, so a figure measured at training and the same figure measured on production
outcomes are the same computation. numpy only (the contract's rule); each function equals its
scikit-learn counterpart (``tests/contract/test_metrics.py`` checks them against it to 1e-12):

* :func:`macro_f1` — ``f1_score(labels=[0, 1, 2], average="macro", zero_division=0)``;
* :func:`weighted_roc_auc` — ``roc_auc_score(multi_class="ovr", average="weighted")``, and still
  defined when a small sample lacks a class (that class's weight is zero anyway);
* :func:`recalls`, :func:`accuracy`, :func:`confusion_matrix` with the class codes in order.

Classes are the codes of ``bundle.CLASSES`` (Poor=0, Standard=1, Good=2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from credit_score.contract.bundle import CLASSES

__all__ = [
    "CODES",
    "ECE_BINS",
    "LABELS",
    "accuracy",
    "calibration_metrics",
    "classification_metrics",
    "confusion",
    "confusion_matrix",
    "expected_calibration_error",
    "f1_scores",
    "macro_f1",
    "recalls",
    "roc_auc",
    "weighted_roc_auc",
]

CODES: tuple[int, ...] = tuple(code for code, _ in CLASSES)
LABELS: tuple[str, ...] = tuple(label for _, label in CLASSES)
ECE_BINS = 10


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns, both in code order."""
    labels, predicted = np.asarray(labels, np.int64).ravel(), np.asarray(predicted, np.int64).ravel()
    matrix = np.zeros((len(CODES), len(CODES)), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    labels = np.asarray(labels).ravel()
    return float(np.mean(labels == np.asarray(predicted).ravel())) if len(labels) else 0.0


def f1_scores(matrix: np.ndarray) -> np.ndarray:
    """Per-class F1 ``2 TP / (2 TP + FP + FN)`` from a confusion matrix (expected counts allowed); 0 when empty."""
    matrix = np.asarray(matrix, np.float64)
    true_positive = np.diag(matrix)
    denominator = 2 * true_positive + (matrix.sum(axis=0) - true_positive) + (matrix.sum(axis=1) - true_positive)
    return np.divide(2 * true_positive, denominator, out=np.zeros(len(CODES)), where=denominator > 0)


def macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    return float(f1_scores(confusion_matrix(labels, predicted)).mean())


def recalls(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Recall of each class in code order; 0 for a class that does not occur."""
    matrix = confusion_matrix(labels, predicted).astype(np.float64)
    support = matrix.sum(axis=1)
    return np.divide(np.diag(matrix), support, out=np.zeros(len(CODES)), where=support > 0)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank (the Mann-Whitney convention)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def roc_auc(positives: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve of ``scores`` for the boolean ``positives``; ``None`` without both classes."""
    positives = np.asarray(positives, bool).ravel()
    count = int(positives.sum())
    negatives = len(positives) - count
    if not count or not negatives:
        return None
    ranks = _average_ranks(np.asarray(scores, np.float64).ravel())
    return float((ranks[positives].sum() - count * (count + 1) / 2.0) / (count * negatives))


def weighted_roc_auc(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """One-vs-rest ROC AUC weighted by class prevalence; ``None`` when no class can be ranked."""
    labels = np.asarray(labels, np.int64).ravel()
    probabilities = np.asarray(probabilities, np.float64)
    total, weight = 0.0, 0
    for code in CODES:
        positives = labels == code
        area = roc_auc(positives, probabilities[:, code])
        if area is not None:
            count = int(positives.sum())
            total += count * area
            weight += count
    return total / weight if weight else None


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE: the row-weighted gap between confidence and accuracy over equal-width bins."""
    probabilities = np.asarray(probabilities, np.float64)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    gap = 0.0
    for index in range(bins):
        members = which == index
        if members.any():
            gap += members.sum() * abs(float(confidence[members].mean()) - float(correct[members].mean()))
    return gap / len(labels)


def calibration_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Log-loss, multi-class Brier score (mean squared distance to the one-hot truth) and ECE."""
    labels = np.asarray(labels, np.int64).ravel()
    probabilities = np.asarray(probabilities, dtype=np.float64)
    clipped = np.clip(probabilities, 1e-15, 1.0)
    truth = np.eye(len(CODES))[labels]
    return {
        "log_loss": float(-np.log(clipped[np.arange(len(labels)), labels]).mean()),
        "brier": float(((probabilities - truth) ** 2).sum(axis=1).mean()),
        "ece": expected_calibration_error(labels, probabilities),
    }


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, predicted: np.ndarray | None = None
) -> dict[str, float]:
    """Accuracy, macro/weighted F1, weighted OvR ROC AUC, per-class recall and calibration, rounded to 1e-6.

    ``predicted`` are the served labels (the cascade's threshold rule); the argmax when not given.
    """
    labels = np.asarray(labels, np.int64).ravel()
    probabilities = np.asarray(probabilities, np.float64)
    predicted = probabilities.argmax(axis=1) if predicted is None else np.asarray(predicted, np.int64).ravel()
    matrix = confusion_matrix(labels, predicted)
    f1 = f1_scores(matrix)
    support = matrix.sum(axis=1)
    metrics = {
        "accuracy": accuracy(labels, predicted),
        "macro_f1": f1.mean(),
        "weighted_f1": float(f1 @ support / support.sum()) if support.sum() else 0.0,
        "weighted_roc_auc": weighted_roc_auc(labels, probabilities),
        **{f"recall_{label}": recall for label, recall in zip(LABELS, recalls(labels, predicted), strict=True)},
        **calibration_metrics(labels, probabilities),
    }
    return {name: round(float(value), 6) for name, value in metrics.items() if value is not None}


def confusion(labels: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Confusion matrix as JSON: rows are true classes, columns predicted, both in code order."""
    matrix = confusion_matrix(labels, predicted)
    return {"labels": list(LABELS), "rows": "true", "columns": "predicted", "matrix": matrix.tolist()}
