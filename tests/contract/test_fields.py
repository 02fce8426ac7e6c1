"""The shared parsing rules: every raw-data spelling, every problem kind, strict vs lenient, encoding."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from credit_score.contract import fields as features
from credit_score.contract.fields import (
    DUPLICATE_FIELD,
    FEATURE_NAMES,
    FIELDS_BY_NAME,
    MISSING,
    NOT_A_NUMBER,
    NOT_A_STRING,
    NOT_A_WHOLE_NUMBER,
    OUT_OF_DOMAIN,
    UNKNOWN,
    UNKNOWN_CATEGORY,
    FieldError,
    clean_value,
    encode,
    parse_category,
    parse_number,
    parse_record,
)
from tests.support.paths import seed_payload

SEED = seed_payload()["data"]


def problem_of(field: str, raw: object) -> str:
    with pytest.raises(FieldError) as caught:
        features.parse_value(FIELDS_BY_NAME[field], raw)
    return caught.value.problem


def test_given_the_schema_when_counted_then_21_fields_and_one_column_per_used_field():
    assert len(features.FIELDS) == 21
    assert FEATURE_NAMES == features.MODEL_FIELDS
    assert len(FEATURE_NAMES) == 18
    assert set(FEATURE_NAMES) == set(features.CREDIT_DIRECTION)
    assert set(FEATURE_NAMES) | set(features.OUTSIDE_MODEL) == set(features.FIELD_NAMES)
    assert {"Age", "Occupation", "Payment_Behaviour"}.isdisjoint(FEATURE_NAMES)


def test_given_the_direction_table_then_every_used_field_has_a_direction_and_orders_name_real_levels():
    assert set(features.CREDIT_DIRECTION.values()) <= {features.INCREASING, features.DECREASING, features.ORDERED}
    ordered = {name for name, direction in features.CREDIT_DIRECTION.items() if direction == features.ORDERED}
    assert ordered == set(features.ORDERED_LEVELS) == {"Credit_Mix", "Payment_of_Min_Amount"}
    for name, levels in features.ORDERED_LEVELS.items():
        assert set(levels) < set(FIELDS_BY_NAME[name].levels)  # Unknown / NM are not ranked: missing
    assert features.ORDERED_LEVELS["Credit_Mix"] == ("Bad", "Standard", "Good")
    assert features.ORDERED_LEVELS["Payment_of_Min_Amount"] == ("Yes", "No")


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        ("Annual_Income", "52312.68", 52312.68),
        ("Annual_Income", 52312.68, 52312.68),
        ("Age", 40, 40.0),
        ("Annual_Income", "52312.68_", 52312.68),
        ("Num_of_Loan", "3_", 3.0),
        ("Age", "040", 40.0),
        ("Age", "40.0", 40.0),
        ("Credit_History_Age", "22 Years and 1 Months", 22 * 12 + 1.0),
        ("Credit_History_Age", "1 Year and 1 Month", 13.0),
        ("Credit_History_Age", "0 years  AND 11 months", 11.0),
        ("Credit_History_Age", "1 Years and 15 Months", 27.0),
        ("Credit_History_Age", "200", 200.0),
        ("Changed_Credit_Limit", "-6.5", -6.5),
        ("Delay_from_due_date", "-31", -31.0),
        ("Changed_Credit_Limit", "-6.5_", -6.5),
        ("Monthly_Balance", "-0", 0.0),
    ],
)
def test_given_accepted_numeric_spelling_when_parsed_then_value(field, raw, expected):
    assert parse_number(FIELDS_BY_NAME[field], raw) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("field", "raw", "problem"),
    [
        ("Age", features.ABSENT, MISSING),
        ("Age", "", MISSING),
        ("Age", "_", MISSING),
        ("Changed_Credit_Limit", "_", MISSING),
        ("Annual_Income", "__10000__", MISSING),
        ("Annual_Income", "nan", NOT_A_NUMBER),
        ("Annual_Income", "NaN", NOT_A_NUMBER),
        ("Annual_Income", "inf", NOT_A_NUMBER),
        ("Annual_Income", float("inf"), NOT_A_NUMBER),
        ("Annual_Income", "abc", NOT_A_NUMBER),
        ("Annual_Income", "_12", NOT_A_NUMBER),
        ("Annual_Income", True, NOT_A_NUMBER),
        ("Annual_Income", [1], NOT_A_NUMBER),
        ("Annual_Income", {"v": 1}, NOT_A_NUMBER),
        ("Credit_History_Age", "22 Years", NOT_A_NUMBER),
        ("Age", "8698", OUT_OF_DOMAIN),
        ("Age", "13", OUT_OF_DOMAIN),
        ("Num_Credit_Card", 1500, OUT_OF_DOMAIN),
        ("Interest_Rate", "5000", OUT_OF_DOMAIN),
        ("Annual_Income", "-1", OUT_OF_DOMAIN),
        ("Annual_Income", 10**400, OUT_OF_DOMAIN),
        ("Age", -(10**400), OUT_OF_DOMAIN),
        ("Annual_Income", "1" + "0" * 400, OUT_OF_DOMAIN),
        ("Annual_Income", "1" + "0" * 5000, OUT_OF_DOMAIN),
        ("Annual_Income", features.OVERSIZED_INTEGER, OUT_OF_DOMAIN),
        ("Annual_Income", features.DUPLICATE, DUPLICATE_FIELD),
        ("Credit_History_Age", "9" * 400 + " Years and 1 Months", OUT_OF_DOMAIN),
        ("Credit_History_Age", "9" * 5000 + " Years and 1 Months", OUT_OF_DOMAIN),
        ("Credit_History_Age", "1 Years and " + "9" * 5000 + " Months", OUT_OF_DOMAIN),
        ("Age", "40.5", NOT_A_WHOLE_NUMBER),
        ("Num_of_Loan", 2.5, NOT_A_WHOLE_NUMBER),
    ],
)
def test_given_rejected_numeric_value_when_parsed_then_problem_kind(field, raw, problem):
    assert problem_of(field, raw) == problem


@pytest.mark.parametrize(
    "raw",
    [
        "4_0",
        "1_0_0_0_0_0",
        "\u0664\u0660",  # Arabic-Indic digits
        "\U0001d7d2\U0001d7ce",  # mathematical bold digits
        "\uff14\uff10",  # full-width digits
        "+40",
        "1e2",
        "40E0",
        "0x28",
        "inf",
        "-Infinity",
        " 40 ",
        "40 ",
        "\t40",
        "40\n",
        "\u00a040",
        ".5",
        "40.",
        "40__",
        "_40",
        "4 0",
        "40-",
        "--40",
        "4.0.0",
        "40,0",
        " 22 Years and 1 Months",
        "22 Years and 1 Months ",
        "22\u00a0Years and 1 Months",
        "\u0662\u0662 Years and 1 Months",
        "22 Years, 1 Months",
        "22 Years and 1 Months_",
        "-22 Years and 1 Months",
    ],
)
def test_given_spelling_outside_the_number_grammar_when_parsed_then_not_a_number(raw):
    for field in ("Age", "Credit_History_Age", "Monthly_Balance"):
        assert problem_of(field, raw) == NOT_A_NUMBER, field


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        ("Occupation", "Doctor", "Doctor"),
        ("Occupation", "doctor", "Doctor"),
        ("Occupation", "  MEDIA_MANAGER ", "Media_Manager"),
        ("Occupation", "_______", UNKNOWN),
        ("Occupation", "Desconhecido", UNKNOWN),
        ("Occupation", "unknown", UNKNOWN),
        ("Occupation", "", UNKNOWN),
        ("Credit_Mix", "_", UNKNOWN),
        ("Payment_Behaviour", "!@9#%8", UNKNOWN),
        ("Payment_of_Min_Amount", "NM", "NM"),
        ("Payment_of_Min_Amount", "yes", "Yes"),
    ],
)
def test_given_accepted_category_spelling_when_parsed_then_canonical_level(field, raw, expected):
    assert parse_category(FIELDS_BY_NAME[field], raw) == expected


@pytest.mark.parametrize(
    ("field", "raw", "problem"),
    [
        ("Occupation", features.ABSENT, MISSING),
        ("Occupation", None, MISSING),
        ("Occupation", "Pilot", UNKNOWN_CATEGORY),
        ("Occupation", 3, NOT_A_STRING),
        ("Credit_Mix", ["Good"], NOT_A_STRING),
        ("Credit_Mix", features.OVERSIZED_INTEGER, NOT_A_STRING),
        ("Credit_Mix", features.DUPLICATE, DUPLICATE_FIELD),
        ("Payment_of_Min_Amount", "_", MISSING),
        ("Payment_of_Min_Amount", "Unknown", UNKNOWN_CATEGORY),
        ("Payment_of_Min_Amount", "Maybe", UNKNOWN_CATEGORY),
    ],
)
def test_given_rejected_category_when_parsed_then_problem_kind(field, raw, problem):
    assert problem_of(field, raw) == problem


def test_given_unknown_category_when_parsed_then_message_lists_allowed_values_without_the_value():
    with pytest.raises(FieldError) as caught:
        parse_category(FIELDS_BY_NAME["Occupation"], "Astronaut-7731")
    assert "Accountant" in caught.value.message
    assert "Writer" in caught.value.message
    assert "Astronaut" not in caught.value.message


def test_given_the_seed_record_when_parsed_strictly_then_no_problem():
    values, problems = parse_record(SEED)
    assert problems == []
    assert values["Age"] == 40.0
    assert values["Occupation"] == "Doctor"


def test_given_many_bad_fields_when_parsed_then_every_problem_reported_with_index():
    record = {**SEED, "Age": "old", "Occupation": "Pilot", "Num_of_Loan": "2.5"}
    del record["Credit_Mix"]
    _, problems = parse_record(record, index=4)
    assert {(p.field, p.problem) for p in problems} == {
        ("Age", NOT_A_NUMBER),
        ("Occupation", UNKNOWN_CATEGORY),
        ("Num_of_Loan", NOT_A_WHOLE_NUMBER),
        ("Credit_Mix", MISSING),
    }
    assert {p.index for p in problems} == {4}
    assert all(p.message.startswith(p.field) for p in problems)


def test_given_extra_keys_when_parsed_then_ignored():
    values, problems = parse_record({**SEED, "SSN": "913-74-1218", "Name": "Alistair"})
    assert problems == []
    assert "SSN" not in values


CANONICAL_BAD = {
    MISSING: features.ABSENT,
    NOT_A_NUMBER: "abc",
    OUT_OF_DOMAIN: "-5000",
    UNKNOWN_CATEGORY: "zzz",
    NOT_A_STRING: 1,
}


def message_for(field: str, raw: object) -> tuple[str, str] | None:
    try:
        features.parse_value(FIELDS_BY_NAME[field], raw)
    except FieldError as error:
        return error.problem, error.message
    return None


@given(st.text(max_size=30) | st.floats() | st.integers() | st.integers(min_value=10**300, max_value=10**400))
def test_given_any_value_when_refused_then_message_depends_only_on_field_and_problem_kind(raw):
    for field in ("Annual_Income", "Occupation", "Credit_History_Age"):
        outcome = message_for(field, raw)
        if outcome is not None:
            problem, message = outcome
            assert message_for(field, CANONICAL_BAD[problem]) == (problem, message)


def test_given_dirty_values_when_cleaned_for_training_then_missing_or_unknown():
    assert clean_value(FIELDS_BY_NAME["Age"], "8698") is None
    assert clean_value(FIELDS_BY_NAME["Annual_Income"], "52312.68_") == pytest.approx(52312.68)
    assert clean_value(FIELDS_BY_NAME["Occupation"], "Pilot") == UNKNOWN
    assert clean_value(FIELDS_BY_NAME["Payment_of_Min_Amount"], "Maybe") is None


def test_given_parsed_records_when_encoded_then_used_numbers_then_ranks_with_nan_for_missing():
    values, _ = parse_record(SEED)
    lenient = {**values, "Annual_Income": None, "Credit_Mix": None, "Payment_of_Min_Amount": "NM"}
    matrix = encode([values, lenient, {**values, "Credit_Mix": "Bad", "Payment_of_Min_Amount": "Yes"}])
    assert matrix.dtype == np.float32
    assert matrix.shape == (3, 18)
    assert matrix[0, FEATURE_NAMES.index("Annual_Income")] == 100_000.0
    assert math.isnan(matrix[1, FEATURE_NAMES.index("Annual_Income")])
    mix, minimum = FEATURE_NAMES.index("Credit_Mix"), FEATURE_NAMES.index("Payment_of_Min_Amount")
    assert (matrix[0, mix], matrix[0, minimum]) == (2.0, 1.0)  # Good, No: the best ranks
    assert (matrix[2, mix], matrix[2, minimum]) == (0.0, 0.0)  # Bad, Yes: the worst
    assert math.isnan(matrix[1, mix])
    assert math.isnan(matrix[1, minimum])


def test_given_unknown_credit_mix_when_encoded_then_missing():
    values, _ = parse_record({**SEED, "Credit_Mix": "Unknown"})
    assert math.isnan(encode([values])[0, FEATURE_NAMES.index("Credit_Mix")])


def test_given_records_when_encoded_as_fields_then_all_21_with_level_positions():
    values, _ = parse_record(SEED)
    matrix = features.encode_fields([values, {**values, "Age": None, "Occupation": None}])
    assert matrix.shape == (2, 21)
    assert matrix[0, features.FIELD_NAMES.index("Age")] == 40.0
    occupation = features.FIELD_NAMES.index("Occupation")
    assert matrix[0, occupation] == FIELDS_BY_NAME["Occupation"].levels.index("Doctor")
    assert math.isnan(matrix[1, occupation])
    assert math.isnan(matrix[1, features.FIELD_NAMES.index("Age")])
    np.testing.assert_array_equal(features.model_matrix(matrix[:1]), encode([values]))


def test_given_no_records_when_encoded_then_empty_matrix():
    assert encode([]).shape == (0, 18)


def test_given_schema_when_exported_then_json_with_domains_and_categories():
    schema = json.loads(json.dumps(features.schema()))
    age = next(f for f in schema if f["name"] == "Age")
    assert age["type"] == "integer"
    assert age["minimum"] == 14
    assert age["maximum"] == 100
    mix = next(f for f in schema if f["name"] == "Credit_Mix")
    assert mix["categories"] == ["Bad", "Standard", "Good", "Unknown"]


# ---------------------------------------------------------------- a number sent as null: not known, scored as missing


@pytest.mark.parametrize("field", [f.name for f in features.NUMERIC_FIELDS])
def test_given_a_number_sent_as_null_when_parsed_then_missing_not_a_problem(field):
    values, problems = parse_record({**SEED, field: None})
    assert problems == []
    assert math.isnan(values[field])
    assert math.isnan(features.encode_fields([values])[0, features.FIELD_NAMES.index(field)])
    if field in FEATURE_NAMES:  # Age is validated and captured, never a model column
        assert math.isnan(features.encode([values])[0, FEATURE_NAMES.index(field)])


@pytest.mark.parametrize("raw", [features.ABSENT, "", "_", "null", "None", "!@9#%8", "__10000__"])
def test_given_an_absent_key_or_a_placeholder_string_when_served_then_still_a_missing_problem(raw):
    record = {key: value for key, value in SEED.items() if key != "Annual_Income" or raw is not features.ABSENT}
    if raw is not features.ABSENT:
        record["Annual_Income"] = raw
    _, problems = parse_record(record)
    assert [(p.field, p.problem) for p in problems] == [("Annual_Income", MISSING)]
    assert problems[0].message.endswith("or null when not known")


@pytest.mark.parametrize("field", [f.name for f in features.CATEGORICAL_FIELDS])
def test_given_a_category_sent_as_null_when_parsed_then_a_missing_problem(field):
    _, problems = parse_record({**SEED, field: None})
    assert [(p.field, p.problem) for p in problems] == [(field, MISSING)]


def test_given_nulls_when_normalised_for_capture_then_none_never_a_stand_in_value():
    record = {**SEED, "Age": None, "Num_of_Loan": None, "Monthly_Balance": None}
    rows, columns, problems = features.parse_batch([record, SEED])
    assert problems == []
    assert features.missing_fields(rows[0]) == ["Age", "Num_of_Loan", "Monthly_Balance"]
    assert features.missing_fields(rows[1]) == []
    captured = features.normalised(rows[0], columns[0])
    assert [name for name, value in captured.items() if value is None] == ["Age", "Num_of_Loan", "Monthly_Balance"]
    assert captured["Num_Bank_Accounts"] == int(SEED["Num_Bank_Accounts"])


def test_given_null_when_cleaned_for_training_then_none_as_before():
    assert clean_value(FIELDS_BY_NAME["Annual_Income"], None) is None
