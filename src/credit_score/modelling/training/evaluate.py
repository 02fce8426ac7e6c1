"""Quality figures for a model, and the check of a served bundle on labelled raw data.

:func:`classification_metrics` gives the flat metric names shared by MLflow, ``bundle/metrics.json``
and the ``evaluate`` command. :func:`evaluate_bundle` scores the ONNX model of a downloaded bundle
with onnxruntime after the same cleaning and encoding serving applies, with the served labels (the
cascade's thresholds, not the argmax), so the figures describe the artifact that is deployed, not
the LightGBM boosters it came from.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score, roc_auc_score

from credit_score.contract.bundle import CLASSES, INPUT_NAME, LABEL_OUTPUT, PROBABILITIES_OUTPUT, load_bundle
from credit_score.modelling.training.data import LABELS, to_dataset

CODES = [code for code, _ in CLASSES]
ECE_BINS = 10


def weighted_roc_auc(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """One-vs-rest ROC AUC weighted by class prevalence; ``None`` when no class can be ranked.

    Equal to scikit-learn's ``roc_auc_score(..., multi_class="ovr", average="weighted")`` when every
    class occurs, and still defined on small samples lacking a class (its weight is zero anyway).
    """
    total, weight = 0.0, 0
    for code in CODES:
        positives = labels == code
        count = int(positives.sum())
        if 0 < count < len(labels):
            total += count * roc_auc_score(positives, probabilities[:, code])
            weight += count
    return total / weight if weight else None


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE: the row-weighted gap between confidence and accuracy over equal-width bins."""
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
    clipped = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-15, 1.0)
    truth = np.eye(len(CODES))[labels]
    return {
        "log_loss": float(-np.log(clipped[np.arange(len(labels)), labels]).mean()),
        "brier": float(((np.asarray(probabilities, dtype=np.float64) - truth) ** 2).sum(axis=1).mean()),
        "ece": expected_calibration_error(labels, np.asarray(probabilities, dtype=np.float64)),
    }


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, predicted: np.ndarray | None = None
) -> dict[str, float]:
    """Accuracy, macro/weighted F1, weighted OvR ROC AUC, per-class recall and calibration, rounded.

    ``predicted`` are the served labels (the cascade's threshold rule); the argmax when not given.
    """
    predicted = probabilities.argmax(axis=1) if predicted is None else np.asarray(predicted).ravel()
    recalls = recall_score(labels, predicted, labels=CODES, average=None, zero_division=0)
    metrics = {
        "accuracy": accuracy_score(labels, predicted),
        "macro_f1": f1_score(labels, predicted, labels=CODES, average="macro", zero_division=0),
        "weighted_f1": f1_score(labels, predicted, labels=CODES, average="weighted", zero_division=0),
        "weighted_roc_auc": weighted_roc_auc(labels, probabilities),
        **{f"recall_{label}": recall for label, recall in zip(LABELS, recalls, strict=True)},
        **calibration_metrics(labels, probabilities),
    }
    return {name: round(float(value), 6) for name, value in metrics.items() if value is not None}


def confusion(labels: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Confusion matrix as JSON: rows are true classes, columns predicted, both in code order."""
    matrix = confusion_matrix(labels, predicted, labels=CODES)
    return {"labels": list(LABELS), "rows": "true", "columns": "predicted", "matrix": matrix.tolist()}


def evaluate_bundle(bundle_dir: str | os.PathLike[str], frame: pd.DataFrame) -> dict[str, Any]:
    """Score the bundle's ONNX model on a labelled raw frame; metrics plus what was evaluated."""
    import onnxruntime as ort

    bundle = load_bundle(bundle_dir)
    dataset = to_dataset(frame)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: graph-cleanup notices are not evaluation output
    session = ort.InferenceSession(str(bundle.model_path), options, providers=["CPUExecutionProvider"])
    predicted, probabilities = session.run([LABEL_OUTPUT, PROBABILITIES_OUTPUT], {INPUT_NAME: dataset.features})
    return {
        **classification_metrics(dataset.labels, np.asarray(probabilities), np.asarray(predicted)),
        "rows": len(dataset),
        "dropped_rows": dataset.dropped_rows,
        "model": {"name": bundle.name, "version": bundle.version},
        "confusion_matrix": confusion(dataset.labels, np.asarray(predicted)),
    }
