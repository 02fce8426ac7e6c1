"""The pure core: a decoded payload and a model in, the response document and what was predicted out.

No I/O, no environment, no clock: everything around it (events, capture, metrics, logs) lives in
``service.py``. Client faults are raised as :mod:`credit_score.runtime.errors` exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_score.runtime.model import Model, Prediction
from credit_score.runtime.payload import Batch

PROBABILITY_DECIMALS = 6


@dataclass(frozen=True, slots=True)
class Outcome:
    batch: Batch
    prediction: Prediction
    body: dict[str, Any]


def predict_batch(batch: Batch, model: Model, *, request_id: str) -> Outcome:
    """Predict a validated batch (``payload.prepare_payload``); the seed's single shape gets a single answer.

    Validation is the caller's first step, so that a bad request is answered 4xx even with no model.
    """
    prediction = model.predict(batch.matrix)
    return Outcome(batch, prediction, response_body(batch.single, prediction, model, request_id))


def response_body(single: bool, prediction: Prediction, model: Model, request_id: str) -> dict[str, Any]:
    labels = model.labels
    if single:  # numpy's per-call overhead outweighs the work for one row
        probabilities = [[round(p, PROBABILITY_DECIMALS) for p in prediction.probabilities[0].tolist()]]
    else:
        probabilities = np.round(prediction.probabilities.astype(np.float64), PROBABILITY_DECIMALS).tolist()
    answers = [
        {"prediction": code, "label": labels[code], "probabilities": dict(zip(labels, row, strict=True))}
        for code, row in zip(prediction.codes.tolist(), probabilities, strict=True)
    ]
    if single:
        return {**answers[0], "version": model.version, "model": model.name, "request_id": request_id}
    return {"predictions": answers, "version": model.version, "model": model.name, "request_id": request_id}
