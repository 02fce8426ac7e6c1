"""The exception tree: statuses, public bodies without server reasons, metric kinds."""

from __future__ import annotations

import json

import pytest

from credit_score.contract.fields import FieldProblem
from credit_score.runtime import errors


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (errors.BadRequest("x"), 400, "bad_request"),
        (errors.UnsupportedEvent("x"), 400, "unsupported_event"),
        (errors.NotFound("x"), 404, "not_found"),
        (errors.MethodNotAllowed("x"), 405, "method_not_allowed"),
        (errors.PayloadTooLarge("x"), 413, "payload_too_large"),
        (errors.ValidationFailed([FieldProblem("Age", "missing", "Age is required", 0)]), 422, "validation_error"),
        (errors.ModelUnavailable("hash mismatch"), 500, "model_unavailable"),
        (errors.ConfigError("MAX_BATCH_SIZE must be a whole number"), 500, "configuration_error"),
        (errors.ServiceError(), 500, "internal_error"),
    ],
)
def test_given_each_error_when_answered_then_status_code_and_kind(error, status, code):
    assert (error.status, error.code, error.kind) == (status, code, code)
    assert error.body()["error"] == code
    assert isinstance(error, errors.ClientError) == (status < 500)


@pytest.mark.parametrize(
    "error", [errors.ModelUnavailable("/var/task/model: sha256 mismatch"), errors.ConfigError("X")]
)
def test_given_server_fault_when_answered_then_reason_stays_out_of_the_body(error):
    assert error.reason
    assert error.reason not in str(error.body())
    assert error.body()["message"] == errors.GENERIC_MESSAGE


def test_given_problems_when_validation_fails_then_details_and_counts_by_kind():
    problems = [
        FieldProblem("Age", "missing", "Age is required", 0),
        FieldProblem("Occupation", "unknown_category", "Occupation must be one of: A", 0),
        FieldProblem("Age", "missing", "Age is required", 3),
    ]
    error = errors.ValidationFailed(problems)
    body = error.body()
    assert body["message"] == "3 invalid field value(s) in 2 records; see details"
    assert body["details"][2] == {"field": "Age", "index": 3, "problem": "missing", "message": "Age is required"}
    assert error.kinds() == {"missing": 2, "unknown_category": 1}
    assert error.fields() == {"Age": 2, "Occupation": 1}
    assert body["counts"] == {
        "by_field": {"Age": 2, "Occupation": 1},
        "by_problem": {"missing": 2, "unknown_category": 1},
    }
    assert (body["problem_count"], body["truncated"]) == (3, False)


def test_given_more_problems_than_listed_when_answered_then_first_100_and_every_one_counted():
    problems = [FieldProblem("Age", "missing", "Age is required", index) for index in range(5000)]
    body = errors.ValidationFailed(problems).body()
    assert len(body["details"]) == errors.MAX_DETAILS
    assert [d["index"] for d in body["details"]] == list(range(errors.MAX_DETAILS))
    assert body["problem_count"] == 5000
    assert body["counts"] == {"by_field": {"Age": 5000}, "by_problem": {"missing": 5000}}
    assert body["truncated"] is True
    assert body["message"] == "5000 invalid field value(s) in 5000 records; the first 100 are in details"


def test_given_long_messages_when_answered_then_details_shed_until_the_body_fits():
    problems = [FieldProblem("Occupation", "unknown_category", "m" * 5000, index) for index in range(200)]
    body = errors.ValidationFailed(problems).body()
    assert len(json.dumps(body, separators=(",", ":"))) <= errors.MAX_ERROR_BODY_BYTES - 128
    assert 0 < len(body["details"]) < errors.MAX_DETAILS
    assert body["counts"]["by_problem"] == {"unknown_category": 200}
    assert body["truncated"] is True


def test_given_a_problem_named_after_a_client_key_when_counted_by_field_then_only_the_other_bucket():
    problems = [FieldProblem("Age", "missing", "Age is required", 0), FieldProblem("ssn-913", "missing", "x", 0)]

    assert errors.ValidationFailed(problems).fields() == {"Age": 1, "_other": 1}
