"""The step test and the gate it feeds: a field worsened in its credit direction must never improve an answer."""

from __future__ import annotations

import numpy as np
import pytest

from credit_score.contract.fields import CREDIT_DIRECTION, FEATURE_NAMES
from credit_score.modelling.artifacts import Cascade
from credit_score.modelling.training import synthetic
from credit_score.modelling.training.cascade import MONOTONE, fit_cascade
from credit_score.modelling.training.data import to_dataset
from credit_score.modelling.training.monotonicity import (
    STEPS,
    MonotonicityError,
    domain,
    require_monotone,
    step_test,
)


@pytest.fixture(scope="module")
def dataset():
    return to_dataset(synthetic.generate(2500, seed=8))


def _fit(dataset, **overrides) -> Cascade:
    return fit_cascade(
        dataset.features, dataset.labels, dataset.groups, rounds=(60, 60), learning_rate=0.1, **overrides
    )


def test_given_constrained_cascade_when_step_testing_every_row_then_no_violation(dataset) -> None:
    report = require_monotone(step_test(_fit(dataset), dataset.features))

    assert report.rows == len(dataset)
    assert report.checks == len(dataset) * sum(len(STEPS[name]) for name in FEATURE_NAMES)
    assert set(report.violations) == {f"{name}{step:+g}" for name in FEATURE_NAMES for step in STEPS[name]}
    assert {"Credit_Mix-1", "Credit_Mix-2", "Payment_of_Min_Amount-1", "Total_EMI_per_month+500"} <= set(
        report.violations
    )
    assert report.as_metadata()["tolerance"] == 1e-9


def test_given_unconstrained_cascade_when_step_testing_then_violations_found_and_gate_refuses(dataset) -> None:
    unconstrained = _fit(dataset, monotone_constraints=[0] * len(FEATURE_NAMES))

    report = step_test(unconstrained, dataset.features)

    assert not report.passed
    assert sum(report.violations.values()) > 0
    with pytest.raises(MonotonicityError, match=r"rows of 2500\); it is not registered"):
        require_monotone(report)


class _Shifted:
    """A booster whose margin is another's plus a fixed function of one column: a controlled defect."""

    def __init__(self, booster, column: int, weight: float) -> None:
        self.booster, self.column, self.weight = booster, column, weight

    def predict(self, matrix: np.ndarray, raw_score: bool = True) -> np.ndarray:
        return self.booster.predict(matrix, raw_score=True) + self.weight * np.nan_to_num(matrix[:, self.column])


def test_given_one_booster_rewarding_debt_when_step_testing_then_exactly_the_debt_steps_fail(dataset) -> None:
    good = _fit(dataset)
    debt = FEATURE_NAMES.index("Outstanding_Debt")
    defective = Cascade((good.boosters[0], _Shifted(good.boosters[1], debt, 1e-3)), good.thresholds, MONOTONE)

    report = step_test(defective, dataset.features)

    failing = {key for key, count in report.violations.items() if count}
    assert failing == {"Outstanding_Debt+1000", "Outstanding_Debt+5000"}


def test_given_one_booster_penalising_income_when_step_testing_then_exactly_the_income_steps_fail(dataset) -> None:
    good = _fit(dataset)
    income = FEATURE_NAMES.index("Annual_Income")
    defective = Cascade((_Shifted(good.boosters[0], income, -1e-4), good.boosters[1]), good.thresholds, MONOTONE)

    report = step_test(defective, dataset.features)

    failing = {key for key, count in report.violations.items() if count}
    assert failing == {"Annual_Income-2000", "Annual_Income-10000"}  # less income must never help


def test_given_the_direction_table_then_every_used_field_is_stepped_the_worse_way() -> None:
    assert set(STEPS) == set(FEATURE_NAMES)
    for name, steps in STEPS.items():
        assert steps
        assert all(step * MONOTONE[name] < 0 for step in steps), name  # against the field's sign: worse
    assert STEPS["Total_EMI_per_month"][0] > 0
    assert STEPS["Monthly_Balance"][0] < 0
    assert CREDIT_DIRECTION["Credit_Mix"] == "ordered"
    assert STEPS["Credit_Mix"] == (-1, -2)  # Good -> Standard -> Bad
    assert domain("Credit_Mix") == (0.0, 2.0)


def test_given_one_booster_rewarding_a_worse_credit_mix_when_step_testing_then_exactly_its_steps_fail(dataset) -> None:
    good = _fit(dataset)
    mix = FEATURE_NAMES.index("Credit_Mix")
    defective = Cascade((_Shifted(good.boosters[0], mix, -0.5), good.boosters[1]), good.thresholds, MONOTONE)

    report = step_test(defective, dataset.features)

    failing = {key for key, count in report.violations.items() if count}
    assert failing == {"Credit_Mix-1", "Credit_Mix-2"}


def test_given_a_cascade_fitted_on_another_encoding_when_step_testing_then_refused(dataset) -> None:
    good = _fit(dataset)
    other = Cascade(good.boosters, good.thresholds, MONOTONE, feature_names=FEATURE_NAMES[:-1])

    with pytest.raises(ValueError, match="another encoding"):
        step_test(other, dataset.features[:10])


class _RewardsBeyondDomain:
    """Another booster's margin, raised when one column leaves its domain or is missing."""

    def __init__(self, booster, column: int, minimum: float, maximum: float) -> None:
        self.booster, self.column, self.minimum, self.maximum = booster, column, minimum, maximum

    def predict(self, matrix: np.ndarray, raw_score: bool = True) -> np.ndarray:
        values = matrix[:, self.column]
        with np.errstate(invalid="ignore"):
            outside = (values > self.maximum) | (values < self.minimum) | np.isnan(values)
            return self.booster.predict(matrix, raw_score=True) + 5.0 * outside


@pytest.mark.parametrize(
    ("name", "bound"), [("Interest_Rate", 1), ("Annual_Income", 0), ("Credit_Mix", 0), ("Payment_of_Min_Amount", 0)]
)
def test_given_values_at_the_domain_bound_or_missing_when_stepping_then_kept_inside_or_left_missing(
    dataset, name: str, bound: int
) -> None:
    cascade = _fit(dataset)
    rows = dataset.features[:50].copy()
    column = FEATURE_NAMES.index(name)
    low, high = domain(name)
    rows[:25, column] = (low, high)[bound]  # the edge a worsening step points at
    rows[25:, column] = np.nan
    odd = _RewardsBeyondDomain(cascade.boosters[1], column, low, high)

    report = step_test(Cascade((cascade.boosters[0], odd), cascade.thresholds, MONOTONE), rows)

    assert report.passed  # a step never leaves the domain, and a missing value stays missing


def test_given_rows_with_gaps_when_fitting_with_defaults_then_monotone_where_lightgbms_finer_methods_are_not() -> None:
    """Why the cascade uses the "basic" constraint method: with missing values routed past a split,
    LightGBM 4.7's "intermediate" method let a shorter credit history raise a margin on these rows."""
    data = to_dataset(synthetic.generate(2500, seed=3))

    def fitted(**overrides) -> Cascade:
        return fit_cascade(data.features, data.labels, data.groups, 7, (30, 30), learning_rate=0.1, **overrides)

    assert step_test(fitted(), data.features).passed
    assert not step_test(fitted(monotone_constraints_method="intermediate"), data.features).passed
