"""The one reason rule: directions read from the credit-direction table, never from the model's response."""

from __future__ import annotations

import math

import numpy as np
import pytest

from credit_score.contract.fields import (
    CREDIT_DIRECTION,
    DECREASING,
    FEATURE_NAMES,
    FIELD_NAMES,
    INCREASING,
    ORDERED_LEVELS,
    OUTSIDE_MODEL,
)
from credit_score.contract.reasons import (
    MISSING_VALUE,
    REASON_COUNT,
    REASONS,
    REASONS_BY_CODE,
    RETIRED_CODES,
    TOO_HIGH,
    TOO_LOW,
    UNFAVOURABLE,
    Reason,
    direction_of,
    field_state,
    select_reasons,
)


def index(name: str) -> int:
    return FIELD_NAMES.index(name)


def present_state(**values: float) -> np.ndarray:
    """A field state with every used field present (value 1) unless given."""
    row = np.ones(len(FEATURE_NAMES))
    for name, value in values.items():
        row[FEATURE_NAMES.index(name)] = value
    return field_state(row)


def contributions(**values: float) -> np.ndarray:
    out = np.zeros(len(FIELD_NAMES))
    for name, value in values.items():
        out[index(name)] = value
    return out


def test_every_used_field_has_a_code_for_its_direction_and_for_missing_and_nothing_else() -> None:
    keys = {(r.field, r.direction) for r in REASONS}
    expected = {(name, direction_of(name)) for name in FEATURE_NAMES} | {
        (name, MISSING_VALUE) for name in FEATURE_NAMES
    }
    assert keys == expected
    assert not {r.field for r in REASONS} & set(OUTSIDE_MODEL)


def test_directions_follow_the_table() -> None:
    for name, direction in CREDIT_DIRECTION.items():
        wanted = {INCREASING: TOO_LOW, DECREASING: TOO_HIGH}.get(direction, UNFAVOURABLE)
        assert direction_of(name) == wanted


def test_codes_are_unique_never_reuse_a_retired_number_and_keep_their_numbers() -> None:
    numbers = [code.split("_", 1)[0] for code in REASONS_BY_CODE]
    retired = [code.split("_", 1)[0] for code in RETIRED_CODES]
    assert len(set(numbers)) == len(numbers) == len(REASONS)
    assert not set(numbers) & set(retired)
    # the codes the table keeps read as before; the ones against credit logic are gone
    assert {"R04_ANNUAL_INCOME_TOO_LOW", "R29_TOTAL_EMI_PER_MONTH_TOO_HIGH", "R36_CREDIT_MIX"} <= set(REASONS_BY_CODE)
    for code in ("R01_AGE_TOO_HIGH", "R30_TOTAL_EMI_PER_MONTH_TOO_LOW", "R31_AMOUNT_INVESTED_MONTHLY_TOO_HIGH"):
        assert code in RETIRED_CODES
        assert code not in REASONS_BY_CODE
    assert "R33_MONTHLY_BALANCE_TOO_HIGH" in RETIRED_CODES
    assert "R35_OCCUPATION" in RETIRED_CODES


def test_texts_exist_in_both_languages_and_the_credit_limit_reads_its_direction() -> None:
    for reason in REASONS:
        assert reason.text["en"]
        assert reason.text["pt"]
        assert reason.text["en"] != reason.text["pt"]
    limit = REASONS_BY_CODE["R20_CHANGED_CREDIT_LIMIT_TOO_LOW"].text["en"]
    assert limit == "The credit limit was raised too little."
    assert REASONS_BY_CODE["R55_CREDIT_MIX_MISSING"].text["en"].startswith("Insufficient information about")


def test_the_most_negative_fields_become_reasons_most_first_at_most_four() -> None:
    found = select_reasons(
        contributions(
            Outstanding_Debt=-0.3,
            Annual_Income=-0.5,
            Interest_Rate=-0.1,
            Num_of_Loan=-0.2,
            Num_Credit_Card=-0.05,
            Monthly_Balance=0.4,
        ),
        present_state(),
    )
    assert found == [
        Reason(index("Annual_Income"), TOO_LOW),
        Reason(index("Outstanding_Debt"), TOO_HIGH),
        Reason(index("Num_of_Loan"), TOO_HIGH),
        Reason(index("Interest_Rate"), TOO_HIGH),
    ]
    assert len(found) == REASON_COUNT


def test_positive_zero_and_noise_contributions_are_never_reasons() -> None:
    assert select_reasons(contributions(Outstanding_Debt=0.3, Annual_Income=-1e-12), present_state()) == []


def test_a_field_outside_the_model_never_appears_even_with_a_negative_contribution() -> None:
    found = select_reasons(contributions(Age=-1.0, Occupation=-0.9, Num_of_Loan=-0.1), present_state())
    assert [FIELD_NAMES[r.field_index] for r in found] == ["Num_of_Loan"]


def test_a_missing_value_that_counted_against_is_insufficient_information() -> None:
    state = present_state(Monthly_Balance=math.nan, Credit_Mix=math.nan)
    found = select_reasons(contributions(Monthly_Balance=-0.2, Credit_Mix=-0.1), state)
    assert found == [Reason(index("Monthly_Balance"), MISSING_VALUE), Reason(index("Credit_Mix"), MISSING_VALUE)]
    assert found[0].to_dict("en")["code"] == "R54_MONTHLY_BALANCE_MISSING"
    assert "better" not in found[1].to_dict("en")


@pytest.mark.parametrize(
    ("name", "rank", "better"),
    [
        ("Credit_Mix", 0, ["Standard", "Good"]),
        ("Credit_Mix", 1, ["Good"]),
        ("Credit_Mix", 2, None),
        ("Payment_of_Min_Amount", 0, ["No"]),
        ("Payment_of_Min_Amount", 1, None),
    ],
)
def test_a_category_names_only_the_levels_above_the_applicants(name: str, rank: int, better: list[str] | None) -> None:
    found = select_reasons(contributions(**{name: -0.3}), present_state(**{name: rank}))
    if better is None:  # already the best level: nothing to name, so no reason
        assert found == []
    else:
        answer = found[0].to_dict("en")
        assert (answer["direction"], answer["better"]) == (UNFAVOURABLE, better)
        assert set(better) <= set(ORDERED_LEVELS[name])  # never Unknown or NM


def test_reason_answers_carry_code_field_direction_and_text_in_the_chosen_language() -> None:
    reason = Reason(index("Credit_Mix"), UNFAVOURABLE, ("Standard", "Good"))
    assert reason.to_dict("pt") == {
        "code": "R36_CREDIT_MIX",
        "field": "Credit_Mix",
        "direction": UNFAVOURABLE,
        "better": ["Standard", "Good"],
        "text": REASONS_BY_CODE["R36_CREDIT_MIX"].text["pt"],
    }


def test_field_state_places_the_encoded_columns_under_their_fields() -> None:
    rows = np.arange(2 * len(FEATURE_NAMES), dtype=np.float32).reshape(2, -1)
    state = field_state(rows)
    assert state.shape == (2, len(FIELD_NAMES))
    assert state[1, index("Credit_Mix")] == rows[1, FEATURE_NAMES.index("Credit_Mix")]
    assert (state[:, index("Age")] == 0).all()
    np.testing.assert_array_equal(field_state(rows[0]), state[0])
