"""Every answer fits its front door: ALB 1 MB, everything else Lambda's 6 MB (config.py cites AWS).

At the boundary of each envelope, with contributions and ``lang=pt`` (the longest answers): the
largest batch the service accepts is answered 200 and its envelope, serialised as the runtime client
does (non-ASCII escaped or not), fits; one record more is a 413 naming the limit and the largest
batch, decided before any model is asked (it is answered the same with no bundle at all). The
per-record budgets are checked against the longest answer the contract can produce.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import simplejson

import app
from credit_score.contract.fields import FIELD_NAMES, FIELDS, NUMERIC_NAMES
from credit_score.contract.reasons import REASONS_BY_CODE
from credit_score.runtime import config
from credit_score.runtime.events import detect
from credit_score.runtime.explainer import Reason
from tests.support.bundles import synthetic_records
from tests.support.explained import Explained, explained  # noqa: F401 (fixture)
from tests.support.lambda_context import LambdaContext
from tests.support.paths import EVENTS

OPTIONS = EVENTS / "options"
ENVELOPES = [*sorted(path.name for path in OPTIONS.glob("*.json")), "direct"]
CONTEXT = LambdaContext("0f6a3c1e-8b2d-4c5e-9f1a-2b3c4d5e6f70")


@pytest.fixture
def service(monkeypatch, explained: Explained):  # noqa: F811
    for key in ("CAPTURE_SAMPLING_PERCENT", "MAX_BODY_BYTES", "METRICS_ENABLED", "LOG_LEVEL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MODEL_DIR", str(explained.bundle.path))
    monkeypatch.setenv("CAPTURE_URI", "")
    monkeypatch.setenv("METRICS_ENABLED", "false")
    monkeypatch.setenv("MAX_BATCH_SIZE", str(config.MAX_BATCH_LIMIT))
    monkeypatch.setattr(app, "_service", None)
    return monkeypatch


def event_for(envelope: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The envelope's real shape asking for contributions in Portuguese (query ``lang=pt&contributions=true``)."""
    if envelope == "direct":
        return {"data": records, "contributions": True, "lang": "pt"}
    event = json.loads((OPTIONS / envelope).read_text())
    body = json.dumps({"data": records})
    key = "is_base64_encoded" if "raw_path" in event else "isBase64Encoded"
    event["body"], event[key] = body, False
    return event


def carried(response: dict[str, Any]) -> int:
    """The envelope's bytes as the runtime client writes them: simplejson, with or without ASCII escapes."""
    return max(
        len(simplejson.dumps(response, ensure_ascii=True).encode()),
        len(simplejson.dumps(response, ensure_ascii=False).encode()),
    )


def limit_of(envelope: str) -> int:
    return detect(event_for(envelope, [])).response_bytes


def fits(envelope: str) -> int:
    largest = config.largest_batch(limit_of(envelope), explain=True, contributions=True)
    return min(largest, config.MAX_BATCH_LIMIT)


@pytest.mark.parametrize("envelope", ENVELOPES)
def test_given_the_largest_batch_with_contributions_in_portuguese_when_answered_then_it_fits(service, envelope):
    count = fits(envelope)
    response = app.handler(event_for(envelope, synthetic_records(count, seed=11)), CONTEXT)
    assert response["statusCode"] == 200, response["body"][:300]
    answer = json.loads(response["body"])
    assert len(answer["predictions"]) == count
    assert "contributions" in answer["predictions"][0]
    assert (
        answer["predictions"][0]["reasons"][0]["text"]
        == REASONS_BY_CODE[answer["predictions"][0]["reasons"][0]["code"]].text["pt"]
    )
    assert carried(response) <= limit_of(envelope)


@pytest.mark.parametrize("envelope", ENVELOPES)
def test_given_one_record_more_when_posted_then_413_naming_limit_and_largest_batch_before_any_model(
    service, envelope, tmp_path
):
    service.setenv("MODEL_DIR", str(tmp_path / "no-bundle"))  # a scored request would be a 500
    count = fits(envelope) + 1
    response = app.handler(event_for(envelope, synthetic_records(count, seed=12)), CONTEXT)
    assert response["statusCode"] == 413
    message = json.loads(response["body"])["message"]
    if count <= config.MAX_BATCH_LIMIT:  # the front door's limit binds before MAX_BATCH_SIZE
        assert f"{limit_of(envelope)} bytes" in message
        assert f"no máximo {count - 1} registros" in message  # lang=pt: the 413 in Portuguese too
    else:
        assert str(config.MAX_BATCH_LIMIT) in message


def test_given_an_alb_when_options_shrink_the_answer_then_more_records_fit(service):
    """Without contributions, and without explanations, the ALB takes larger batches; each boundary holds."""
    for query, explain, contributions in (({"explain": "false"}, False, False), ({}, True, False)):
        largest = config.largest_batch(config.ALB_RESPONSE_BYTES, explain=explain, contributions=contributions)
        event = event_for("alb_post.json", synthetic_records(largest + 1, seed=13))
        event["queryStringParameters"] = {"lang": "pt", **query}
        response = app.handler(copy.deepcopy(event), CONTEXT)
        assert response["statusCode"] == 413
        assert f"no máximo {largest} registros" in json.loads(response["body"])["message"]  # lang=pt
        event["body"] = json.dumps({"data": synthetic_records(largest, seed=13)})
        response = app.handler(event, CONTEXT)
        assert response["statusCode"] == 200
        assert carried(response) <= config.ALB_RESPONSE_BYTES


def _per_record(answer: dict[str, Any]) -> int:
    """One record's share of the envelope: its JSON inside the body string, plus the comma between records."""
    body = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    return max(len(json.dumps(body, ensure_ascii=True)), len(json.dumps(body, ensure_ascii=False).encode())) - 2 + 1


def test_given_the_longest_answer_the_contract_can_give_when_measured_then_within_each_budget(service):
    """A real record's answer (prediction, probabilities, decision block, whatever else it carries), then
    the four longest reasons in Portuguese with every category listed as better, then all 21
    contributions at their longest."""
    response = app.handler(event_for("direct", synthetic_records(2, seed=14)), CONTEXT)
    answer = json.loads(response["body"])["predictions"][0]
    plain = {k: v for k, v in answer.items() if k not in ("reasons", "contributions")}
    plain["probabilities"] = dict.fromkeys(plain["probabilities"], 0.123456)
    plain["decision"] = {name: {"p": 0.123456, "cutoff": 0.123456} for name in plain["decision"]}
    plain["missing_fields"] = list(NUMERIC_NAMES)  # every number sent as null
    assert _per_record(plain) <= config.ANSWER_BYTES_PLAIN

    candidates = [
        Reason(index, entry.direction, tuple(f.levels) if not f.is_numeric else ())
        for index, f in enumerate(FIELDS)
        for entry in REASONS_BY_CODE.values()
        if entry.field == f.name
    ]
    longest = sorted(candidates, key=lambda reason: _per_record(reason.to_dict("pt")))[-4:]
    explained_answer = {**plain, "reasons": [reason.to_dict("pt") for reason in longest]}
    assert _per_record(explained_answer) - _per_record(plain) <= config.ANSWER_BYTES_REASONS
    value = -123.123456789  # the longest a contribution is written with
    contributions = {
        "margin": {"name": "good_given_standard", "value": value},
        "base_value": value,
        "fields": dict.fromkeys(FIELD_NAMES, value),
    }
    full = {**explained_answer, "contributions": contributions}
    assert _per_record(full) - _per_record(explained_answer) <= config.ANSWER_BYTES_CONTRIBUTIONS
