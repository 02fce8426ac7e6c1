"""Property-based fuzzing of app.handler: whatever arrives, an answer, never a 5xx, never an echo.

Generated events follow every source shape the handler knows (HTTP API v2, Function URL, REST API,
ALB, direct, the seed's ``{"body": ...}``) plus arbitrary JSON; payloads mix valid records, the raw
data's dirty spellings, wrong types, missing and extra keys, and every batch shape. Strings carry a
marker that must never come back in a response. The default run generates 10,000 cases; the
``slow`` variants as many again with larger batches.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_score.contract import fields as features
from credit_score.contract.fields import FIELDS, PROBLEM_KINDS
from tests.reliability.conftest import Context, handler_for, settings_for
from tests.support.paths import EVENTS

# Heavy (16,000 generated cases): `make test` runs it, `make test-fast` does not.
pytestmark = pytest.mark.slow

MARKER = "Zq7mark"
TEMPLATES = {
    name: json.loads((EVENTS / f"{name}.json").read_text())
    for name in ("http_api_post", "function_url_post", "rest_api_post", "alb_post", "alb_multi_value_post")
}
MAX_BATCH = 8
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DIRTY = (
    "52312.68_",
    "_",
    "_______",
    "!@9#%8",
    "NM",
    "",
    " ",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e309",
    "__10000__",
    "22 Years and 1 Months",
    "Desconhecido",
    "unknown",
    "ACCOUNTANT",
    " 40 ",
    "0x10",
    "1_000",
    "-0",
    "1e2",
)

marked_text = st.text(max_size=12).map(lambda text: MARKER + text)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    marked_text,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def valid_value(f: features.Field) -> st.SearchStrategy[Any]:
    if not f.is_numeric:
        return st.sampled_from(f.levels)
    low, high = int(f.minimum), int(f.maximum)  # type: ignore[arg-type]
    if f.integer:
        number: st.SearchStrategy[Any] = st.integers(low, high)
    else:
        number = st.floats(low, high, allow_nan=False)
    return st.one_of(number, number.map(str))


def value(f: features.Field) -> st.SearchStrategy[Any]:
    good = valid_value(f)
    return st.one_of(good, good, good, st.sampled_from(DIRTY), junk)


complete_record = st.fixed_dictionaries({f.name: value(f) for f in FIELDS})
partial_record = st.fixed_dictionaries({}, optional={f.name: value(f) for f in FIELDS})
extra_keys = st.dictionaries(marked_text, junk, max_size=2)
record = st.builds(lambda base, extra: {**extra, **base}, st.one_of(complete_record, partial_record), extra_keys)


def records(max_size: int) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.one_of(record, record, record, junk), max_size=max_size)


def split_payload(max_size: int) -> st.SearchStrategy[Any]:
    columns = st.lists(st.one_of(st.sampled_from(features.FIELD_NAMES), marked_text), max_size=24)
    rows = st.lists(st.lists(st.one_of(junk, st.sampled_from(DIRTY)), max_size=24), max_size=max_size)
    proper = st.lists(complete_record, min_size=1, max_size=max_size).map(
        lambda rows: {"columns": list(rows[0]), "data": [list(row.values()) for row in rows]}
    )
    return st.one_of(st.fixed_dictionaries({"columns": columns, "data": rows}), proper, junk)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), marked_text),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(marked_text, inner, max_size=4),
    max_leaves=12,
)


def payloads(max_size: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(lambda r: {"data": r}, record),
        st.builds(lambda r: {"data": r}, records(max_size)),
        st.builds(lambda r: {"dataframe_records": r}, records(max_size)),
        st.builds(lambda r: {"instances": r}, records(max_size)),
        st.builds(lambda s: {"dataframe_split": s}, split_payload(max_size)),
        st.builds(lambda r, i: {"data": r, "instances": i}, record, records(2)),
        st.builds(lambda r, extra: {**extra, "data": r}, record, st.dictionaries(marked_text, junk, max_size=2)),
        json_values,
    )


def bodies(max_size: int) -> st.SearchStrategy[tuple[Any, Any]]:
    """(body, isBase64Encoded) pairs: JSON text, base64 of it, broken JSON, binary, junk."""
    text = payloads(max_size).map(lambda p: json.dumps(p, allow_nan=True))
    return st.one_of(
        st.tuples(text, st.just(False)),
        st.tuples(text.map(lambda t: base64.b64encode(t.encode()).decode()), st.just(True)),
        st.tuples(text.map(lambda t: t[: len(t) // 2]), st.booleans()),
        st.tuples(st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()), st.just(True)),
        st.tuples(marked_text, st.one_of(st.booleans(), junk)),
        st.tuples(junk, junk),
    )


methods = st.one_of(st.sampled_from(["POST", "POST", "GET", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]), junk)
paths = st.one_of(st.sampled_from(["/", "/predict", "/health", "/prod/health", "/prod/predict", "/nope"]), junk)


def http_events(max_size: int) -> st.SearchStrategy[dict[str, Any]]:
    def build(template: str, method: Any, path: Any, body: tuple[Any, Any]) -> dict[str, Any]:
        event = json.loads(json.dumps(TEMPLATES[template]))
        if "http" in event["requestContext"]:
            event["requestContext"]["http"]["method"] = method
            event["rawPath"] = path
        else:
            event["httpMethod"], event["path"] = method, path
        event["body"], event["isBase64Encoded"] = body
        return event

    return st.builds(build, st.sampled_from(sorted(TEMPLATES)), methods, paths, bodies(max_size))


def direct_events(max_size: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        payloads(max_size),
        st.builds(lambda b: {"body": b[0]}, bodies(max_size)),
        st.builds(lambda p: {"body": p}, payloads(max_size)),
        st.builds(lambda c, p: {"requestContext": c, **p}, json_values, st.dictionaries(marked_text, junk, max_size=3)),
        json_values,
    )


def check(response: Any) -> None:
    """The invariants every answer keeps, whatever the event."""
    assert isinstance(response, dict)
    status = response["statusCode"]
    assert type(status) is int
    assert status == 200 or 400 <= status < 500, response
    text = response["body"]
    assert MARKER not in text
    document = json.loads(text)
    assert isinstance(document, dict)
    if status == 200 and "status" in document:  # GET /health
        assert document["status"] == "ok"
        return
    if status == 200:
        answers = document.get("predictions", [document])
        for answer in answers:
            assert math.isclose(sum(answer["probabilities"].values()), 1.0, abs_tol=1e-4)
        return
    assert isinstance(document["error"], str)
    assert isinstance(document["message"], str)
    assert isinstance(document["request_id"], str)
    if status == 422:
        assert document["details"]
        for problem in document["details"]:
            assert problem["field"] in features.FIELD_NAMES
            assert type(problem["index"]) is int
            assert problem["index"] >= 0
            assert problem["problem"] in PROBLEM_KINDS
            assert problem["field"] in problem["message"]


@pytest.fixture(scope="module")
def handler(tiny_bundle: Path):
    with handler_for(settings_for(tiny_bundle, max_batch_size=MAX_BATCH, max_body_bytes=16_384)) as bound:
        yield bound


@settings(FUZZ, max_examples=4_000)
@given(event=http_events(max_size=4))
def test_given_fuzzed_http_events_when_handled_then_4xx_or_200_without_echo(handler, event):
    check(handler(event, Context()))


@settings(FUZZ, max_examples=4_000)
@given(event=direct_events(max_size=4))
def test_given_fuzzed_direct_invocations_when_handled_then_4xx_or_200_without_echo(handler, event):
    check(handler(event, Context()))


@settings(FUZZ, max_examples=2_000)
@given(payload=payloads(max_size=4))
def test_given_fuzzed_payloads_when_handled_then_every_problem_names_its_field(handler, payload):
    response = handler(payload, Context())
    check(response)
    if response["statusCode"] == 422:
        document = json.loads(response["body"])
        for problem in document["details"]:
            assert problem["index"] < MAX_BATCH


@pytest.mark.slow
@settings(FUZZ, max_examples=6_000)
@given(event=st.one_of(http_events(max_size=MAX_BATCH + 2), direct_events(max_size=MAX_BATCH + 2)))
def test_given_larger_fuzzed_batches_when_handled_then_same_invariants(handler, event):
    check(handler(event, Context()))
