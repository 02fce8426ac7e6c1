"""The old request encoding: 47 values in a list, parsed with ``float()``, one-hot by comparison."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from credit_score.contract.fields import CATEGORICAL_FIELDS, FIELD_NAMES, NUMERIC_FIELDS

NUMERIC_NAMES = tuple(f.name for f in NUMERIC_FIELDS)
CATEGORIES = tuple((f.name, f.levels) for f in CATEGORICAL_FIELDS)
WIDTH = len(NUMERIC_NAMES) + sum(len(levels) for _, levels in CATEGORIES)


def encode_row(data: Mapping[str, Any]) -> list[float]:
    """One record as the old handler built it; raises on any value ``float()`` refuses."""
    row = [float(str(data[name]).strip().rstrip("_")) for name in NUMERIC_NAMES]
    for name, levels in CATEGORIES:
        value = data.get(name)
        row.extend(1.0 if value == level else 0.0 for level in levels)
    return row


def encode_matrix(fields: np.ndarray) -> np.ndarray:
    """``encode_fields``' 21 columns (a category as its level's position) → the old 47-column matrix.

    The old design saw every field, one-hot categories included; ours sees only the fields with a
    credit direction, so its training matrix is built here from the same rows, not from ours.
    """
    columns = [fields[:, FIELD_NAMES.index(name)] for name in NUMERIC_NAMES]
    for name, levels in CATEGORIES:
        positions = fields[:, FIELD_NAMES.index(name)]
        columns.extend((positions == index).astype(np.float64) for index in range(len(levels)))
    return np.column_stack(columns).astype(np.float32)
