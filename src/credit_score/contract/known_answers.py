"""The known-answer set: applicants whose answers were fixed at build time, to check a deployed version.

The downloader picks rows of the run's parity sample that are complete and inside every domain,
turns each back into the 21-field request a client would send (:func:`request_record`, checked to
encode to exactly the same features), and stores the registry model's own class and probabilities
for them (LightGBM, not the ONNX graph under test) in ``known_answers.json`` in the bundle, hashed
like every other bundle file. Before a deployment shifts any traffic, the pre-traffic hook sends
those records through the new version's handler and :func:`answer_problems` compares what comes back.

The rows are applicants of the training data: the file lives only in the bundle (encrypted image,
private registry), and problems name row indexes and differences, never a value.

Standard library plus numpy: this module runs in the Lambda image.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from credit_score.contract.fields import (
    FEATURE_NAMES,
    FIELDS,
    FIELDS_BY_NAME,
    ORDERED_LEVELS,
    UNKNOWN,
    encode_rows,
    parse_batch,
)

__all__ = ["FORMAT", "KNOWN_ANSWERS_FILE", "answer_problems", "document", "read", "request_record"]

KNOWN_ANSWERS_FILE = "known_answers.json"
FORMAT = 1
# The level an ordered category's missing rank comes from (Unknown, or NM: "not mentioned").
_UNRANKED = {
    name: next(level for level in FIELDS_BY_NAME[name].levels if level not in ranked)
    for name, ranked in ORDERED_LEVELS.items()
}
# Fields the model does not read: any valid value gives the same answer; these are fixed ones.
_UNSCORED: dict[str, Any] = {
    f.name: (int(f.minimum) if f.integer else f.minimum)  # type: ignore[arg-type]
    if f.is_numeric
    else (UNKNOWN if f.allows_unknown else f.categories[0])
    for f in FIELDS
    if f.name not in FEATURE_NAMES
}


def request_record(row: np.ndarray) -> dict[str, Any] | None:
    """The request a client would send for one encoded row; ``None`` unless it encodes back exactly.

    A rank becomes its level (a missing rank the category's Unknown or NM); the fields outside the
    model take fixed valid values. Rows with a missing number or a value outside a domain have no
    such request.
    """
    record: dict[str, Any] = dict(_UNSCORED)
    for name, value in zip(FEATURE_NAMES, row.astype(np.float64).tolist(), strict=True):
        if name in ORDERED_LEVELS:
            levels = ORDERED_LEVELS[name]
            if value != value:
                record[name] = _UNRANKED[name]
            elif value.is_integer() and 0 <= value < len(levels):
                record[name] = levels[int(value)]
            else:
                return None
        elif not math.isfinite(value):
            return None
        else:
            record[name] = int(value) if FIELDS_BY_NAME[name].integer and value.is_integer() else value
    rows, columns, problems = parse_batch([record])
    if problems or not np.array_equal(encode_rows(rows, columns)[0], row.astype(np.float32), equal_nan=True):
        return None
    return record


def document(
    records: Sequence[Mapping[str, Any]], predictions: Sequence[int], probabilities: np.ndarray, tolerance: float
) -> dict[str, Any]:
    """The file's content: each record with the registry model's class and probabilities (by class code)."""
    return {
        "format": FORMAT,
        "tolerance": tolerance,
        "answers": [
            {"data": dict(record), "prediction": int(code), "probabilities": [float(p) for p in row]}
            for record, code, row in zip(records, predictions, probabilities.tolist(), strict=True)
        ],
    }


def read(text: str) -> dict[str, Any]:
    """Parse the file; :class:`ValueError` naming what is wrong."""
    parsed = json.loads(text)
    if not isinstance(parsed, dict) or parsed.get("format") != FORMAT or not parsed.get("answers"):
        raise ValueError(f"{KNOWN_ANSWERS_FILE} must be format {FORMAT} with at least one answer")
    tolerance = parsed.get("tolerance")
    if not isinstance(tolerance, int | float) or not 0 < tolerance < 0.5:
        raise ValueError(f"{KNOWN_ANSWERS_FILE}: tolerance must be a number in (0, 0.5)")
    return parsed


def answer_problems(known: Mapping[str, Any], predictions: Any, labels: Sequence[str]) -> list[str]:
    """How the answer to ``{"data": [every known record]}`` departs from the stored answers.

    ``predictions`` is the answer body's ``predictions`` list; ``labels`` are the class labels by code.
    Empty when every class matches and every probability is within the stored tolerance.
    """
    expected = known["answers"]
    if not isinstance(predictions, list) or len(predictions) != len(expected):
        return [f"expected {len(expected)} predictions, got {len(predictions) if isinstance(predictions, list) else 0}"]
    tolerance = float(known["tolerance"])
    problems = []
    for index, (stored, answer) in enumerate(zip(expected, predictions, strict=True)):
        given = answer.get("probabilities") if isinstance(answer, dict) else None
        if not isinstance(given, dict):
            problems.append(f"row {index}: no probabilities")
            continue
        if answer.get("prediction") != stored["prediction"]:
            problems.append(f"row {index}: class {answer.get('prediction')}, expected {stored['prediction']}")
        for label, probability in zip(labels, stored["probabilities"], strict=True):
            value = given.get(label)
            delta = math.inf if not isinstance(value, int | float) else abs(float(value) - probability)
            if not delta <= tolerance:
                problems.append(f"row {index}: P({label}) differs by {delta:.3g} (allowed {tolerance:g})")
    return problems
