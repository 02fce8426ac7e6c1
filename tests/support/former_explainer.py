"""The explainer tables' former per-row evaluation (gather from ``Ψ``, ``where``, multiply, ``bincount``),
kept as the yardstick the fast evaluation is tested against (tests/runtime/test_explainer_evaluation.py)
and timed against (``python -m benchmarks.compare``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from credit_score.contract.fields import FIELD_NAMES


def former_explain(booster: Any, tables: Any, prefix: str, row: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Field contributions, margin and hot-feature pattern of one float32 ``row`` for one booster
    (a ``runtime.explainer._Booster``, for its decoded bounds), from the stored ``psi``."""
    psi = tables[prefix + "psi"]
    width = psi.shape[1].bit_length() - 1
    bits = 1 << np.arange(width)
    start = np.arange(len(psi), dtype=np.int64) << width
    values = row[booster.column]
    hot = (values > booster.lo) & (values <= booster.hi)
    if booster.any_zero_missing or np.isnan(values).any():
        missing = np.isnan(values) | (booster.zero_missing & (np.abs(values) <= 1e-35))
        hot = np.where(missing, booster.nan_hot, hot)
    pattern = (hot * bits).sum(axis=1)
    index = (start + pattern)[:, None] & ~bits
    contributions = psi.ravel()[index] * np.where(hot, booster.hot_coef, booster.cold_coef)
    margin = float(booster.value[pattern == booster.full].sum())
    return np.bincount(booster.field.ravel(), contributions.ravel(), len(FIELD_NAMES)), margin, pattern
