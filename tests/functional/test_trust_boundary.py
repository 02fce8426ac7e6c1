"""The trust boundary end to end: server-owned identity and keys, no customer value in any output line,
bounded answers, every 4xx without a model, through the real handler on real-shaped events."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest

import app
from credit_score.contract.capture import FALLBACK_MESSAGE
from credit_score.runtime import config
from credit_score.runtime.errors import MAX_DETAILS, MAX_ERROR_BODY_BYTES
from tests.support.bundles import synthetic_records, tiny_bundle  # noqa: F401
from tests.support.events import POST_EVENTS, load_event
from tests.support.lambda_context import LambdaContext
from tests.support.moto import aws_fixture, moto_endpoint_fixture  # noqa: F401 - fixtures
from tests.support.paths import seed_payload

SEED = seed_payload()
HTTP_POSTS = tuple(name for name in POST_EVENTS if not name.startswith("direct"))
HOSTILE_IDS = [
    "Root=1/../../x",
    "../../../../../tmp/escaped",
    "Root=" + "7" * 10_000,
    "Root=1-\u0664\u0660-\U0001d7d2-é",
    "a\\..\\..\\b",
    "/absolute",
    "id\nforged-line",
]
# Distinctive values planted in requests and searched for in every output line.
PLANTED_INCOME, PLANTED_DEBT = "87654.3219", "2345.6781"
PLANTED_KEY, PLANTED_METHOD, PLANTED_PATH = "planted_key_Zq81", "PLANTEDVERB", "/planted-path-Zq81"
PLANTED = (PLANTED_INCOME[:9], PLANTED_DEBT[:8], PLANTED_KEY, PLANTED_METHOD, PLANTED_PATH)


def call(event: Any, request_id: str | None = None) -> dict[str, Any]:
    return app.handler(copy.deepcopy(event), LambdaContext(request_id))


def set_source_id(event: dict[str, Any], value: str) -> dict[str, Any]:
    """Put ``value`` in every field a source's own id is read from (request id, trace header)."""
    event = copy.deepcopy(event)
    if "requestId" in event.get("requestContext", {}):
        event["requestContext"]["requestId"] = value
    if isinstance(event.get("multiValueHeaders"), dict):
        event["multiValueHeaders"]["x-amzn-trace-id"] = [value]
    if isinstance(event.get("headers"), dict):
        as_list = isinstance(event["headers"].get("x-amzn-trace-id"), list)  # VPC Lattice
        event["headers"]["x-amzn-trace-id"] = [value] if as_list else value
    return event


def http_event(payload: Any, *, method: str = "POST", path: str = "/predict") -> dict[str, Any]:
    event = load_event("http_api_post.json")
    event["requestContext"]["http"].update(method=method, path=path)
    event["rawPath"] = path
    event["body"] = payload if isinstance(payload, str) else json.dumps(payload)
    return event


def body_of(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["body"])


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    return response.get("headers") or {key: values[0] for key, values in response["multiValueHeaders"].items()}


# --- identity and keys -------------------------------------------------------------------------


@pytest.mark.parametrize("name", HTTP_POSTS)
@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
def test_given_hostile_source_id_when_captured_to_a_folder_then_server_id_and_key_inside(
    container, capsys, name, hostile
):
    response = call(set_source_id(load_event(name), hostile), "5f0c8e9a-3b1d-4c2e-9f8a-7b6c5d4e3f2a")
    out = capsys.readouterr().out
    assert response["statusCode"] == 200
    assert (
        body_of(response)["request_id"]
        == headers_of(response)["X-Request-Id"]
        == "5f0c8e9a-3b1d-4c2e-9f8a-7b6c5d4e3f2a"
    )
    files = [path for path in container.parent.rglob("*") if path.is_file()]
    assert len(files) == 1
    assert files[0].is_relative_to(container)
    assert files[0].name.endswith("-5f0c8e9a-3b1d-4c2e-9f8a-7b6c5d4e3f2a.jsonl")
    record = json.loads(files[0].read_text())
    assert record["request_id"] == "5f0c8e9a-3b1d-4c2e-9f8a-7b6c5d4e3f2a"
    assert record["correlation_id"] is None
    assert hostile not in out
    [line] = [json.loads(text) for text in out.splitlines() if '"message":"request"' in text]
    assert "correlation_id" not in line


def test_given_repeated_source_id_when_captured_then_one_object_per_invocation(container, capsys):
    event = set_source_id(load_event("alb_post.json"), "Root=1-65f1c2d3-000000000000000000000000")
    ids = [call(event)["headers"]["X-Request-Id"] for _ in range(3)]
    assert len(set(ids)) == 3
    files = sorted(container.rglob("*.jsonl"))
    assert len(files) == 3
    records = [json.loads(path.read_text()) for path in files]
    assert {record["correlation_id"] for record in records} == {"Root=1-65f1c2d3-000000000000000000000000"}
    assert sorted(record["request_id"] for record in records) == sorted(ids)


def test_given_no_lambda_context_when_invoked_then_a_fresh_uuid4(container):
    response = app.handler(load_event("alb_post.json"), None)
    request_id = response["headers"]["X-Request-Id"]
    assert len(request_id) == 36
    assert request_id[14] == "4"


@pytest.mark.parametrize("name", HTTP_POSTS)
def test_given_hostile_source_ids_when_captured_to_s3_then_keys_under_the_prefix_only(
    container, monkeypatch, aws, name
):
    bucket = "capture-" + name.replace("_", "-").removesuffix(".json")
    boto3.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    monkeypatch.setenv("CAPTURE_URI", f"s3://{bucket}/predictions")
    monkeypatch.setattr(app, "_service", None)
    sent = [call(set_source_id(load_event(name), hostile)) for hostile in HOSTILE_IDS]
    assert [response["statusCode"] for response in sent] == [200] * len(HOSTILE_IDS)
    keys = [item["Key"] for item in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == len(HOSTILE_IDS)
    server_ids = {headers_of(response)["X-Request-Id"] for response in sent}
    for key in keys:
        assert key.startswith("predictions/model=credit-score-classifier/version=7/year=")
        assert ".." not in key
        assert "\\" not in key
        assert key.count("/") == 7
        assert key.rsplit("/", 1)[1].split("-", 1)[1].removesuffix(".jsonl") in server_ids


# --- no customer value in any output line -------------------------------------------------------


def planted_record() -> dict[str, Any]:
    return {**SEED["data"], "Annual_Income": PLANTED_INCOME, "Outstanding_Debt": PLANTED_DEBT, PLANTED_KEY: "1"}


def routes() -> list[tuple[str, dict[str, Any], int]]:
    record = planted_record()
    broken = json.dumps({"data": record})[:-3]
    return [
        ("200 single", http_event({"data": record}), 200),
        ("200 batch", http_event({"data": [record, record]}), 200),
        ("200 lattice", {**load_event("vpc_lattice_v2_post.json"), "body": json.dumps({"data": record})}, 200),
        ("400 json", http_event(broken), 400),
        ("400 shape", http_event({PLANTED_KEY: record}), 400),
        ("404", http_event({"data": record}, method="GET", path=PLANTED_PATH), 404),
        ("405", http_event({"data": record}, method=PLANTED_METHOD), 405),
        ("413", http_event({"data": [record] * 4}), 413),
        ("422", http_event({"data": [record, {**record, "Age": PLANTED_INCOME}]}), 422),
    ]


def assert_nothing_planted(text: str) -> None:
    for line in text.splitlines():
        if f'"message":"{FALLBACK_MESSAGE}"' in line:
            continue
        for planted in PLANTED:
            assert planted not in line, (planted, line[:300])


def test_given_planted_values_on_every_route_when_output_searched_then_none_found(container, capfd, monkeypatch):
    monkeypatch.setenv("MAX_BATCH_SIZE", "3")
    statuses = [(label, call(event)["statusCode"], status) for label, event, status in routes()]
    assert [(label, got) for label, got, _ in statuses] == [(label, want) for label, _, want in statuses]
    out, err = capfd.readouterr()
    assert '"ColdStart":1' in out, "the cold start is among the routes searched"
    assert '"model_loaded"' in out
    assert_nothing_planted(out + err)


def test_given_model_failure_when_predicting_then_500_and_no_planted_value(container, capfd, monkeypatch):
    from credit_score.runtime.model import Model

    def fail(self, matrix):
        raise RuntimeError(f"scoring failed on {PLANTED_INCOME} {PLANTED_KEY}")

    monkeypatch.setattr(Model, "predict", fail)
    response = call(http_event({"data": planted_record()}))
    assert response["statusCode"] == 500
    out, err = capfd.readouterr()
    assert '"internal_error"' in out
    assert_nothing_planted(out + err + response["body"])


def test_given_missing_bundle_when_every_route_is_tried_then_4xx_as_usual_500_otherwise_nothing_planted(
    container, capfd, monkeypatch, tmp_path
):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "no-model"))
    monkeypatch.setenv("MAX_BATCH_SIZE", "3")
    got = {label: call(event)["statusCode"] for label, event, _ in routes()}
    expected = {label: (500 if status == 200 else status) for label, _, status in routes()}
    assert got == expected
    assert call(load_event("http_api_get_health.json"))["statusCode"] == 500
    out, err = capfd.readouterr()
    assert '"model_load_failed"' in out
    assert_nothing_planted(out + err)


def test_given_misconfiguration_when_invoked_then_500_and_nothing_planted(container, capfd, monkeypatch):
    monkeypatch.setenv("MAX_BATCH_SIZE", PLANTED_INCOME)
    event = set_source_id(http_event({"data": planted_record()}), PLANTED_KEY)
    response = call(event, "1c7e5a3b-8d9f-4e2a-b6c4-0a1b2c3d4e5f")
    assert response["statusCode"] == 500
    assert body_of(response)["request_id"] == "1c7e5a3b-8d9f-4e2a-b6c4-0a1b2c3d4e5f"
    out, err = capfd.readouterr()
    [line] = [json.loads(text) for text in out.splitlines()]
    assert (line["request_id"], line["correlation_id"]) == ("1c7e5a3b-8d9f-4e2a-b6c4-0a1b2c3d4e5f", PLANTED_KEY)
    # The correlation id is the one client string the log may carry, sanitised; the values are not.
    assert_nothing_planted((out + err).replace(PLANTED_KEY, ""))


def test_given_capture_down_when_predicting_then_values_only_in_fallback_lines(container, capfd, monkeypatch):
    blocker = container.parent / "blocked"
    blocker.write_text("a file where the capture folder should be")
    monkeypatch.setenv("CAPTURE_URI", str(blocker))
    response = call(http_event({"data": planted_record()}))
    assert response["statusCode"] == 200
    out, err = capfd.readouterr()
    fallbacks = [line for line in out.splitlines() if FALLBACK_MESSAGE in line]
    assert len(fallbacks) == 1
    assert PLANTED_INCOME[:9] in fallbacks[0], "the documented exception keeps the record"
    assert_nothing_planted(out + err)


# --- bounded answers ----------------------------------------------------------------------------


def envelope_bytes(response: dict[str, Any]) -> int:
    return len(json.dumps(response).encode())


@pytest.mark.parametrize("count", [1, 10, 100, 1000])
def test_given_empty_records_when_posted_then_422_bounded_whatever_the_batch(container, count):
    request = json.dumps({"data": [{}] * count})
    response = call(http_event(request))
    body = body_of(response)
    assert response["statusCode"] == 422
    assert len(response["body"].encode()) <= MAX_ERROR_BODY_BYTES
    assert len(body["details"]) <= MAX_DETAILS
    assert body["problem_count"] == 21 * count
    assert sum(body["counts"]["by_field"].values()) == 21 * count
    assert body["counts"]["by_problem"] == {"missing": 21 * count}
    assert body["truncated"] is (21 * count > MAX_DETAILS)
    assert envelope_bytes(response) <= MAX_ERROR_BODY_BYTES + 1024, "the envelope adds headers only"
    if count >= 1000:
        assert envelope_bytes(response) / len(request) < 8, "was 900x before the bound (3.66 MB for 4 kB)"


HOSTILE_BODIES = {
    "long keys": {"data": [{"k" * 5000 + str(i): "1" for i in range(100)}] * 10},
    "long values": {"data": [{name: "9" * 20_000 for name in SEED["data"]}] * 10},
    "deep nesting": {"data": {"Age": [[[[[[[[[[["x" * 1000]]]]]]]]]]]}},
    "many columns": {"dataframe_split": {"columns": ["c" * 200 + str(i) for i in range(2000)], "data": [[1] * 2000]}},
    "wrong shape": {"q" * 50_000: 1},
}


@pytest.mark.parametrize("name", HOSTILE_BODIES)
def test_given_hostile_shape_when_posted_then_small_4xx_without_echo(container, name):
    request = json.dumps(HOSTILE_BODIES[name])
    response = call(http_event(request))
    assert 400 <= response["statusCode"] < 500
    assert len(response["body"].encode()) <= MAX_ERROR_BODY_BYTES
    assert envelope_bytes(response) <= max(2 * len(request), 8192)
    for fragment in ("kkkkkkkkkk", "9999999999", "xxxxxxxxxx", "cccccccccc", "qqqqqqqqqq"):
        assert fragment not in response["body"]


@pytest.mark.parametrize(("method", "path"), [("X" * 100_000, "/predict"), ("GET", "/" + "p" * 100_000)])
def test_given_huge_method_or_path_when_invoked_then_small_answer_without_echo(container, method, path):
    response = call(http_event("", method=method, path=path))
    assert response["statusCode"] in (404, 405)
    assert len(response["body"]) < 300
    assert "XXXXXXXXXX" not in response["body"]
    assert "pppppppppp" not in response["body"]


def test_given_largest_allowed_batch_when_answered_then_it_fits_the_lambda_response_limit(container, monkeypatch):
    monkeypatch.setenv("MAX_BATCH_SIZE", str(config.MAX_BATCH_LIMIT))
    monkeypatch.setenv("CAPTURE_URI", "")
    records = synthetic_records(config.MAX_BATCH_LIMIT, seed=3)
    response = call(http_event({"data": records}))
    assert response["statusCode"] == 200
    size = envelope_bytes(response)
    assert size <= config.LAMBDA_RESPONSE_BYTES
    per_record = (size - config.ANSWER_ENVELOPE_BYTES) / config.MAX_BATCH_LIMIT
    assert per_record <= config.ANSWER_BYTES_PER_RECORD, "raise ANSWER_BYTES_PER_RECORD with the answer"
    assert config.MAX_BATCH_LIMIT * config.ANSWER_BYTES_PER_RECORD + config.ANSWER_ENVELOPE_BYTES <= (
        config.LAMBDA_RESPONSE_BYTES
    )


def test_given_batch_size_beyond_the_response_limit_when_configured_then_refused(container, monkeypatch, capsys):
    monkeypatch.setenv("MAX_BATCH_SIZE", str(config.MAX_BATCH_LIMIT + 1))
    response = call(load_event("http_api_post.json"))
    assert response["statusCode"] == 500
    assert body_of(response)["error"] == "configuration_error"
    assert "MAX_BATCH_SIZE must be <=" in capsys.readouterr().out


@pytest.mark.parametrize("bundle", ["present", "missing"])
def test_given_an_invocation_when_logged_then_every_line_carries_the_lambda_request_id(
    container, capsys, monkeypatch, tmp_path, bundle
):
    if bundle == "missing":
        monkeypatch.setenv("MODEL_DIR", str(tmp_path / "no-model"))
    call(load_event("alb_post.json"), "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a")
    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines() if '"_aws"' not in text]
    per_request = [line for line in lines if line["message"] != "capture_disabled"]
    assert len(per_request) >= 2, [line["message"] for line in lines]
    assert {line["request_id"] for line in per_request} == {"9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"}
