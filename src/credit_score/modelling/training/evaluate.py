"""Quality figures for a model, and the check of a served bundle on labelled raw data.

:func:`classification_metrics` (defined once in ``contract.metrics``, which the drift report's realised
performance uses too) gives the flat metric names shared by MLflow, ``bundle/metrics.json`` and the
``evaluate`` command. :func:`evaluate_bundle` scores the ONNX model of a downloaded bundle
with onnxruntime after the same cleaning and encoding serving applies, with the served labels (the
cascade's thresholds, not the argmax), so the figures describe the artifact that is deployed, not
the LightGBM boosters it came from.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from credit_score.contract.bundle import INPUT_NAME, LABEL_OUTPUT, PROBABILITIES_OUTPUT, load_bundle
from credit_score.contract.metrics import (  # the one definition, shared with the drift report
    calibration_metrics,
    classification_metrics,
    confusion,
    expected_calibration_error,
    weighted_roc_auc,
)
from credit_score.modelling.training.data import to_dataset

__all__ = [
    "calibration_metrics",
    "classification_metrics",
    "confusion",
    "evaluate_bundle",
    "expected_calibration_error",
    "weighted_roc_auc",
]


def evaluate_bundle(bundle_dir: str | os.PathLike[str], frame: pd.DataFrame) -> dict[str, Any]:
    """Score the bundle's ONNX model on a labelled raw frame; metrics plus what was evaluated."""
    import onnxruntime as ort

    bundle = load_bundle(bundle_dir)
    dataset = to_dataset(frame)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: graph-cleanup notices are not evaluation output
    options.intra_op_num_threads = 1  # as served: threads sum the trees in another order (float32 ulps apart)
    session = ort.InferenceSession(str(bundle.model_path), options, providers=["CPUExecutionProvider"])
    predicted, probabilities = session.run([LABEL_OUTPUT, PROBABILITIES_OUTPUT], {INPUT_NAME: dataset.features})
    return {
        **classification_metrics(dataset.labels, np.asarray(probabilities), np.asarray(predicted)),
        "rows": len(dataset),
        "dropped_rows": dataset.dropped_rows,
        "model": {"name": bundle.name, "version": bundle.version},
        "confusion_matrix": confusion(dataset.labels, np.asarray(predicted)),
    }
