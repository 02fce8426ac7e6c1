"""The runtime explainer on a real cascade: additivity, reasons whose directions are the table's and
which the model never contradicts, the float32 comparison rule, and tables built for something else refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credit_score.contract.fields import (
    FEATURE_NAMES,
    FIELD_NAMES,
    FIELDS,
    MODEL_FIELDS,
    ORDERED_LEVELS,
    encode,
    parse_record,
)
from credit_score.contract.reasons import (
    MISSING_VALUE,
    REASON_COUNT,
    REASONS_BY_CODE,
    UNFAVOURABLE,
    direction_of,
    field_state,
    select_reasons,
)
from credit_score.modelling.training.monotonicity import domain
from credit_score.runtime.explainer import Explainer, ExplainerError, _float32_bounds
from tests.support.bundles import synthetic_records
from tests.support.explained import Explained, explained  # noqa: F401 (fixture)

# A fixed applicant: weak mix, late payments, high interest, little history.
APPLICANT = {
    "Age": "29",
    "Annual_Income": "42000",
    "Monthly_Inhand_Salary": "3300",
    "Num_Bank_Accounts": "6",
    "Num_Credit_Card": "7",
    "Interest_Rate": "27",
    "Num_of_Loan": "5",
    "Delay_from_due_date": "48",
    "Num_of_Delayed_Payment": "19",
    "Changed_Credit_Limit": "14",
    "Num_Credit_Inquiries": "11",
    "Outstanding_Debt": "3900",
    "Credit_Utilization_Ratio": "36",
    "Credit_History_Age": "60",
    "Total_EMI_per_month": "900",
    "Amount_invested_monthly": "150",
    "Monthly_Balance": "250",
    "Occupation": "Mechanic",
    "Credit_Mix": "Bad",
    "Payment_of_Min_Amount": "Yes",
    "Payment_Behaviour": "Low_spent_Small_value_payments",
}
# Recorded from the deterministic test cascade (one thread, deterministic=True): a change here must be a
# change of the model.
GOLDEN_POOR = [
    "R36_CREDIT_MIX",
    "R15_DELAY_FROM_DUE_DATE_TOO_HIGH",
    "R28_CREDIT_HISTORY_AGE_TOO_LOW",
    "R11_INTEREST_RATE_TOO_HIGH",
]


def _row(record: dict[str, str]) -> np.ndarray:
    values, problems = parse_record(record)
    assert not problems
    return encode([values])


@pytest.fixture(scope="module")
def explainer(explained: Explained) -> Explainer:  # noqa: F811
    return Explainer.load(io.BytesIO(explained.tables))


def _raw(explained: Explained, margin: int, rows: np.ndarray) -> np.ndarray:  # noqa: F811
    return explained.cascade.boosters[margin].predict(rows.astype(np.float64), raw_score=True)


@pytest.mark.parametrize("margin", [0, 1])
def test_contributions_add_up_to_the_boosters_raw_score(
    explained: Explained,  # noqa: F811
    explainer: Explainer,
    margin: int,
) -> None:
    rows = encode([parse_record(r)[0] for r in synthetic_records(300, seed=11)])
    rows[::5, FEATURE_NAMES.index("Monthly_Balance")] = np.nan  # training files have gaps; serving never
    result = explainer.contributions(rows, np.full(len(rows), margin))
    raw = _raw(explained, margin, rows)
    assert np.abs(result.margin - raw).max() < 1e-9
    assert np.abs(result.fields.sum(axis=1) + result.base_value - raw).max() < 1e-9
    assert result.fields.shape == (len(rows), len(FIELD_NAMES))


def test_golden_reasons_of_a_fixed_applicant(explained: Explained, explainer: Explainer) -> None:  # noqa: F811
    row = _row(APPLICANT)
    assert explained.cascade.labels(row)[0] == 0  # Poor: explained by standard_or_better
    contributions, _ = explainer.explain(row, np.array([0]))
    reasons = explainer.reasons(row[0], contributions.fields[0])
    codes = [reason.to_dict("en")["code"] for reason in reasons]
    assert codes == GOLDEN_POOR
    # the four most negative fields, in order
    order = np.argsort(contributions.fields[0])[:REASON_COUNT]
    assert [REASONS_BY_CODE[c].field for c in codes] == [FIELD_NAMES[i] for i in order]


def test_reasons_are_the_contract_rule_on_the_rows_state(explained: Explained, explainer: Explainer) -> None:  # noqa: F811
    rows = encode([parse_record(r)[0] for r in synthetic_records(50, seed=3)])
    contributions = explainer.contributions(rows, np.ones(len(rows), dtype=np.intp))
    for row, fields in zip(rows, contributions.fields, strict=True):
        assert explainer.reasons(row, fields) == select_reasons(fields, field_state(row))


def test_moving_a_reasons_field_its_way_never_lowers_the_margin(explained: Explained, explainer: Explainer) -> None:  # noqa: F811
    """Each reason's field moved the way its direction says, to the end of its domain or to each better
    level, everything else fixed: the booster's own margin never falls (the model is monotone there)."""
    rows = encode([parse_record(r)[0] for r in synthetic_records(120, seed=5)])
    margins = (explained.cascade.labels(rows) != 0).astype(np.intp)
    contributions, _ = explainer.explain(rows, margins)
    raised = checked = 0
    for i, row in enumerate(rows):
        m = int(margins[i])
        base = _raw(explained, m, row[None])[0]
        for reason in explainer.reasons(row, contributions.fields[i]):
            name = FIELD_NAMES[reason.field_index]
            column = FEATURE_NAMES.index(name)
            if reason.direction == UNFAVOURABLE:
                targets = [float(ORDERED_LEVELS[name].index(level)) for level in reason.better]
            else:
                low, high = domain(name)
                targets = [high if reason.direction == "too_low" else low]
            for target in targets:
                moved = row.copy()
                moved[column] = target
                gain = _raw(explained, m, moved[None])[0] - base
                assert gain >= -1e-12, f"{name}: moving it {reason.direction}'s way lowered the margin"
                raised += gain > 1e-9
                checked += 1
    assert checked > 200
    assert raised > checked / 2


VALUES = st.fixed_dictionaries(
    {
        f.name: st.none()
        | (
            st.integers(int(f.minimum), int(f.maximum)).map(float)
            if f.integer
            else st.floats(f.minimum, f.maximum, allow_nan=False)
        )
        if f.is_numeric
        else st.none() | st.sampled_from(f.levels)
        for f in FIELDS
    }
)


@settings(max_examples=300, deadline=None)
@given(record=VALUES, margin=st.sampled_from([0, 1]))
def test_any_record_gets_reasons_only_in_the_tables_directions(
    explainer: Explainer, record: dict[str, float | str | None], margin: int
) -> None:
    """Property: for any valid record (missing values included), on either margin, every reason's
    field is one the model uses (never Age), its direction is the table's (or missing when the value
    was not given), and a category's better levels lie above the applicant's."""
    row = encode([record])
    contributions = explainer.contributions(row, np.array([margin]))
    for reason in explainer.reasons(row[0], contributions.fields[0]):
        name = FIELD_NAMES[reason.field_index]
        assert name in MODEL_FIELDS
        assert name != "Age"
        value = record[name]
        given_value = value is not None and (name not in ORDERED_LEVELS or value in ORDERED_LEVELS[name])
        assert reason.direction == (direction_of(name) if given_value else MISSING_VALUE)
        if reason.direction == UNFAVOURABLE:
            levels = ORDERED_LEVELS[name]
            assert reason.better
            assert set(reason.better) == set(levels[levels.index(value) + 1 :])
        answer = reason.to_dict("en")
        assert REASONS_BY_CODE[answer["code"]].direction == reason.direction


def test_texts_come_in_both_languages(explainer: Explainer) -> None:
    row = _row(APPLICANT)
    contributions, _ = explainer.explain(row, np.array([0]))
    reason = explainer.reasons(row[0], contributions.fields[0])[0]
    english, portuguese = reason.to_dict("en"), reason.to_dict("pt")
    assert english["code"] == portuguese["code"]
    assert english["text"] != portuguese["text"]
    assert portuguese["text"] == REASONS_BY_CODE[english["code"]].text["pt"]


def test_float32_bounds_keep_lightgbms_comparison() -> None:
    rng = np.random.default_rng(0)
    bounds = np.concatenate([rng.normal(0, 1000, 5000), [np.inf, -np.inf, 1e300, 1e-35, 0.0]])
    rounded = _float32_bounds(bounds)
    for scale in (1.0, 1 + 1e-7, 1 - 1e-7):
        x = (bounds[:5000] * scale).astype(np.float32)
        assert ((x.astype(np.float64) <= bounds[:5000]) == (x <= rounded[:5000])).all()
        assert ((x.astype(np.float64) > bounds[:5000]) == (x > rounded[:5000])).all()
    exact = np.float32(0.1)
    assert exact <= _float32_bounds(np.array([float(exact)]))[0]
    assert not np.nextafter(exact, np.float32(1)) <= _float32_bounds(np.array([float(exact)]))[0]


def test_tables_for_another_encoding_are_refused(explained: Explained) -> None:  # noqa: F811
    with np.load(io.BytesIO(explained.tables)) as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays["feature_names"] = arrays["feature_names"][::-1]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with pytest.raises(ExplainerError, match="different feature encoding"):
        Explainer.load(buffer)
    with pytest.raises(ExplainerError, match="unreadable"):
        Explainer.load(io.BytesIO(b"not an npz"))
