"""Numbers sent as JSON null, through the handler: scored as the LightGBM boosters score a missing value,
listed in ``missing_fields``, captured as null; an absent key, a malformed value or a category's null stay a 422."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

import app
from credit_score.contract.decision import label_code
from credit_score.contract.fields import CATEGORICAL_NAMES, NUMERIC_NAMES, encode, parse_record
from tests.support.lambda_context import LambdaContext
from tests.support.real_bundle import RealBundle, real_bundle, real_requests  # noqa: F401

LABELS = ("Poor", "Standard", "Good")


@pytest.fixture
def post(real_bundle: RealBundle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: F811
    """Post a payload to a fresh container over the real-rows bundle; capture under tmp_path/capture."""
    for key in ("CAPTURE_SAMPLING_PERCENT", "MAX_BATCH_SIZE", "MAX_BODY_BYTES", "LOG_LEVEL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MODEL_DIR", str(real_bundle.bundle.path))
    monkeypatch.setenv("CAPTURE_URI", str(tmp_path / "capture"))
    monkeypatch.setenv("METRICS_ENABLED", "false")
    monkeypatch.setattr(app, "_service", None)

    def send(payload: dict) -> tuple[int, dict]:
        response = app.handler(payload, LambdaContext("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"))
        return response["statusCode"], json.loads(response["body"])

    return send


def with_nulls(records: list[dict[str, str]], seed: int = 3) -> tuple[list[dict], list[list[str]]]:
    """Every numeric field nulled alone on some row, then 1 to 5 at random, and one row with all 17 null."""
    rng = random.Random(seed)
    nulled: list[list[str]] = []
    for index, _ in enumerate(records):
        if index < len(NUMERIC_NAMES):
            nulled.append([NUMERIC_NAMES[index]])
        elif index == len(NUMERIC_NAMES):
            nulled.append(list(NUMERIC_NAMES))
        else:
            chosen = set(rng.sample(NUMERIC_NAMES, rng.randint(1, 5)))
            nulled.append([name for name in NUMERIC_NAMES if name in chosen])
    changed = [{**record, **dict.fromkeys(names)} for record, names in zip(records, nulled, strict=True)]
    return changed, nulled


def answers(body: dict) -> list[dict]:
    return body.get("predictions", [body])


def test_given_numbers_sent_as_null_when_answered_then_the_lightgbm_boosters_own_probabilities(
    real_bundle: RealBundle,  # noqa: F811
    post,
) -> None:
    records, nulled = with_nulls(real_requests(400, skip=100))
    status, body = post({"data": records})
    assert status == 200, body
    served = answers(body)
    assert [a["missing_fields"] for a in served] == nulled
    expected = real_bundle.cascade.probabilities(encode([parse_record(r)[0] for r in records]))
    got = np.array([[a["probabilities"][label] for label in LABELS] for a in served])
    assert np.abs(got - expected).max() < 2e-6
    assert [label_code(a["decision"]) for a in served] == [a["prediction"] for a in served]
    # nulls move answers: the missing value is scored, not replaced by a stand-in
    complete = answers(post({"data": real_requests(400, skip=100)})[1])
    moved = [a["probabilities"] != c["probabilities"] for a, c in zip(served, complete, strict=True)]
    assert sum(moved) > len(moved) / 2
    assert all(a["missing_fields"] == [] for a in complete)


def shapes(records: list[dict]) -> dict[str, dict]:
    columns = list(records[0])
    rows = [[r[c] for c in columns] for r in records]
    return {
        "data": {"data": records},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "dataframe_split": {"dataframe_split": {"columns": columns, "data": rows}},
    }


def test_given_nulls_in_every_payload_shape_when_answered_then_the_same_answers(post) -> None:
    records, _ = with_nulls(real_requests(24, skip=7))
    by_shape = {}
    for name, payload in shapes(records).items():
        status, body = post(payload)
        assert status == 200, (name, body)
        by_shape[name] = [(a["probabilities"], a["missing_fields"], a["decision"]) for a in answers(body)]
    assert all(found == by_shape["data"] for found in by_shape.values())
    status, single = post({"data": records[5]})
    assert status == 200
    assert (single["probabilities"], single["missing_fields"], single["decision"]) == by_shape["data"][5]


@pytest.mark.parametrize("shape", ["data", "dataframe_records", "instances", "dataframe_split"])
def test_given_an_absent_key_a_malformed_value_or_a_null_category_when_posted_then_still_422(post, shape) -> None:
    good = real_requests(3, skip=50)
    absent = {key: value for key, value in good[0].items() if key != "Interest_Rate"}
    malformed = {**good[1], "Outstanding_Debt": "12O0", "Annual_Income": None}
    null_category = {**good[2], "Credit_Mix": None, "Monthly_Balance": None}
    payload = shapes([malformed, null_category])[shape]
    if shape != "dataframe_split":  # a split has every column in every row: the absent key is another record's
        payload = shapes([absent, malformed, null_category])[shape]
    status, body = post(payload)
    assert status == 422
    problems = [(p["index"], p["field"], p["problem"]) for p in body["details"]]
    offset = 0 if shape == "dataframe_split" else 1
    expected = [(offset, "Outstanding_Debt", "not_a_number"), (offset + 1, "Credit_Mix", "missing")]
    if offset:
        expected.insert(0, (0, "Interest_Rate", "missing"))
    assert problems == expected
    assert "12O0" not in json.dumps(body)


def test_given_nulls_when_captured_then_the_record_keeps_null(post, tmp_path: Path) -> None:
    records, nulled = with_nulls(real_requests(20, skip=300), seed=9)
    status, body = post({"dataframe_records": records})
    assert status == 200
    [captured] = sorted((tmp_path / "capture").rglob("*.jsonl"))
    text = captured.read_text()
    assert "NaN" not in text  # JSON has no NaN: a stand-in would be invalid or a fake value
    lines = [json.loads(line) for line in text.splitlines()]
    for line, names, answer in zip(lines, nulled, answers(body), strict=True):
        assert [name for name in NUMERIC_NAMES if line["input"][name] is None] == names
        assert all(line["input"][name] is not None for name in CATEGORICAL_NAMES)
        assert line["decision"] == answer["decision"]


def test_given_nulls_when_explained_then_a_null_that_counted_against_is_reported_as_missing_information(
    post,
) -> None:
    records, nulled = with_nulls(real_requests(400, skip=500), seed=5)
    status, body = post({"data": records, "contributions": True})
    assert status == 200
    cited = 0
    for record, answer, names in zip(records, answers(body), nulled, strict=True):
        for reason in answer["reasons"]:
            if reason["field"] in names:  # a value not given can only be missing information
                assert reason["direction"] == "missing"
                assert reason["text"].startswith("Insufficient information about")
                assert answer["contributions"]["fields"][reason["field"]] < 0  # it counted against
                cited += 1
            elif reason["direction"] == "missing":  # otherwise only a category's no-information level
                assert reason["field"] in CATEGORICAL_NAMES
                assert parse_record(record)[0][reason["field"]] in ("Unknown", "NM")
    assert cited >= 20
