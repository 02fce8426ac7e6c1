"""Payload shapes, their faults, and the fast validation path's equivalence with parse_record."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
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
    assert batch.matrix.shape == (size, len(features.FEATURE_NAMES))
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
    records = synthetic_records(2, seed=11)
    columns = ["Customer_ID", *reversed(features.FIELD_NAMES)]  # not the schema's order, an extra column
    rows = [["C-1", *(record[name] for name in columns[1:])] for record in records]
    batch = prepare_payload({"dataframe_split": {"columns": columns, "data": rows, "index": [0, 1]}}, 10)
    np.testing.assert_array_equal(batch.matrix, expected_matrix(records))
    assert not np.array_equal(batch.matrix[0], batch.matrix[1])


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


@pytest.mark.parametrize("raw", ["", b"", "{", "nul", b"\xff\xfe\xfa", "[" * 100_000, "{" + "1" * 5000])
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


FLOAT_SPELLINGS = [
    "4_0",
    "1_0_0_0_0_0",
    "\u0664\u0660",
    "\U0001d7d2\U0001d7ce",
    "+40",
    "1e1",
    " 40 ",
    "inf",
    "nan",
    "40.",
]


@pytest.mark.parametrize("size", [1, 12])
@pytest.mark.parametrize("spelling", FLOAT_SPELLINGS)
def test_given_a_spelling_only_float_reads_when_validated_then_not_a_number_in_bulk_and_alone(spelling, size):
    records = synthetic_records(size, seed=2)
    records[-1]["Num_of_Delayed_Payment"] = spelling
    with pytest.raises(ValidationFailed) as caught:
        validate(records)
    assert [(p.index, p.field, p.problem) for p in caught.value.problems] == [
        (size - 1, "Num_of_Delayed_Payment", "not_a_number")
    ]


# ---------------------------------------------------------------- JSON that json.loads would hide


def test_given_a_field_twice_in_a_record_when_prepared_then_422_names_it_beside_the_other_problems():
    record = {**SEED["data"], "Occupation": "Pilot"}
    body = json.dumps({"data": record})[:-2] + ', "Age": "40", "Secret-Key": 1, "Secret-Key": 2}}'
    assert body.count('"Age"') == 2
    with pytest.raises(ValidationFailed) as caught:
        prepare_payload(parse_json(body), 10)
    assert [(p.index, p.field, p.problem) for p in caught.value.problems] == [
        (0, "Age", "duplicate_field"),
        (0, "Occupation", "unknown_category"),
    ]
    assert "Secret-Key" not in json.dumps(caught.value.body())


def test_given_the_same_field_twice_with_equal_values_when_prepared_then_still_refused():
    body = '{"data": [' + json.dumps(SEED["data"])[:-1] + ', "Credit_Mix": "Good"}]}'
    with pytest.raises(ValidationFailed) as caught:
        prepare_payload(parse_json(body), 10)
    assert [(p.field, p.problem) for p in caught.value.problems] == [("Credit_Mix", "duplicate_field")]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('{"data": {}, "data": ' + json.dumps(SEED["data"]) + "}", "'data'"),
        ('{"instances": [], "instances": [' + json.dumps(SEED["data"]) + "]}", "'instances'"),
        ('{"dataframe_split": {"columns": ["Age"], "columns": ["Age"], "data": [["40"]]}}', "'columns'"),
        ('{"dataframe_split": {"columns": ["Age"], "data": [], "data": [["40"]]}}', "'data'"),
    ],
)
def test_given_a_shape_key_twice_when_prepared_then_400_names_it(body, named):
    with pytest.raises(BadRequest) as caught:
        prepare_payload(parse_json(body), 10)
    assert named in caught.value.message
    assert "more than once" in caught.value.message


def test_given_an_unknown_top_level_key_twice_when_prepared_then_ignored_like_any_extra_key():
    body = '{"Secret-Key": 1, "data": ' + json.dumps(SEED["data"]) + ', "Secret-Key": 2}'
    assert prepare_payload(parse_json(body), 10).single


def test_given_a_repeated_dataframe_split_column_when_prepared_then_every_record_names_the_field():
    columns = [*features.FIELD_NAMES, "Age"]
    rows = [[*SEED["data"].values(), "40"]] * 2
    with pytest.raises(ValidationFailed) as caught:
        prepare_payload({"dataframe_split": {"columns": columns, "data": rows}}, 10)
    assert [(p.index, p.field, p.problem) for p in caught.value.problems] == [
        (0, "Age", "duplicate_field"),
        (1, "Age", "duplicate_field"),
    ]


def test_given_an_integer_of_5000_digits_when_prepared_then_422_out_of_domain_beside_the_other_problems():
    body = json.dumps({"data": {**SEED["data"], "Credit_Mix": "Excellent"}})[:-2] + ', "Annual_Income": %s}}'
    body = body.replace('"Annual_Income": "100000", ', "") % ("9" * 5000)
    with pytest.raises(ValidationFailed) as caught:
        prepare_payload(parse_json(body), 10)
    assert [(p.field, p.problem) for p in caught.value.problems] == [
        ("Annual_Income", "out_of_domain"),
        ("Credit_Mix", "unknown_category"),
    ]


@pytest.mark.parametrize("body", ["1" * 5000, '{"data": %s}' % ("1" * 5000), '{"x": -%s}' % ("1" * 5000)])
def test_given_an_oversized_integer_outside_any_record_when_prepared_then_400_about_the_shape(body):
    with pytest.raises(BadRequest) as caught:
        prepare_payload(parse_json(body), 10)
    assert "not valid JSON" not in caught.value.message


def test_given_an_oversized_integer_as_a_category_or_an_extra_key_when_prepared_then_usual_answers():
    extra = '{"data": %s}' % (json.dumps(SEED["data"])[:-1] + ', "Customer_ID": %s}' % ("7" * 5000))
    assert prepare_payload(parse_json(extra), 10).single
    category = extra.replace('"Doctor"', "3" * 5000)
    with pytest.raises(ValidationFailed) as caught:
        prepare_payload(parse_json(category), 10)
    assert [(p.field, p.problem) for p in caught.value.problems] == [("Occupation", "not_a_string")]


# ---------------------------------------------------------------- the bulk path against parse_record


def spellings(value: float | int) -> st.SearchStrategy[object]:
    """A number as a client may send it: JSON number, plain string, fixed-point string, raw-data suffix."""
    forms: list[object] = [value, str(value), f"{value:.2f}", f"{value}_"]
    if isinstance(value, float) and value.is_integer():
        forms.append(int(value))
    return st.sampled_from(forms)


def numeric_values(f: features.Field) -> st.SearchStrategy[object]:
    low, high = float(f.minimum), float(f.maximum)  # type: ignore[arg-type]
    whole = st.integers(int(low), int(high))
    cents = st.builds(
        lambda units, cents: units + cents / 100, st.integers(int(low), int(high) - 1), st.integers(1, 99)
    )
    fraction = cents | st.floats(low, high, allow_nan=False)
    edges = st.sampled_from(
        [
            low,
            high,
            low - 1,
            high + 1,
            low + 0.5,
            high - 0.5,
            math.nextafter(low, -math.inf),
            math.nextafter(high, math.inf),
        ]
    )
    return st.one_of(whole, fraction, edges).flatmap(spellings)


json_scalars = (
    st.none() | st.booleans() | st.integers() | st.integers(-(10**400), 10**400) | st.floats() | st.text(max_size=12)
)
junk = (
    json_scalars
    | st.sampled_from(["_", "_______", "!@9#%8", "NM", "Good", "doctor", "22 Years and 1 Months", *FLOAT_SPELLINGS])
    | st.sampled_from([features.DUPLICATE, features.OVERSIZED_INTEGER])
    | st.lists(json_scalars, max_size=2)
)


def field_value(f: features.Field) -> st.SearchStrategy[object]:
    if f.is_numeric:
        return numeric_values(f)
    spelt = st.sampled_from(f.levels).flatmap(
        lambda level: st.sampled_from([level, level.lower(), f" {level.upper()}"])
    )
    return spelt


@st.composite
def mutated_records(draw):
    """Valid synthetic records with a few fields redrawn near their domains or as junk, or removed."""
    rng = random.Random(draw(st.integers(0, 10_000)))
    records = synthetic_records(draw(st.sampled_from([1, 2, 8, 9, 12])), seed=rng.randrange(1000))
    for record in records:
        for name in draw(st.lists(st.sampled_from(features.FIELD_NAMES), max_size=4)):
            choice = draw(st.integers(0, 5))
            if choice == 0:
                record.pop(name, None)
            elif choice == 1:
                record[name] = draw(junk)
            else:
                record[name] = draw(field_value(features.FIELDS_BY_NAME[name]))
    return records


def read_in_bulk(record) -> list[float] | None:
    """The bulk path's own reading of one record, or None when it leaves the record to parse_record."""
    row, _ = features._read_plain(features.RULES, record)
    return row if row is not None and features._inside(features.RULES, row) else None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_records())
def test_given_arbitrary_records_when_validated_then_exactly_what_parse_record_says(records):
    outcomes = [features.parse_record(record, index) for index, record in enumerate(records)]
    problems = [problem for _, found in outcomes for problem in found]
    for record, (values, found) in zip(records, outcomes, strict=True):
        row = read_in_bulk(record)
        event("bulk" if row is not None else "parse_record")
        if row is not None:  # the bulk path vouches only for what parse_record accepts, with the same values
            assert not found
            assert row == [values[name] for name in features.NUMERIC_NAMES]
    if problems:
        with pytest.raises(ValidationFailed) as caught:
            validate(records)
        assert list(caught.value.problems) == problems
    else:
        np.testing.assert_array_equal(validate(records).matrix, features.encode([values for values, _ in outcomes]))


def test_given_plain_records_when_validated_then_the_bulk_path_reads_them_and_parse_record_only_the_rest(
    monkeypatch,
):
    records = synthetic_records(12, seed=4)
    records[1]["Annual_Income"] = "12345.67"  # a fraction inside the domain: bulk
    records[5]["Annual_Income"] = "52312.68_"  # the raw data's suffix: parse_record
    records[7]["Age"] = 14  # a bound, as a JSON number: bulk
    read = []
    strict = features.parse_record
    monkeypatch.setattr(features, "parse_record", lambda record, index=0: read.append(index) or strict(record, index))
    for batch in (records, records[:8]):
        read.clear()
        validate(batch)
        assert read == [5]
