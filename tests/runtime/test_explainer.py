"""The runtime explainer on a real cascade: additivity, reasons whose directions are the model's own
response, the float32 comparison rule, and tables built for something else refused."""

from __future__ import annotations

import io

import numpy as np
import pytest

from credit_score.contract.fields import FEATURE_NAMES, FIELD_NAMES, FIELDS, encode, parse_record
from credit_score.contract.reasons import REASON_COUNT, REASONS_BY_CODE, TOO_HIGH, TOO_LOW, UNFAVOURABLE
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
# Recorded from the deterministic test cascade (one thread, deterministic=True); the test below also
# proves each direction against the boosters, so a change here must be a change of the model.
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
    contributions, patterns = explainer.explain(row, np.array([0]))
    reasons = explainer.reasons(row[0], 0, contributions.fields[0], patterns[0])
    codes = [reason.to_dict("en")["code"] for reason in reasons]
    assert codes == GOLDEN_POOR
    # here the four most negative fields, in order (each has a move that helps)
    order = np.argsort(contributions.fields[0])[:REASON_COUNT]
    assert [REASONS_BY_CODE[c].field for c in codes] == [FIELD_NAMES[i] for i in order]


def _moves(row: np.ndarray, field_index: int, direction: str, explained: Explained) -> list[np.ndarray]:  # noqa: F811
    """Rows with only this number moved the way the reason says helps, to each probe quantile of the
    training values on that side."""
    from credit_score.modelling.explainer import PROBE_QUANTILES

    column = FEATURE_NAMES.index(FIELDS[field_index].name)
    targets = np.quantile(explained.matrix[:, column], PROBE_QUANTILES, method="inverted_cdf")
    wanted = targets[targets < row[column]] if direction == TOO_HIGH else targets[targets > row[column]]
    out = []
    for value in np.unique(wanted):
        moved = row.copy()
        moved[column] = value
        out.append(moved)
    return out


def test_every_reason_direction_is_the_models_response(explained: Explained, explainer: Explainer) -> None:  # noqa: F811
    """Moving a reason's field the way its direction says raises the explained margin."""
    rows = encode([parse_record(r)[0] for r in synthetic_records(120, seed=5)])
    labels = explained.cascade.labels(rows)
    margins = (labels != 0).astype(np.intp)
    contributions, patterns = explainer.explain(rows, margins)
    checked = 0
    for i, row in enumerate(rows):
        m = int(margins[i])
        base = _raw(explained, m, row[None])[0]
        for reason in explainer.reasons(row, m, contributions.fields[i], patterns[i]):
            answer = reason.to_dict("en")
            if reason.direction == UNFAVOURABLE:
                f = FIELDS[reason.field_index]
                assert answer["better"], f"{f.name}: an unfavourable category names a better one"
                for level in answer["better"]:
                    moved = row.copy()
                    for other in f.levels:
                        moved[FEATURE_NAMES.index(f"{f.name}={other}")] = 1.0 if other == level else 0.0
                    assert _raw(explained, m, moved[None])[0] > base
            else:
                assert reason.direction in (TOO_HIGH, TOO_LOW)
                moved = _moves(row, reason.field_index, reason.direction, explained)
                gains = _raw(explained, m, np.array(moved)) - base if moved else np.zeros(0)
                assert len(gains), f"{answer['code']}: no value on that side"
                assert gains.max() > 0, f"{answer['code']}: no move that way helps"
            checked += 1
    assert checked > 200


def test_monotone_fields_take_the_constraints_direction(explained: Explained, explainer: Explainer) -> None:  # noqa: F811
    rows = encode([parse_record(r)[0] for r in synthetic_records(200, seed=9)])
    monotone = explained.cascade.monotone
    margins = (explained.cascade.labels(rows) != 0).astype(np.intp)
    contributions, patterns = explainer.explain(rows, margins)
    seen = {-1: 0, 1: 0}
    for i, row in enumerate(rows):
        for reason in explainer.reasons(row, int(margins[i]), contributions.fields[i], patterns[i]):
            sign = monotone.get(FIELD_NAMES[reason.field_index])
            if sign is not None:  # more of a "bad" feature can only lower the margin, of a "good" one raise it
                assert reason.direction == (TOO_HIGH if sign < 0 else TOO_LOW)
                seen[sign] += 1
    assert seen[-1] > 20
    assert seen[1] > 5


def test_only_negative_contributions_that_a_move_can_undo_become_reasons(explainer: Explainer) -> None:
    row = _row(APPLICANT)[0]
    _contributions, patterns = explainer.explain(row[None], np.array([0]))
    fields = np.zeros(len(FIELD_NAMES))
    fields[FIELD_NAMES.index("Credit_Mix")] = -0.2  # Bad: Standard or Good would score better
    fields[FIELD_NAMES.index("Delay_from_due_date")] = 0.5  # positive: never a reason
    fields[FIELD_NAMES.index("Num_Bank_Accounts")] = -0.1  # no move of it raises this margin here
    reasons = explainer.reasons(row, 0, fields, patterns[0])
    assert [FIELD_NAMES[r.field_index] for r in reasons] == ["Credit_Mix"]


def test_texts_come_in_both_languages(explainer: Explainer) -> None:
    row = _row(APPLICANT)
    contributions, patterns = explainer.explain(row, np.array([0]))
    reason = explainer.reasons(row[0], 0, contributions.fields[0], patterns[0])[0]
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
