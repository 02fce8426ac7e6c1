"""The step test and the gate it feeds: a field worsened in its credit direction must never improve an answer."""

from __future__ import annotations

import numpy as np
import pytest

from credit_score.contract.fields import CREDIT_DIRECTION, FEATURE_NAMES
from credit_score.modelling.artifacts import Cascade
from credit_score.modelling.training import synthetic
from credit_score.modelling.training.cascade import MONOTONE, booster_params, fit_cascade
from credit_score.modelling.training.data import to_dataset
from credit_score.modelling.training.monotonicity import (
    STEPS,
    TABLE_SIGNS,
    MonotonicityError,
    domain,
    flatten_trees_against_direction,
    prove_trees,
    require_monotone,
    require_proven,
    step_test,
    tree_violations,
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


def _raw_boosters(data, **overrides) -> tuple:
    """Both boosters as LightGBM leaves them: no training gaps added, no tree flattened."""
    import lightgbm

    params = booster_params(7, learning_rate=0.1, **overrides)
    upper = data.labels >= 1
    first = lightgbm.train(params, lightgbm.Dataset(data.features, upper.astype(int)), 30)
    second = lightgbm.train(params, lightgbm.Dataset(data.features[upper], (data.labels[upper] == 2).astype(int)), 30)
    return first, second


@pytest.fixture(scope="module")
def gapped():
    """Synthetic rows with gaps on which LightGBM 4.7's "intermediate" method breaks a direction."""
    return to_dataset(synthetic.generate(2500, seed=3))


def test_given_intermediate_boosters_with_missing_values_when_proving_then_the_trees_against_a_direction_are_named(
    gapped,
) -> None:
    """A missing value reaches leaves from the side "intermediate" does not tighten: the proof sees it."""
    boosters = _raw_boosters(gapped)
    cascade = Cascade(boosters, (0.5, 0.5), MONOTONE)

    proof = prove_trees(cascade)

    assert not step_test(cascade, gapped.features).passed  # the rows agree that the trees are wrong
    assert not proof.passed
    assert proof.trees == sum(booster.num_trees() for booster in boosters)
    with pytest.raises(MonotonicityError, match=r"trees break a credit direction \(.*trees of \d+\)"):
        require_proven(proof)


def test_given_basic_boosters_when_proving_then_every_tree_passes(gapped) -> None:
    assert prove_trees(Cascade(_raw_boosters(gapped, monotone_constraints_method="basic"), (0.5, 0.5), MONOTONE)).passed


def test_given_unconstrained_boosters_when_proving_against_the_table_then_refused(gapped) -> None:
    free = _raw_boosters(gapped, monotone_constraints=[0] * len(FEATURE_NAMES))

    proof = prove_trees(Cascade(free, (0.5, 0.5), MONOTONE))

    assert set(proof.against) >= {"Outstanding_Debt", "Credit_Mix"}  # the table, not the fit's own signs


def test_given_trees_against_a_direction_when_flattened_then_only_they_change_and_the_booster_is_proven(gapped) -> None:
    booster = _raw_boosters(gapped)[0]
    named = {tree for tree, _ in tree_violations(booster)}
    before = [
        booster.predict(gapped.features[:200], raw_score=True, start_iteration=t, num_iteration=1) for t in range(30)
    ]

    flattened = flatten_trees_against_direction(booster, TABLE_SIGNS)

    assert flattened == len(named) > 0
    assert tree_violations(booster) == []
    for tree in range(30):
        after = booster.predict(gapped.features[:200], raw_score=True, start_iteration=tree, num_iteration=1)
        if tree in named:
            assert np.ptp(after) == 0.0  # one constant output
        else:
            assert np.array_equal(after, before[tree])


def test_given_the_defaults_on_rows_with_gaps_when_fitting_then_proven_and_step_tested() -> None:
    data = to_dataset(synthetic.generate(2500, seed=3))
    cascade = fit_cascade(data.features, data.labels, data.groups, 7, (30, 30), learning_rate=0.1)

    assert prove_trees(cascade).passed
    assert step_test(cascade, data.features).passed


def test_given_columns_without_gaps_when_fitting_then_every_split_has_a_learned_missing_path(dataset) -> None:
    """Without gaps in training LightGBM reads a missing value as 0: a withheld debt would score as no debt."""
    complete = ~np.isnan(dataset.features).any(axis=1)
    cascade = _fit(dataset.subset(np.flatnonzero(complete)))

    kinds = {
        node["missing_type"]
        for booster in cascade.boosters
        for tree in booster.dump_model()["tree_info"]
        for node in _splits(tree["tree_structure"])
    }

    assert kinds == {"NaN"}


def _splits(node: dict):
    if "split_feature" in node:
        yield node
        yield from _splits(node["left_child"])
        yield from _splits(node["right_child"])
