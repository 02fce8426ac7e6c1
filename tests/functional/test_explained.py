"""Explained answers through the handler: on by default, flags from the payload and the query, the
language from ``lang`` or ``Accept-Language``, additivity from the answer alone, reasons in the
capture and never in the log."""

from __future__ import annotations

import copy
import json

import numpy as np
import onnxruntime
import pytest

import app
from credit_score.contract.bundle import write_bundle
from credit_score.contract.fields import FIELD_NAMES, encode, parse_record
from credit_score.contract.reasons import REASONS_BY_CODE
from tests.support.bundles import synthetic_records
from tests.support.events import load_event
from tests.support.explained import Explained, explained  # noqa: F401 (fixture)
from tests.support.lambda_context import LambdaContext

RECORDS = synthetic_records(6, seed=3)


@pytest.fixture
def capture(monkeypatch, explained: Explained, tmp_path):  # noqa: F811
    for key in ("CAPTURE_SAMPLING_PERCENT", "MAX_BATCH_SIZE", "MAX_BODY_BYTES", "METRICS_ENABLED", "LOG_LEVEL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MODEL_DIR", str(explained.bundle.path))
    monkeypatch.setenv("CAPTURE_URI", str(tmp_path / "capture"))
    monkeypatch.setattr(app, "_service", None)
    return tmp_path / "capture"


def http(payload, *, query: dict | None = None, headers: dict | None = None) -> dict:
    event = load_event("http_api_post.json")
    event["body"] = json.dumps(payload)
    if query is not None:
        event["queryStringParameters"] = query
    event["headers"] = {**event.get("headers", {}), **(headers or {})}
    return event


def invoke(capsys, event) -> tuple[dict, list[str]]:
    capsys.readouterr()
    response = app.handler(copy.deepcopy(event), LambdaContext("0f6a3c1e-8b2d-4c5e-9f1a-2b3c4d5e6f70"))
    assert response["statusCode"] == 200 or response["statusCode"] >= 400
    return json.loads(response["body"]), capsys.readouterr().out.splitlines()


def test_single_records_and_batches_are_explained_by_default(capsys, capture) -> None:
    body, _ = invoke(capsys, http({"data": RECORDS[0]}))
    assert {"prediction", "label", "probabilities", "version", "reasons"} <= set(body)
    assert "contributions" not in body
    assert 1 <= len(body["reasons"]) <= 4
    for reason in body["reasons"]:
        entry = REASONS_BY_CODE[reason["code"]]
        assert (reason["field"], reason["direction"], reason["text"]) == (
            entry.field,
            entry.direction,
            entry.text["en"],
        )
    batch, _ = invoke(capsys, http({"dataframe_records": RECORDS}))
    assert all(prediction["reasons"] for prediction in batch["predictions"])


@pytest.mark.parametrize(
    ("payload_flags", "query"),
    [({"explain": False}, None), ({}, {"explain": "false"}), ({"explain": False}, {"explain": "true"})],
)
def test_explain_false_skips_the_explanation(capsys, capture, payload_flags, query) -> None:
    body, _ = invoke(capsys, http({"data": RECORDS[0], **payload_flags}, query=query))
    assert "reasons" not in body
    assert body["prediction"] in (0, 1, 2)
    batch, _ = invoke(capsys, http({"data": RECORDS, **payload_flags}, query=query))
    assert not any("reasons" in p for p in batch["predictions"])


@pytest.mark.parametrize("flag", [{"payload": True}, {"query": "true"}])
def test_contributions_let_anyone_check_additivity(capsys, capture, explained: Explained, flag) -> None:  # noqa: F811
    payload = {"data": RECORDS}
    if "payload" in flag:
        payload["contributions"] = True
    body, _ = invoke(capsys, http(payload, query={"contributions": flag["query"]} if "query" in flag else None))
    matrix = encode([parse_record(r)[0] for r in RECORDS])
    session = onnxruntime.InferenceSession(str(explained.bundle.model_path), providers=["CPUExecutionProvider"])
    (served_margins,) = session.run(["margins"], {"features": matrix})
    for i, answer in enumerate(body["predictions"]):
        contributions = answer["contributions"]
        assert set(contributions["fields"]) == set(FIELD_NAMES)
        total = sum(contributions["fields"].values()) + contributions["base_value"]
        assert abs(total - contributions["margin"]["value"]) < 1e-5
        expected = "standard_or_better" if answer["prediction"] == 0 else "good_given_standard"
        assert contributions["margin"]["name"] == expected
        column = 0 if answer["prediction"] == 0 else 1
        assert abs(contributions["margin"]["value"] - float(served_margins[i, column])) < 1e-4


@pytest.mark.parametrize(
    ("payload_lang", "query", "header", "language"),
    [
        (None, None, None, "en"),
        (None, None, "pt-BR,pt;q=0.9,en;q=0.8", "pt"),
        (None, None, "fr-FR, en;q=0.5", "en"),
        (None, None, "en;q=0.4, pt;q=0.6", "pt"),
        (None, {"lang": "pt"}, "en", "pt"),
        ("pt", None, None, "pt"),
        ("en", {"lang": "pt"}, "pt", "en"),
    ],
)
def test_the_language_is_picked(capsys, capture, payload_lang, query, header, language) -> None:
    payload = {"data": RECORDS[0]} | ({"lang": payload_lang} if payload_lang else {})
    body, _ = invoke(capsys, http(payload, query=query, headers={"accept-language": header} if header else None))
    assert [r["text"] for r in body["reasons"]] == [REASONS_BY_CODE[r["code"]].text[language] for r in body["reasons"]]


@pytest.mark.parametrize(
    ("payload_flags", "query"),
    [({"explain": "no way"}, None), ({"contributions": 1}, None), ({}, {"explain": "perhaps"}), ({"lang": "fr"}, None)],
)
def test_malformed_flags_are_a_400_that_does_not_echo_them(capsys, capture, payload_flags, query) -> None:
    body, _ = invoke(capsys, http({"data": RECORDS[0], **payload_flags}, query=query))
    assert body["error"] == "bad_request"
    assert "no way" not in body["message"]
    assert "perhaps" not in body["message"]
    assert "fr" not in body["message"]


def test_reasons_are_captured_and_never_logged(capsys, capture) -> None:
    body, lines = invoke(capsys, http({"data": RECORDS[0], "contributions": True}))
    codes = [r["code"] for r in body["reasons"]]
    (captured,) = [json.loads(line) for path in capture.rglob("*.jsonl") for line in path.read_text().splitlines()]
    assert captured["reasons"] == codes
    log = "\n".join(line for line in lines if '"_aws"' not in line)
    for code in codes:
        assert code not in log
    for value in RECORDS[0].values():
        assert f'"{value}"' not in log
        assert f":{value}," not in log


def test_alb_query_parameters_are_decoded(capsys, capture) -> None:
    event = load_event("alb_post.json")
    event["body"] = json.dumps({"data": RECORDS[0]})
    event["queryStringParameters"] = {"explain": "false"}
    body, _ = invoke(capsys, event)
    assert "reasons" not in body
    event["queryStringParameters"] = {"lang": "pt", "contributions": "%74rue"}  # ALB leaves "true" encoded
    body, _ = invoke(capsys, event)
    assert "contributions" in body
    assert body["reasons"][0]["text"] == REASONS_BY_CODE[body["reasons"][0]["code"]].text["pt"]


def test_rest_api_multi_value_query_and_header_case(capsys, capture) -> None:
    event = load_event("rest_api_post.json")
    event["body"] = json.dumps({"data": RECORDS[0]})
    event["multiValueQueryStringParameters"] = {"contributions": ["true", "false"]}
    event["headers"] = {**(event.get("headers") or {}), "Accept-Language": "pt"}
    body, _ = invoke(capsys, event)
    assert "contributions" in body
    assert body["reasons"][0]["text"] == REASONS_BY_CODE[body["reasons"][0]["code"]].text["pt"]


def test_direct_invocations_take_flags_from_the_payload(capsys, capture) -> None:
    body, _ = invoke(capsys, {"data": RECORDS[0], "explain": False})
    assert "reasons" not in body
    body, _ = invoke(capsys, {"data": RECORDS[0], "lang": "pt"})
    assert body["reasons"][0]["text"] == REASONS_BY_CODE[body["reasons"][0]["code"]].text["pt"]


def test_a_bundle_without_tables_answers_without_reasons(capsys, monkeypatch, explained, tmp_path) -> None:  # noqa: F811
    metadata = {
        key: value for key, value in explained.bundle.metadata.items() if key not in ("files", "format_version")
    }
    plain = write_bundle(tmp_path / "plain", explained.bundle.model_path.read_bytes(), metadata)
    monkeypatch.setenv("MODEL_DIR", str(plain.path))
    monkeypatch.delenv("CAPTURE_URI", raising=False)
    monkeypatch.setattr(app, "_service", None)
    body, _ = invoke(capsys, http({"data": RECORDS[0]}))
    assert "reasons" not in body
    assert body["prediction"] in (0, 1, 2)
    assert np.isfinite(list(body["probabilities"].values())).all()


def test_the_longest_explained_answer_fits_the_per_record_budget(explained) -> None:  # noqa: F811
    """Four reasons with the longest codes, Portuguese texts and every category listed as better, and
    all 21 contributions at their longest, as the envelope carries them (quotes and escapes twice)."""
    from credit_score.contract.fields import FIELDS
    from credit_score.runtime.config import ANSWER_BYTES_PER_RECORD
    from credit_score.runtime.explainer import Reason
    from credit_score.runtime.service import _encode

    def longest(reason_of: Reason) -> int:
        return len(_encode(reason_of.to_dict("pt")))

    candidates = []
    for index, f in enumerate(FIELDS):
        for direction in REASONS_BY_CODE.values():
            if direction.field == f.name:
                candidates.append(Reason(index, direction.direction, tuple(f.levels) if not f.is_numeric else ()))
    reasons = sorted(candidates, key=longest)[-4:]
    value = -123.123456789  # 9 decimals, the longest a contribution is written with
    answer = {
        "prediction": 1,
        "label": "Standard",
        "probabilities": {"Poor": 0.123456, "Standard": 0.123456, "Good": 0.123456},
        "reasons": [r.to_dict("pt") for r in reasons],
        "contributions": {
            "margin": {"name": "good_given_standard", "value": value},
            "base_value": value,
            "fields": dict.fromkeys(FIELD_NAMES, value),
        },
    }
    carried = len(_encode(_encode(answer)))  # the body is JSON text inside the JSON envelope
    assert carried <= ANSWER_BYTES_PER_RECORD
