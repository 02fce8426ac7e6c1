"""Event sources told apart by shape, bodies decoded, request ids chosen, answers enveloped per source."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from credit_score.runtime.errors import BadRequest, PayloadTooLarge, UnsupportedEvent
from credit_score.runtime.events import (
    MAX_CORRELATION_ID,
    Alb,
    Direct,
    FunctionUrl,
    HttpApi,
    LatticeV1,
    LatticeV2,
    RestApi,
    Unknown,
    correlation_id,
    detect,
    request_id,
)
from tests.support.events import BODY_EVENTS
from tests.support.lambda_context import LambdaContext
from tests.support.paths import EVENTS, seed_payload

SEED = seed_payload()
LIMIT = 6 * 1024 * 1024


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


REQUEST_ID = "0b5e6a7c-1d2e-4f3a-8b9c-0d1e2f3a4b5c"


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("rest_api_post.json", RestApi),
        ("rest_api_post_base64.json", RestApi),
        ("rest_api_get_health.json", RestApi),
        ("http_api_post.json", HttpApi),
        ("http_api_post_base64.json", HttpApi),
        ("http_api_get_health.json", HttpApi),
        ("function_url_post.json", FunctionUrl),
        ("function_url_post_base64.json", FunctionUrl),
        ("alb_post.json", Alb),
        ("alb_post_base64.json", Alb),
        ("alb_multi_value_post.json", Alb),
        ("alb_get_health.json", Alb),
        ("direct.json", Direct),
        ("direct_legacy_body.json", Direct),
        ("vpc_lattice_v1_post.json", LatticeV1),
        ("vpc_lattice_v1_post_base64.json", LatticeV1),
        ("vpc_lattice_v1_get_health.json", LatticeV1),
        ("vpc_lattice_v2_post.json", LatticeV2),
        ("vpc_lattice_v2_post_base64.json", LatticeV2),
        ("vpc_lattice_v2_get_health.json", LatticeV2),
    ],
)
def test_given_real_shaped_event_when_detected_then_its_source(name, source):
    assert type(detect(load(name))) is source


@pytest.mark.parametrize("name", BODY_EVENTS)
def test_given_post_event_when_read_then_body_decodes_to_the_seed_payload(name):
    request = detect(load(name)).request(LIMIT)
    assert request.method == "POST"
    assert request.raw
    assert json.loads(request.body) == SEED


def test_given_direct_event_when_read_then_the_event_is_the_payload():
    request = detect(SEED).request(LIMIT)
    assert request.body is SEED
    assert not request.raw


def test_given_legacy_body_as_object_when_read_then_it_is_the_payload():
    request = detect({"body": SEED}).request(LIMIT)
    assert request.body == SEED
    assert not request.raw


@pytest.mark.parametrize(
    ("name", "method", "path"),
    [
        ("rest_api_get_health.json", "GET", "/health"),
        ("http_api_get_health.json", "GET", "/health"),
        ("alb_get_health.json", "GET", "/health"),
        ("rest_api_post.json", "POST", "/predict"),
        ("function_url_post.json", "POST", "/"),
        ("vpc_lattice_v1_get_health.json", "GET", "/health"),
        ("vpc_lattice_v2_get_health.json", "GET", "/health"),
        ("vpc_lattice_v1_post.json", "POST", "/predict"),
        ("vpc_lattice_v2_post.json", "POST", "/predict"),
    ],
)
def test_given_http_event_when_read_then_method_and_path(name, method, path):
    request = detect(load(name)).request(LIMIT)
    assert (request.method, request.path) == (method, path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rest_api_post.json", "3c2e8a41-9f0b-4d6e-8a77-5b1c0e9d2f10"),
        ("http_api_post.json", "UkXq1jvHoAMEbwQ="),
        ("function_url_post.json", "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"),
        ("alb_post.json", "Root=1-65f1c2d3-7e8f9a0b1c2d3e4f5a6b7c8d"),
        ("alb_multi_value_post.json", "Root=1-65f1c2d3-2c3d4e5f6a7b8c9d0e1f2a3b"),
        ("vpc_lattice_v1_post.json", "Root=1-65f1c2d3-4b5c6d7e8f9a0b1c2d3e4f5a"),
        ("vpc_lattice_v2_post.json", "Root=1-65f1c2d3-7e8f9a0b1c2d3e4f5a6b7c8d"),
        ("direct.json", None),
    ],
)
def test_given_event_when_asked_for_correlation_id_then_the_source_own_id(name, expected):
    assert detect(load(name)).correlation_id() == expected


def test_given_any_context_when_asked_for_request_id_then_the_lambda_id_never_the_source():
    assert request_id(LambdaContext(REQUEST_ID)) == REQUEST_ID


def test_given_no_context_when_asked_for_request_id_then_a_fresh_uuid4():
    first, second = request_id(None), request_id(None)
    assert first != second
    assert len(first) == 36
    assert first[14] == "4"


@pytest.mark.parametrize("candidate", ["../x", "a/b", "x" * 65, "", "a b", "a\nb", "é"])
def test_given_context_with_unusable_id_when_asked_for_request_id_then_a_fresh_uuid4(candidate):
    assert len(request_id(type("Context", (), {"aws_request_id": candidate})())) == 36


@pytest.mark.parametrize(
    "candidate",
    [
        "a b",
        "<script>",
        "x" * (MAX_CORRELATION_ID + 1),
        "",
        "-leading",
        "id\nforged",
        123,
        None,
        "ünïcode",
        "Root=1/../../x",
        "a;b",
        "..",
        "a\\b",
    ],
)
def test_given_unsafe_correlation_id_when_checked_then_refused(candidate):
    assert correlation_id(candidate) is None


def test_given_longest_safe_token_when_checked_then_kept():
    assert correlation_id("a" * MAX_CORRELATION_ID) == "a" * MAX_CORRELATION_ID


@pytest.mark.parametrize(
    "trace",
    ["Root=1/../../x", 'Root=1"}, {"forged": "line', "Root=" + "9" * 10_000, "Root=1-\u0661\u0662", "../../etc/passwd"],
)
@pytest.mark.parametrize("name", ["alb_post.json", "alb_multi_value_post.json", "vpc_lattice_v2_post.json"])
def test_given_hostile_trace_header_when_read_then_no_correlation_id(name, trace):
    event = load(name)
    if "multiValueHeaders" in event:
        event["multiValueHeaders"]["x-amzn-trace-id"] = [trace]
    elif isinstance(event["headers"]["x-amzn-trace-id"], list):
        event["headers"]["x-amzn-trace-id"] = [trace]
    else:
        event["headers"]["x-amzn-trace-id"] = trace
    assert detect(event).correlation_id() is None


def test_given_trace_header_extended_by_the_client_when_read_then_only_its_root():
    event = load("alb_post.json")
    event["headers"]["x-amzn-trace-id"] = "Root=1-65f1c2d3-7e8f9a0b1c2d3e4f5a6b7c8d;Self=1-abc;x=../../y"
    assert detect(event).correlation_id() == "Root=1-65f1c2d3-7e8f9a0b1c2d3e4f5a6b7c8d"


@pytest.mark.parametrize(
    ("event", "source"),
    [
        ({"requestContext": {"elb": {}}, "httpMethod": "POST", "version": "2.0"}, Alb),
        ({"version": "1.0", "httpMethod": "POST", "requestContext": {"requestId": "a"}, "body": "{}"}, RestApi),
        (
            {"version": "2.0", "requestContext": {"http": {"method": "POST"}, "domainName": "x.lambda-url.eu"}},
            FunctionUrl,
        ),
        ({"version": "2.0", "requestContext": {"http": {"method": "POST"}, "domainName": "api.example.com"}}, HttpApi),
        ({"version": "2.0", "requestContext": {}}, Unknown),
        ({"httpMethod": "POST", "body": "{}"}, Direct),
        ({"data": {}, "version": "2.0"}, Direct),
        ({"data": {}, "httpMethod": "GET"}, Direct),
        ({"data": {}, "requestContext": {}}, Unknown),
        ({"raw_path": "/", "method": "GET"}, LatticeV1),
        ({"raw_path": "/", "body": "{}"}, Direct),
        ({"version": "2.0", "method": "POST", "requestContext": {"targetGroupArn": "arn"}}, LatticeV2),
        ({"version": "2.0", "method": "POST", "requestContext": {"identity": {}}}, Unknown),
        ({"requestContext": "x", "body": "{}"}, Unknown),
        ({"Records": [{"eventSource": "aws:sqs"}]}, Unknown),
        ({}, Unknown),
        ([SEED], Unknown),
        ("data", Unknown),
        (None, Unknown),
    ],
)
def test_given_ambiguous_shape_when_detected_then_most_specific_source(event, source):
    assert type(detect(event)) is source


def test_given_unknown_shape_when_read_then_clear_400():
    with pytest.raises(UnsupportedEvent) as caught:
        detect({"Records": []}).request(LIMIT)
    assert caught.value.status == 400
    assert "API Gateway" in caught.value.message


def test_given_invalid_base64_when_read_then_400():
    event = load("http_api_post_base64.json")
    event["body"] = "not base64!!"
    with pytest.raises(BadRequest):
        detect(event).request(LIMIT)


def test_given_non_ascii_flagged_base64_when_read_then_400():
    event = load("alb_post_base64.json")
    event["body"] = "é" * 8
    with pytest.raises(BadRequest):
        detect(event).request(LIMIT)


def test_given_non_string_body_when_read_then_400():
    event = load("rest_api_post.json")
    event["body"] = {"data": {}}
    with pytest.raises(BadRequest):
        detect(event).request(LIMIT)


@pytest.mark.parametrize("name", ["http_api_post.json", "http_api_post_base64.json", "direct_legacy_body.json"])
def test_given_body_over_the_limit_when_read_then_413(name):
    event = load(name)
    with pytest.raises(PayloadTooLarge):
        detect(event).request(len(json.dumps(SEED)) - 1)


def test_given_multibyte_body_just_over_the_limit_when_read_then_413():
    event = load("http_api_post.json")
    event["body"] = "€" * 100  # 300 bytes, 100 characters
    with pytest.raises(PayloadTooLarge):
        detect(event).request(299)
    assert detect(event).request(300).body == event["body"]


def test_given_base64_body_whose_decoded_size_fits_when_read_then_accepted():
    raw = json.dumps(SEED).encode()
    event = load("http_api_post_base64.json")
    event["body"] = base64.b64encode(raw).decode()
    assert detect(event).request(len(raw)).body == raw


def test_given_get_request_with_a_body_when_read_then_body_ignored():
    event = load("http_api_get_health.json")
    event["body"] = "x" * 100
    assert detect(event).request(10).body == ""


HEADERS = {"Content-Type": "application/json", "X-Model-Version": "7", "X-Request-Id": "r-1"}


def test_given_alb_when_answering_then_status_description_and_single_value_headers():
    response = detect(load("alb_post.json")).envelope(422, "{}", HEADERS)
    assert response == {
        "statusCode": 422,
        "statusDescription": "422 Unprocessable Entity",
        "headers": HEADERS,
        "body": "{}",
        "isBase64Encoded": False,
    }


def test_given_alb_with_multi_value_headers_when_answering_then_multi_value_headers_only():
    response = detect(load("alb_multi_value_post.json")).envelope(200, "{}", HEADERS)
    assert response["statusDescription"] == "200 OK"
    assert response["multiValueHeaders"] == {key: [value] for key, value in HEADERS.items()}
    assert "headers" not in response


def test_given_rest_api_with_multi_value_headers_when_answering_then_both_header_forms():
    response = detect(load("rest_api_post.json")).envelope(200, "{}", HEADERS)
    assert response["headers"] == HEADERS
    assert response["multiValueHeaders"]["X-Request-Id"] == ["r-1"]


def test_given_rest_api_without_multi_value_headers_when_answering_then_plain_headers():
    event = load("rest_api_post.json")
    del event["multiValueHeaders"]
    assert "multiValueHeaders" not in detect(event).envelope(200, "{}", HEADERS)


@pytest.mark.parametrize("name", ["http_api_post.json", "function_url_post.json"])
def test_given_v2_source_when_answering_then_v2_envelope(name):
    assert detect(load(name)).envelope(200, "{}", HEADERS) == {
        "statusCode": 200,
        "headers": HEADERS,
        "body": "{}",
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize("event", [SEED, {"body": "{}"}, {"nothing": 1}])
def test_given_direct_or_unknown_when_answering_then_the_seed_envelope(event):
    assert detect(copy.deepcopy(event)).envelope(200, "{}", HEADERS) == {
        "statusCode": 200,
        "headers": HEADERS,
        "body": "{}",
    }


@pytest.mark.parametrize("name", ["vpc_lattice_v1_post.json", "vpc_lattice_v2_post.json"])
def test_given_lattice_when_answering_then_its_envelope_with_status_description(name):
    assert detect(load(name)).envelope(404, "{}", HEADERS) == {
        "statusCode": 404,
        "statusDescription": "404 Not Found",
        "headers": HEADERS,
        "body": "{}",
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("name", "flag"),
    [("vpc_lattice_v1_post.json", "is_base64_encoded"), ("vpc_lattice_v2_post.json", "isBase64Encoded")],
)
def test_given_lattice_base64_flag_when_read_then_honoured(name, flag):
    event = load(name)
    event["body"] = "not base64!!"
    event[flag] = True
    with pytest.raises(BadRequest):
        detect(event).request(LIMIT)
    event[flag] = False
    assert detect(event).request(LIMIT).body == "not base64!!"


@pytest.mark.parametrize("name", ["vpc_lattice_v1_post.json", "vpc_lattice_v2_post.json"])
def test_given_lattice_body_over_the_limit_when_read_then_413(name):
    with pytest.raises(PayloadTooLarge):
        detect(load(name)).request(100)


def test_given_lattice_headers_as_plain_strings_when_read_then_still_understood():
    event = load("vpc_lattice_v1_post.json")
    event["headers"] = {key: values[0] for key, values in event["headers"].items()}
    assert detect(event).correlation_id() == "Root=1-65f1c2d3-4b5c6d7e8f9a0b1c2d3e4f5a"
