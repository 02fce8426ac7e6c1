"""Build the bundle's known-answer set (``contract.known_answers``) from the run's parity sample.

The stored answers are the registry model's own (the LightGBM cascade), not the ONNX graph's, so a
deployed version is compared with an independent reference. Rows within :data:`TIE_MARGIN` of a
cut-off are left out: there, the float32 graph and LightGBM may legitimately pick different classes.
"""

from __future__ import annotations

import json

import numpy as np

from credit_score.contract import known_answers
from credit_score.modelling.artifacts import Cascade, sigmoid
from credit_score.modelling.conversion import MAX_ABS_PROB_DIFF

COUNT = 64  # rows sent in one request by the hook: a few milliseconds of scoring
TIE_MARGIN = 1e-3
ROUNDING = 1e-6  # the answer's probabilities carry six decimals


class KnownAnswersError(ValueError):
    """Too few usable rows in the parity sample."""


def build(cascade: Cascade, rows: np.ndarray, count: int = COUNT) -> bytes:
    """``known_answers.json`` for the first ``count`` usable rows of ``rows``."""
    margins = cascade.margins(rows)
    stages = sigmoid(margins)
    clear = (np.abs(stages - np.asarray(cascade.thresholds)) > TIE_MARGIN).all(axis=1)
    chosen, records = [], []
    for index in np.flatnonzero(clear).tolist():
        record = known_answers.request_record(rows[index])
        if record is not None:
            chosen.append(index)
            records.append(record)
        if len(records) == count:
            break
    if len(records) < count:
        raise KnownAnswersError(
            f"only {len(records)} parity rows are complete requests away from a cut-off; need {count}"
        )
    picked = rows[chosen]
    probabilities = cascade.probabilities(picked)
    codes = cascade.labels(picked).tolist()
    document = known_answers.document(records, codes, probabilities, MAX_ABS_PROB_DIFF + ROUNDING)
    return json.dumps(document, separators=(",", ":")).encode()
