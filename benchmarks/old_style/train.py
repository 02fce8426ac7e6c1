"""The old model: XGBoost on the 47-column encoding, pickled with joblib.

It is trained on the same rows and split as the served model (``benchmarks.models``), so the
benchmark compares designs, not data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

PARAMETERS = {"n_estimators": 300, "max_depth": 6, "learning_rate": 0.1, "tree_method": "hist", "n_jobs": 1}


def fit(matrix: np.ndarray, labels: np.ndarray) -> Any:
    """XGBoost on the encoded rows (NaN for missing numbers, which XGBoost routes natively)."""
    from xgboost import XGBClassifier

    return XGBClassifier(**PARAMETERS, random_state=0).fit(matrix, labels)


def save(model: Any, target: Path) -> Path:
    import joblib

    target.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, target)
    return target
