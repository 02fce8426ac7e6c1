"""Payload shapes, their faults, and the fast validation path's equivalence with parse_record."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_score.contract import fields as features
from credit_score.runtime.errors import BadRequest, PayloadTooLarge, ValidationFailed
from credit_score.runtime.payload import extract_records, parse_json, prepare_payload, validate
from tests.support.bundles import synthetic_records
from tests.support.paths import seed_payload

SEED = seed_payload()


def expected_matrix(records):
    parsed = []
    for index, record in enumerate(records):
        values, problems = features.parse_record(record, index)
        assert not problems
        parsed.append(values)
    return features.encode(parsed)


def test_given_seed_payload_when_prepared_then_single_record_matches_features_encode():
    batch = prepare_payload(SEED, max_batch_size=10)
    assert batch.single
    assert len(batch) == 1
    np.testing.assert_array_equal(batch.matrix, expected_matrix([SEED["data"]]))


@pytest.mark.parametrize("size", [1, 7, 8, 9, 250])
def test_given_batches_of_many_sizes_when_validated_then_same_matrix_as_parse_record(size):
    records = synthetic_records(size, seed=size)
    batch = validate(records)
    assert batch.matrix.dtype == np.float32
    assert batch.matrix.shape == (size, 47)
    np.testing.assert_array_equal(batch.matrix, expected_matrix(records))


def test_given_numbers_instead_of_strings_when_validated_then_same_result():
    as_numbers = {k: (float(v) if features.FIELDS_BY_NAME[k].is_numeric else v) for k, v in SEED["data"].items()}
    np.testing.assert_array_equal(validate([as_numbers]).matrix, validate([SEED["data"]]).matrix)


def test_given_raw_data_spellings_when_validated_then_slow_path_accepts_them_in_order():
    records = synthetic_records(20, seed=3)
    records[2]["Annual_Income"] = "52312.68_"
    records[11]["Occupation"] = "_______"
    records[12]["Credit_History_Age"] = "22 Years and 1 Months"
    records[15]["Credit_Mix"] = "good"
    batch = validate(records)
    np.testing.assert_array_equal(batch.matrix, expected_matrix(records))
    assert batch.records()[11]["Occupation"] == "Unknown"
    assert batch.records()[12]["Credit_History_Age"] == 265.0


def test_given_batch_when_records_normalised_then_whole_numbers_are_ints_and_levels_canonical():
    record = {**SEED["data"], "Occupation": "doctor", "Age": "40"}
    normalised = validate([record]).records()[0]
    assert normalised["Age"] == 40
    assert isinstance(normalised["Age"], int)
    assert normalised["Annual_Income"] == 100000.0
    assert normalised["Occupation"] == "Doctor"
    assert set(normalised) == set(features.FIELD_NAMES)


def test_given_problems_in_several_records_when_validated_then_all_reported_by_index():
    records = synthetic_records(30, seed=5)
    records[3]["Age"] = "abc"
    records[17]["Occupation"] = "Pilot"
    records[17]["Num_of_Loan"] = 500
    del records[29]["Credit_Mix"]
    with pytest.raises(ValidationFailed) as caught:
        validate(records)
    found = [(p.index, p.field, p.problem) for p in caught.value.problems]
    assert found == [
        (3, "Age", "not_a_number"),
        (17, "Num_of_Loan", "out_of_domain"),
        (17, "Occupation", "unknown_category"),
        (29, "Credit_Mix", "missing"),
    ]
    assert caught.value.status == 422


def test_given_mlflow_dataframe_records_when_extracted_then_batch():
    records, single = extract_records({"dataframe_records": [SEED["data"], SEED["data"]]}, 10)
    assert len(records) == 2
    assert not single


def test_given_mlflow_instances_when_extracted_then_batch():
    records, single = extract_records({"instances": [SEED["data"]]}, 10)
    assert records == [SEED["data"]]
    assert not single


def test_given_data_list_when_extracted_then_batch_even_of_one():
    records, single = extract_records({"data": [SEED["data"]]}, 10)
    assert len(records) == 1
    assert not single


def test_given_mlflow_dataframe_split_when_prepared_then_rows_follow_columns():
    columns = list(SEED["data"])
    rows = [[SEED["data"][c] for c in columns], [SEED["data"][c] for c in reversed(columns)][::-1]]
    batch = prepare_payload({"dataframe_split": {"columns": columns, "data": rows, "index": [0, 1]}}, 10)
    np.testing.assert_array_equal(batch.matrix, expected_matrix([SEED["data"], SEED["data"]]))


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "data",
        None,
        {},
        {"records": [SEED["data"]]},
        {"data": "x"},
        {"data": 3},
        {"data": []},
        {"data": [1, 2]},
        {"data": [SEED["data"], "x"]},
        {"instances": {"a": 1}},
        {"dataframe_records": None},
        {"dataframe_split": []},
        {"dataframe_split": {"columns": ["Age"], "data": [[1, 2]]}},
        {"dataframe_split": {"columns": [1], "data": [[1]]}},
        {"dataframe_split": {"columns": ["Age"], "data": "x"}},
        {"data": SEED["data"], "instances": [SEED["data"]]},
    ],
)
def test_given_wrong_shape_when_extracted_then_400(payload):
    with pytest.raises(BadRequest) as caught:
        extract_records(payload, 10)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "payload",
    [
        {"data": [{"Age": 1}] * 11},
        {"dataframe_records": [{"Age": 1}] * 11},
        {"dataframe_split": {"columns": ["Age"], "data": [[1]] * 11}},
    ],
)
def test_given_more_records_than_the_limit_when_extracted_then_413(payload):
    with pytest.raises(PayloadTooLarge):
        extract_records(payload, 10)


def test_given_exactly_the_limit_when_extracted_then_accepted():
    records, _ = extract_records({"data": [SEED["data"]] * 10}, 10)
    assert len(records) == 10


@pytest.mark.parametrize("raw", ["", b"", "{", "nul", b"\xff\xfe\xfa", "[" * 100_000, "1" * 5000])
def test_given_malformed_body_when_parsed_then_400(raw):
    with pytest.raises(BadRequest):
        parse_json(raw)


def test_given_secret_values_and_keys_when_rejected_then_nothing_submitted_is_echoed():
    secret_key, secret_value = "ssn-913-74-1218", "Astronaut-77123"
    record = {**SEED["data"], secret_key: secret_value, "Occupation": secret_value, "Age": secret_value}
    with pytest.raises(ValidationFailed) as caught:
        validate([record])
    text = json.dumps(caught.value.body())
    assert secret_value not in text
    assert secret_key not in text
    with pytest.raises(BadRequest) as shape:
        extract_records({secret_key: secret_value}, 10)
    assert secret_key not in json.dumps(shape.value.body())


json_scalars = (
    st.none() | st.booleans() | st.integers() | st.integers(-(10**400), 10**400) | st.floats() | st.text(max_size=12)
)
field_values = (
    json_scalars
    | st.sampled_from(["52312.68_", "_", "_______", "!@9#%8", "NM", "Good", "doctor", "22 Years and 1 Months"])
    | st.lists(json_scalars, max_size=2)
)


@st.composite
def mutated_records(draw):
    rng = random.Random(draw(st.integers(0, 10_000)))
    records = synthetic_records(draw(st.integers(1, 12)), seed=rng.randrange(1000))
    for record in records:
        for name in draw(st.lists(st.sampled_from(features.FIELD_NAMES), max_size=3)):
            if draw(st.booleans()):
                record[name] = draw(field_values)
            else:
                record.pop(name, None)
    return records


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_records())
def test_given_arbitrary_records_when_validated_then_exactly_what_parse_record_says(records):
    outcomes = [features.parse_record(record, index) for index, record in enumerate(records)]
    problems = [problem for _, found in outcomes for problem in found]
    if problems:
        with pytest.raises(ValidationFailed) as caught:
            validate(records)
        assert list(caught.value.problems) == problems
    else:
        np.testing.assert_array_equal(validate(records).matrix, features.encode([values for values, _ in outcomes]))
