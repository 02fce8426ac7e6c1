"""The known-answer set: rows become the requests a client would send, answers are compared within
the stored tolerance, and the builder stores the registry model's own answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from credit_score.contract import known_answers
from credit_score.contract.bundle import CLASSES
from credit_score.contract.fields import FEATURE_NAMES, encode_rows, parse_batch
from tests.support.registry_models import random_encoded_rows, train_cascade

LABELS = tuple(label for _, label in CLASSES)


def complete_rows(count: int = 400) -> np.ndarray:
    rows = random_encoded_rows(count, seed=3)
    return rows[~np.isnan(rows).any(axis=1)]


def test_given_complete_rows_when_turned_into_requests_then_they_encode_back_exactly() -> None:
    rows = complete_rows()
    records = [known_answers.request_record(row) for row in rows]
    assert all(record is not None for record in records)
    parsed, columns, problems = parse_batch(records)  # type: ignore[arg-type]
    assert problems == []
    assert np.array_equal(encode_rows(parsed, columns), rows)
    assert json.loads(json.dumps(records)) == records  # plain JSON, as the hook sends it


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda row: row.__setitem__(1, np.nan), id="missing-number"),
        pytest.param(lambda row: row.__setitem__(0, 2e6), id="income-outside-domain"),
        pytest.param(lambda row: row.__setitem__(FEATURE_NAMES.index("Credit_Mix"), 3.0), id="no-such-rank"),
        pytest.param(lambda row: row.__setitem__(FEATURE_NAMES.index("Credit_Mix"), 0.5), id="half-a-rank"),
        pytest.param(lambda row: row.__setitem__(3, 2.5), id="fraction-of-a-count"),
    ],
)
def test_given_row_without_a_faithful_request_when_turned_into_one_then_none(damage: object) -> None:
    row = complete_rows()[0].copy()
    damage(row)  # type: ignore[operator]
    assert known_answers.request_record(row) is None


def test_given_a_missing_rank_when_turned_into_a_request_then_unknown_or_not_mentioned() -> None:
    row = complete_rows()[0].copy()
    row[FEATURE_NAMES.index("Credit_Mix")] = np.nan
    row[FEATURE_NAMES.index("Payment_of_Min_Amount")] = np.nan
    record = known_answers.request_record(row)
    assert record is not None
    assert (record["Credit_Mix"], record["Payment_of_Min_Amount"]) == ("Unknown", "NM")
    assert {"Age", "Occupation", "Payment_Behaviour"} <= set(record)  # outside the model, still sent


def _known() -> dict[str, object]:
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    return known_answers.document([{"a": 1}, {"a": 2}], [0, 2], probabilities, 1e-4)


def _answers(rows: list[list[float]], codes: list[int]) -> list[dict[str, object]]:
    return [
        {"prediction": code, "probabilities": dict(zip(LABELS, row, strict=True))}
        for code, row in zip(codes, rows, strict=True)
    ]


def test_given_matching_answers_when_compared_then_no_problem() -> None:
    answers = _answers([[0.70005, 0.2, 0.1], [0.1, 0.3, 0.6]], [0, 2])
    assert known_answers.answer_problems(_known(), answers, LABELS) == []


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param(_answers([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], [0, 1]), "row 1: class 1, expected 2", id="class"),
        pytest.param(_answers([[0.7002, 0.2, 0.1], [0.1, 0.3, 0.6]], [0, 2]), "row 0: P(Poor)", id="probability"),
        pytest.param(_answers([[0.7, 0.2, 0.1]], [0]), "expected 2 predictions, got 1", id="count"),
        pytest.param(None, "expected 2 predictions, got 0", id="no-list"),
        pytest.param([{"prediction": 0}, {"prediction": 2}], "row 0: no probabilities", id="no-probabilities"),
    ],
)
def test_given_departing_answers_when_compared_then_named(answers: object, expected: str) -> None:
    problems = known_answers.answer_problems(_known(), answers, LABELS)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    "text",
    ['{"format": 2, "tolerance": 0.1, "answers": [{}]}', '{"format": 1, "tolerance": 0, "answers": [{}]}', "[]"],
)
def test_given_malformed_file_when_read_then_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"format 1|tolerance"):
        known_answers.read(text)


def test_given_cascade_when_built_then_stored_answers_are_the_cascades_own() -> None:
    from credit_score.modelling import known_answers as builder

    cascade = train_cascade(seed=1)
    rows = random_encoded_rows(1_000, seed=5)
    document = known_answers.read(builder.build(cascade, rows, count=40).decode())
    assert len(document["answers"]) == 40
    records = [answer["data"] for answer in document["answers"]]
    parsed, columns, problems = parse_batch(records)
    assert problems == []
    matrix = encode_rows(parsed, columns)
    assert matrix.shape == (40, len(FEATURE_NAMES))
    stored = np.array([answer["probabilities"] for answer in document["answers"]])
    assert np.allclose(stored, cascade.probabilities(matrix), atol=0, rtol=0)
    assert [answer["prediction"] for answer in document["answers"]] == cascade.labels(matrix).tolist()
    assert math.isclose(document["tolerance"], 1e-4 + 1e-6)


def test_given_too_few_usable_rows_when_built_then_refused() -> None:
    from credit_score.modelling import known_answers as builder

    rows = random_encoded_rows(50, seed=5)
    with pytest.raises(builder.KnownAnswersError, match="need 64"):
        builder.build(train_cascade(seed=1), rows)
