"""The reference profile of the training data: what "normal" input looked like, for drift checks later.

Stored as ``bundle/reference_profile.json`` in the training run and copied into the bundle's
metadata. Format (version 1), computed on all 21 fields of the training rows (:func:`fields.encode_fields`,
whether the model uses a field or not: drift and fairness monitoring read Age and the categories too)::

    {
      "format_version": 1,
      "rows": 8009,                          # training rows profiled
      "numeric": {                           # the 17 numeric fields
        "Age": {
          "edges": [22.0, 26.0, ...],        # inner bin edges: training deciles, duplicates removed
          "fractions": [0.09, 0.11, ...],    # len(edges) + 1 fractions of the present values
          "missing": 0.024                   # fraction of rows without a usable value
        }, ...
      },
      "categorical": {                       # the 4 categorical fields
        "Credit_Mix": {
          "frequencies": {"Bad": 0.19, "Standard": 0.36, "Good": 0.24, "Unknown": 0.21},
          "missing": 0.0                     # rows with no level at all
        }, ...
      },
      "prediction_mix": {"Poor": 0.27, "Standard": 0.55, "Good": 0.18},  # labels predicted on the rows
      "probabilities": {                     # optional (absent from older profiles): P(Poor) and P(Good)
        "Poor": {"edges": [0.01, ...], "fractions": [0.1, ...]},   # deciles of the rows' P(Poor)
        "Good": {"edges": [...], "fractions": [...]}
      }
    }

Bin ``i`` holds the values ``v`` with ``edges[i-1] <= v < edges[i]`` (the first bin is open below,
the last open above): :func:`bin_fractions` applies this to new values. Numbers only, never rows.
numpy only, so a drift job can import it without the training stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from credit_score.contract.bundle import CLASSES
from credit_score.contract.fields import FIELDS

FORMAT_VERSION = 1
BINS = 10
_DIGITS = 6


def bin_counts(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """How many of the present (non-NaN) ``values`` fall in each bin of ``edges``."""
    present = values[~np.isnan(values)]
    return np.bincount(
        np.searchsorted(np.asarray(edges, dtype=np.float64), present, side="right"), minlength=len(edges) + 1
    )


def bin_fractions(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    """Fractions of the present (non-NaN) ``values`` per bin of ``edges``; all zero when none is present."""
    counts = bin_counts(values, edges)
    total = counts.sum()
    return [round(float(count / total), _DIGITS) if total else 0.0 for count in counts]


def _numeric_profile(values: np.ndarray) -> dict[str, Any]:
    present = values[~np.isnan(values)]
    missing = 1.0 - len(present) / len(values)
    if not len(present):
        return {"edges": [], "fractions": [0.0], "missing": round(missing, _DIGITS)}
    quantiles = np.quantile(present.astype(np.float64), np.linspace(0, 1, BINS + 1)[1:-1])
    edges = [round(float(edge), _DIGITS) for edge in np.unique(quantiles)]
    return {"edges": edges, "fractions": bin_fractions(values, edges), "missing": round(missing, _DIGITS)}


PROBABILITY_LABELS = ("Poor", "Good")  # the two ends of the scale; P(Standard) is what they leave


def reference_profile(
    fields: np.ndarray, eval_predictions: np.ndarray, probabilities: np.ndarray | None = None
) -> dict[str, Any]:
    """Profile the training rows' 21 fields (:func:`fields.encode_fields`) and the predicted class mix.

    ``probabilities`` ((n, 3), class-code order) adds decile bins of P(Poor) and P(Good), so that a drift
    of the model's confidence can be measured before it moves a label across a cut-off.
    """
    if fields.ndim != 2 or fields.shape[1] != len(FIELDS) or not len(fields):
        raise ValueError(f"expected a non-empty matrix of the {len(FIELDS)} fields")
    numeric: dict[str, Any] = {}
    categorical: dict[str, Any] = {}
    for column, f in enumerate(FIELDS):
        values = fields[:, column].astype(np.float64)
        if f.is_numeric:
            numeric[f.name] = _numeric_profile(values)
            continue
        shares = np.bincount(values[~np.isnan(values)].astype(np.intp), minlength=len(f.levels)) / len(values)
        categorical[f.name] = {
            "frequencies": {level: round(float(share), _DIGITS) for level, share in zip(f.levels, shares, strict=True)},
            "missing": round(float(np.isnan(values).mean()), _DIGITS),
        }
    predictions = np.asarray(eval_predictions, dtype=np.int64)
    mix = np.bincount(predictions, minlength=len(CLASSES)) / max(len(predictions), 1)
    profile = {
        "format_version": FORMAT_VERSION,
        "rows": len(fields),
        "numeric": numeric,
        "categorical": categorical,
        "prediction_mix": {label: round(float(mix[code]), _DIGITS) for code, label in CLASSES},
    }
    if probabilities is not None:
        matrix = np.asarray(probabilities, dtype=np.float64)
        if matrix.shape != (len(fields), len(CLASSES)):
            raise ValueError(f"expected one row of {len(CLASSES)} class probabilities per profiled row")
        codes = {label: code for code, label in CLASSES}
        bins = {}
        for label in PROBABILITY_LABELS:
            entry = _numeric_profile(matrix[:, codes[label]])
            bins[label] = {"edges": entry["edges"], "fractions": entry["fractions"]}
        profile["probabilities"] = bins
    return profile
