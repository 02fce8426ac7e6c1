"""Fairness by age band at training: the evaluation rows' table, logged to MLflow and shipped in the bundle.

The table (``contract.fairness``) is the reference the drift report compares production with. Ages are
read from the raw rows, not the encoded matrix: Age is validated and captured but never a model input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from credit_score.contract.fairness import BAND_NAMES, FAVOURABLE, fairness_table
from credit_score.contract.fields import FIELDS, clean_value
from credit_score.modelling.training.data import CUSTOMER, LABEL_CODES, TARGET, DataError, Dataset

__all__ = ["evaluation_ages", "fairness_metrics", "training_fairness"]

AGE = next(f for f in FIELDS if f.name == "Age")
_SLUGS = {"<25": "under_25", "25-44": "25_44", "45-61": "45_61", ">=62": "62_plus"}  # MLflow metric names


def evaluation_ages(frame: pd.DataFrame, evaluation: Dataset) -> np.ndarray:
    """The ages of ``evaluation``'s rows, in order: the rows ``to_dataset`` keeps whose customer was held out."""
    kept = frame.loc[frame[TARGET].str.strip().map(LABEL_CODES).notna().to_numpy()]
    groups = kept[CUSTOMER].to_numpy(dtype=str) if CUSTOMER in kept.columns else np.arange(len(kept)).astype(str)
    held_out = np.isin(groups, evaluation.groups)
    ages = np.array([clean_value(AGE, raw) for raw in kept[AGE.name].to_numpy()[held_out]], dtype=object)
    if len(ages) != len(evaluation):
        raise DataError("the evaluation rows' ages do not line up with the evaluation rows")
    return np.array([np.nan if age is None else float(age) for age in ages], dtype=np.float64)


def training_fairness(
    frame: pd.DataFrame, evaluation: Dataset, predicted: np.ndarray, probabilities: np.ndarray
) -> dict[str, Any]:
    """The fairness table of the evaluation rows' served decisions and true classes."""
    return fairness_table(evaluation_ages(frame, evaluation), predicted, probabilities, evaluation.labels)


def fairness_metrics(table: dict[str, Any]) -> dict[str, float]:
    """Flat MLflow metrics: each band's adverse-impact ratios and favourable rates."""
    metrics = {}
    for band in BAND_NAMES:
        slug = _SLUGS[band]
        for kind in FAVOURABLE:
            ratio = table["air"][kind]["ratios"].get(band)
            rate = table["age_bands"][band]["favourable_rate"][kind]
            if ratio is not None:
                metrics[f"fairness_air_{kind}_{slug}"] = ratio
            if rate is not None:
                metrics[f"fairness_rate_{kind}_{slug}"] = rate
    return metrics
