"""Quality figures for a model, and the check of a served bundle on labelled raw data.

:func:`classification_metrics` gives the flat metric names shared by MLflow, ``bundle/metrics.json``
and the ``evaluate`` command. :func:`evaluate_bundle` scores the ONNX model of a downloaded bundle
with onnxruntime after the same cleaning and encoding serving applies, so the figures describe the
artifact that is deployed, not the scikit-learn model it came from.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score, roc_auc_score

from credit_score.build.training.data import LABELS, to_dataset
from credit_score.contract.bundle import CLASSES, INPUT_NAME, PROBABILITIES_OUTPUT, load_bundle

CODES = [code for code, _ in CLASSES]


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


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """accuracy, macro/weighted F1, weighted OvR ROC AUC and per-class recall, rounded for reports."""
    predicted = probabilities.argmax(axis=1)
    recalls = recall_score(labels, predicted, labels=CODES, average=None, zero_division=0)
    metrics = {
        "accuracy": accuracy_score(labels, predicted),
        "macro_f1": f1_score(labels, predicted, labels=CODES, average="macro", zero_division=0),
        "weighted_f1": f1_score(labels, predicted, labels=CODES, average="weighted", zero_division=0),
        "weighted_roc_auc": weighted_roc_auc(labels, probabilities),
        **{f"recall_{label}": recall for label, recall in zip(LABELS, recalls, strict=True)},
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
    (probabilities,) = session.run([PROBABILITIES_OUTPUT], {INPUT_NAME: dataset.features})
    return {
        **classification_metrics(dataset.labels, np.asarray(probabilities)),
        "rows": len(dataset),
        "dropped_rows": dataset.dropped_rows,
        "model": {"name": bundle.name, "version": bundle.version},
        "confusion_matrix": confusion(dataset.labels, np.asarray(probabilities).argmax(axis=1)),
    }
