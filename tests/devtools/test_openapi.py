"""The OpenAPI document: valid 3.1, built from the field rules, and true to what the handler answers."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import jsonschema_rs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema import ValidationError as JsonSchemaError
from openapi_spec_validator import validate as validate_spec

from credit_score.contract import fields as features
from credit_score.contract.decision import QUESTIONS
from credit_score.contract.fields import (
    FIELDS,
    NOT_A_WHOLE_NUMBER,
    NUMERIC_FIELDS,
    OUT_OF_DOMAIN,
    FieldError,
    parse_number,
    parse_record,
)
from credit_score.devtools import openapi
from credit_score.devtools.serve import build_event
from credit_score.runtime import errors
from credit_score.runtime.config import Settings
from credit_score.runtime.service import Service
from tests.support.bundles import synthetic_records, tiny_bundle  # noqa: F401 - the session fixture
from tests.support.explained import explained  # noqa: F401 - the session fixture
from tests.support.lambda_context import LambdaContext

DOCUMENT = openapi.document(max_batch_size=50, max_body_bytes=4096)
SCHEMAS = DOCUMENT["components"]["schemas"]
CANONICAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")


def validator(name: str) -> Draft202012Validator:
    """A validator for one component, resolving the document's ``#/components/...`` references."""
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": DOCUMENT["components"]})


def request_validator() -> Draft202012Validator:
    body = DOCUMENT["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**body, "components": DOCUMENT["components"]})


def accepts(f: features.Field, raw: str) -> bool:
    try:
        parse_number(f, raw)
    except FieldError:
        return False
    return True


def test_given_document_when_checked_against_openapi_31_then_valid():
    validate_spec(DOCUMENT)
    assert DOCUMENT["openapi"].startswith("3.1")
    json.dumps(DOCUMENT, allow_nan=False)


def test_given_fields_when_documented_then_every_field_with_its_domain_or_categories():
    record = SCHEMAS["Record"]
    assert record["required"] == [f.name for f in FIELDS]
    for f in FIELDS:
        schema = SCHEMAS[f"field.{f.name}"]
        if f.is_numeric:
            number, string, not_known = schema["oneOf"]
            assert not_known["type"] == "null"
            assert number == {"type": "integer" if f.integer else "number", "minimum": f.minimum, "maximum": f.maximum}
            assert string["type"] == "string"
            assert string["pattern"] == features.number_pattern(f)  # the parser's own grammar
            assert string["allOf"] == [{"pattern": openapi.numeric_string_pattern(f)}]
            assert schema["x-unit"] == f.unit
        else:
            assert schema["enum"] == list(f.levels)
            assert (features.UNKNOWN in schema["enum"]) == f.allows_unknown


def test_given_error_tree_when_documented_then_every_code_under_its_status():
    documented = {
        code
        for name in ("Error400", "Error404", "Error405", "Error413", "Error500", "ValidationError")
        for code in SCHEMAS[name]["properties"]["error"]["enum"]
    }
    expected = set()
    pending = [errors.ServiceError]
    while pending:
        kind = pending.pop()
        expected.add(kind.code)
        assert (
            kind.code
            in SCHEMAS["ValidationError" if kind.status == 422 else f"Error{kind.status}"]["properties"]["error"][
                "enum"
            ]
        )
        pending.extend(kind.__subclasses__())
    assert documented == expected
    assert set(SCHEMAS["Problem"]["properties"]["problem"]["enum"]) == set(features.PROBLEM_KINDS)


def test_given_predict_operation_when_documented_then_every_status_of_the_contract():
    responses = DOCUMENT["paths"]["/predict"]["post"]["responses"]
    assert set(responses) == {"200", "400", "405", "413", "422", "500"}
    assert set(DOCUMENT["components"]["responses"]) >= {"NotFound", "MethodNotAllowed", "PayloadTooLarge"}
    assert DOCUMENT["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Health"
    }


@pytest.mark.parametrize(("low", "high"), [(0, 0), (0, 9), (14, 100), (7, 7), (123, 4567), (0, 20), (99, 1000)])
def test_given_integer_range_when_made_a_pattern_then_it_matches_exactly_that_range(low, high):
    pattern = re.compile(f"^{openapi.integer_range_pattern(low, high)}$")
    for number in range(0, 12_000):
        assert bool(pattern.match(str(number))) == (low <= number <= high), number


def test_given_reversed_or_negative_range_when_made_a_pattern_then_refused():
    with pytest.raises(ValueError, match="low"):
        openapi.integer_range_pattern(5, 4)
    with pytest.raises(ValueError, match="low"):
        openapi.integer_range_pattern(-1, 4)


@pytest.mark.parametrize("f", NUMERIC_FIELDS, ids=lambda f: f.name)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_given_numeric_string_pattern_when_a_string_matches_then_the_handler_accepts_it(f, data):
    text = data.draw(st.from_regex(openapi.numeric_string_pattern(f), fullmatch=True))
    assert accepts(f, text)


@pytest.mark.parametrize("f", NUMERIC_FIELDS, ids=lambda f: f.name)
@settings(max_examples=80, deadline=None)
@given(number=st.one_of(st.integers(-2_000_000, 2_000_000), st.decimals(-2_000_000, 2_000_000, places=3)))
def test_given_plain_decimal_string_when_checked_then_pattern_and_handler_agree(f, number):
    text = str(number)
    assume(CANONICAL.fullmatch(text) and not (text.startswith("-") and float(text) == 0))
    assert bool(re.fullmatch(openapi.numeric_string_pattern(f), text)) == accepts(f, text)


def read_as_a_number(f: features.Field, raw: str) -> bool:
    """Whether the parser reads ``raw`` as a number of ``f``, inside its domain or not."""
    try:
        parse_number(f, raw)
    except FieldError as error:
        return error.problem in (OUT_OF_DOMAIN, NOT_A_WHOLE_NUMBER)
    return True


NEAR_NUMBERS = string.digits + "-._+eE ,\t\nx" + "\u0664\u00b2\uff14\u00a0\U0001d7d2"
WORDS = st.sampled_from(["Years", "years", "Year", "YEARS", "and", "AND", "Months", "month", "Month", " ", "  "])


def near_numbers(f: features.Field) -> st.SearchStrategy[str]:
    """Strings on both sides of the grammar: its own sentences, near misses, duration-like phrases, any text."""
    published = SCHEMAS[f"field.{f.name}"]["oneOf"][1]["pattern"]
    sentences = st.from_regex(published, fullmatch=True)
    edited = st.tuples(sentences, st.text(NEAR_NUMBERS, max_size=2), st.text(NEAR_NUMBERS, max_size=2)).map(
        lambda parts: parts[1] + parts[0] + parts[2]
    )
    phrases = st.lists(st.one_of(st.text(string.digits, min_size=1, max_size=3), WORDS), max_size=7).map(" ".join)
    return st.one_of(sentences, edited, st.text(NEAR_NUMBERS, max_size=10), phrases, st.text(max_size=10))


@pytest.mark.parametrize("f", NUMERIC_FIELDS, ids=lambda f: f.name)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_given_any_string_when_checked_then_the_published_pattern_and_the_parser_agree(f, data):
    string_schema = {"type": "string", "pattern": SCHEMAS[f"field.{f.name}"]["oneOf"][1]["pattern"]}
    ecma = jsonschema_rs.validator_for(string_schema)  # a JSON Schema engine of its own regex flavour
    text = data.draw(near_numbers(f))
    published = ecma.is_valid(text)
    assert published == bool(re.fullmatch(string_schema["pattern"], text))
    assert published == read_as_a_number(f, text), repr(text)


@pytest.mark.parametrize("f", NUMERIC_FIELDS, ids=lambda f: f.name)
def test_given_float_only_spellings_when_checked_then_the_pattern_and_the_parser_refuse_them(f):
    pattern = SCHEMAS[f"field.{f.name}"]["oneOf"][1]["pattern"]
    for text in ["4_0", "1_0_0_0_0_0", "\u0664\u0660", "\U0001d7d2\U0001d7ce", "+40", "1e2", " 40 ", "inf", "nan"]:
        assert not re.fullmatch(pattern, text)
        assert not read_as_a_number(f, text), text
    for text in ["40", "-0", "040", "40.25", "40_"]:
        assert re.fullmatch(pattern, text)
        assert read_as_a_number(f, text), text


def test_given_example_record_when_parsed_then_valid_and_schema_valid():
    _, problems = parse_record(openapi.EXAMPLE_RECORD)
    assert problems == []
    validator("Record").validate(openapi.EXAMPLE_RECORD)


def test_given_every_payload_shape_when_validated_then_the_schema_accepts_it():
    records = synthetic_records(3, seed=5)
    numbers = [{k: (float(v) if FIELDS[i].is_numeric else v) for i, (k, v) in enumerate(r.items())} for r in records]
    payloads = [
        {"data": records[0]},
        {"data": numbers[0]},
        {"data": records},
        {"dataframe_records": numbers},
        {"instances": records},
        {"dataframe_split": {"columns": list(records[0]), "data": [list(r.values()) for r in records]}},
    ]
    check = request_validator()
    for payload in payloads:
        check.validate(payload)


def test_given_invalid_payloads_when_validated_then_the_schema_refuses_them():
    record = synthetic_records(1, seed=6)[0]
    check = request_validator()
    invalid = [
        {"data": {**record, "Age": "101"}},
        {"data": {**record, "Age": 13}},
        {"data": {**record, "Occupation": "Astronaut"}},
        {"data": {key: value for key, value in record.items() if key != "Credit_Mix"}},
        {"data": []},
        {"data": [record] * 51},
        {"data": record, "instances": [record]},
        {"records": [record]},
    ]
    for payload in invalid:
        assert not check.is_valid(payload), payload


REQUEST_ID = "test-request"


@pytest.fixture(scope="module")
def service(tiny_bundle: Path) -> Service:  # noqa: F811 - the imported fixture
    settings_ = Settings.from_env(
        {"MODEL_DIR": str(tiny_bundle), "METRICS_ENABLED": "false", "MAX_BATCH_SIZE": "50", "MAX_BODY_BYTES": "4096"}
    )
    return Service(settings_)


def answer(service: Service, method: str, path: str, body: object = None) -> tuple[int, dict]:
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    response = service.handle(
        build_event(method, path, [("content-type", "application/json")], raw), LambdaContext(REQUEST_ID)
    )
    return response["statusCode"], json.loads(response["body"])


def response_schema(path: str, method: str, status: int) -> Draft202012Validator:
    response = DOCUMENT["paths"][path][method]["responses"].get(str(status))
    if response is None or "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[-1] if response else "NotFound"
        response = DOCUMENT["components"]["responses"][name]
    schema = response["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": DOCUMENT["components"]})


def test_given_handler_answers_when_compared_with_the_document_then_each_body_matches_its_status(service):
    record = synthetic_records(2, seed=8)
    cases = [
        ("POST", "/predict", {"data": record[0]}, 200),
        ("POST", "/predict", {"dataframe_records": record}, 200),
        ("POST", "/predict", b"{not json", 400),
        ("POST", "/predict", b'{"data": {}, "data": {}}', 400),
        ("POST", "/predict", json.dumps({"data": record[0]})[:-2].encode() + b', "Age": 40}}', 422),
        ("POST", "/predict", {"data": {**record[0], "Age": "300", "Credit_Mix": 7}}, 422),
        ("POST", "/predict", {"instances": record * 26}, 413),
        ("PUT", "/predict", None, 405),
        ("GET", "/health", None, 200),
        ("GET", "/nowhere", None, 404),
    ]
    for method, path, body, status in cases:
        got, document = answer(service, method, path, body)
        assert got == status, (method, path, document)
        documented = "/health" if (method, path) == ("GET", "/health") else "/predict"
        response_schema(documented, "get" if documented == "/health" else "post", status).validate(document)


def test_given_explained_answers_when_compared_with_the_document_then_they_match(explained):  # noqa: F811
    service_ = Service(Settings.from_env({"MODEL_DIR": str(explained.bundle.path), "METRICS_ENABLED": "false"}))
    records = synthetic_records(3, seed=4)
    check = response_schema("/predict", "post", 200)
    requests = request_validator()
    documents = []
    for body in (
        {"data": records[0]},
        {"data": records[0], "contributions": True, "lang": "pt"},
        {"dataframe_records": records, "contributions": True},
        {"data": records, "explain": False},
    ):
        requests.validate(body)
        status, document = answer(service_, "POST", "/predict", body)
        assert status == 200
        check.validate(document)
        documents.append(document)
    assert documents[0]["reasons"]
    with pytest.raises(JsonSchemaError):
        check.validate({**documents[0], "reasons": [{**documents[0]["reasons"][0], "code": "R99_NOTHING"}]})
    with pytest.raises(JsonSchemaError):
        requests.validate({"data": records[0], "lang": "fr"})
    query = {p["name"] for p in DOCUMENT["paths"]["/predict"]["post"]["parameters"] if p["in"] == "query"}
    assert query == {"explain", "contributions", "lang"}


def test_given_an_answer_when_its_decision_block_is_broken_then_the_document_refuses_it(service):
    _, document = answer(service, "POST", "/predict", {"data": synthetic_records(1, seed=3)[0]})
    check = response_schema("/predict", "post", 200)
    check.validate(document)
    without = {key: value for key, value in document.items() if key != "decision"}
    extra = {**document, "decision": {**document["decision"], "argmax": {"p": 0.5, "cutoff": 0.5}}}
    outside = {**document, "decision": {**document["decision"], "standard_or_better": {"p": 0.5, "cutoff": 1.0}}}
    for broken in (without, extra, outside):
        with pytest.raises(JsonSchemaError):
            check.validate(broken)
    assert set(DOCUMENT["components"]["schemas"]["Decision"]["required"]) == set(QUESTIONS)


def test_given_a_number_sent_as_null_when_checked_then_the_document_and_the_handler_accept_it(service):
    record = {**synthetic_records(1, seed=5)[0], "Annual_Income": None, "Num_of_Loan": None}
    requests = request_validator()
    requests.validate({"data": record})
    status, document = answer(service, "POST", "/predict", {"data": record})
    assert status == 200
    assert document["missing_fields"] == ["Annual_Income", "Num_of_Loan"]
    response_schema("/predict", "post", 200).validate(document)
    with pytest.raises(JsonSchemaError):
        requests.validate({"data": {**record, "Credit_Mix": None}})  # a category's null stays refused
    with pytest.raises(JsonSchemaError):
        response_schema("/predict", "post", 200).validate({**document, "missing_fields": ["Credit_Mix"]})


# ---------------------------------------------------------------- what the API page shows


def test_given_the_paths_when_documented_then_one_operation_each_and_only_the_deployed_routes():
    assert set(DOCUMENT["paths"]) == {"/predict", "/health"}  # the template's routes (infra/template.yaml)
    assert all(len(operations) == 1 for operations in DOCUMENT["paths"].values())


def test_given_the_flags_when_documented_then_each_with_its_default_in_body_query_and_header():
    operation = DOCUMENT["paths"]["/predict"]["post"]
    query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    header = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    body = SCHEMAS["SingleRequest"]["properties"]
    assert (body["explain"]["default"], body["contributions"]["default"]) == (True, False)
    assert (query["explain"]["schema"]["default"], query["contributions"]["schema"]["default"]) == ("true", "false")
    assert query["lang"]["schema"]["enum"] == body["lang"]["enum"] == ["en", "pt"]
    assert "else en" in query["lang"]["description"]
    assert "Accept-Language" in header
    assert "q-values" in header["Accept-Language"]["description"]
    for shape in ("BatchRequest", "DataframeRecordsRequest", "InstancesRequest", "DataframeSplitRequest"):
        assert SCHEMAS[shape]["properties"]["explain"] == body["explain"]


def test_given_the_request_examples_when_validated_then_every_payload_shape_is_shown_and_valid():
    content = DOCUMENT["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    examples = content["examples"]
    shown = {key for example in examples.values() for key in example["value"] if key in openapi.SHAPES}
    assert shown == set(openapi.SHAPES)
    assert any(
        isinstance(example["value"]["data"], list) for example in examples.values() if "data" in example["value"]
    )
    for example in examples.values():
        request_validator().validate(example["value"])


def _properties(schema, path=""):
    for name, prop in schema.get("properties", {}).items():
        yield f"{path}{name}", prop
        yield from _properties(prop, f"{path}{name}.")


@pytest.mark.parametrize("name", [*openapi._ANSWERS, "Error400", "Error404", "Error405", "Error413", "Error500",
                                  "ValidationError"])  # fmt: skip
def test_given_an_answer_or_error_schema_when_documented_then_every_field_is_described(name):
    undescribed = [path for path, prop in _properties(SCHEMAS[name]) if not prop.get("description")]
    assert undescribed == [], f"{name}: describe these fields"


@pytest.fixture(scope="module")
def answered(tiny_bundle):  # noqa: F811 - the imported fixture
    from credit_score.devtools.examples import answer_all

    answers = answer_all(tiny_bundle)
    return answers, openapi.document(max_batch_size=50, max_body_bytes=4096, answers=answers)


def test_given_a_bundle_when_the_examples_are_answered_then_each_gets_its_documented_status(answered):
    answers, _ = answered
    assert {name: answer["status"] for name, answer in answers.items()} == {
        name: example.status for name, example in openapi.EXAMPLE_REQUESTS.items()
    }


def test_given_the_answers_when_put_in_the_document_then_every_status_has_a_valid_example(answered):
    _, document = answered
    validate_spec(document)
    components = {"components": document["components"]}
    responses = dict(document["paths"]["/predict"]["post"]["responses"])
    for status, response in list(responses.items()):
        if "$ref" in response:
            responses[status] = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    assert set(responses) == {"200", "400", "405", "413", "422", "500"}
    for status, response in responses.items():
        content = response["content"]["application/json"]
        assert content.get("examples"), f"no example for {status}"
        for example in content["examples"].values():
            Draft202012Validator({**content["schema"], **components}).validate(example["value"])
    health = document["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]
    Draft202012Validator({**health["schema"], **components}).validate(health["examples"]["health"]["value"])
