"""The cascade's behaviour: parameters it insists on, valid probabilities, monotone answers, the label rule."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from credit_score.contract.fields import CREDIT_DIRECTION, FEATURE_NAMES, ORDERED_LEVELS
from credit_score.modelling.artifacts import class_probabilities, threshold_labels
from credit_score.modelling.conversion import check_parity, require_parity, to_onnx
from credit_score.modelling.training import synthetic
from credit_score.modelling.training.cascade import (
    MONOTONE,
    booster_params,
    fit_cascade,
    macro_f1,
    monotone_constraints,
    tune_thresholds,
)
from credit_score.modelling.training.data import to_dataset
from credit_score.modelling.training.monotonicity import domain

ROUNDS = (40, 40)


@pytest.fixture(scope="module")
def dataset():
    return to_dataset(synthetic.generate(2000, seed=21))


@pytest.fixture(scope="module")
def cascade(dataset):
    return fit_cascade(dataset.features, dataset.labels, dataset.groups, seed=3, rounds=ROUNDS, learning_rate=0.1)


def test_given_overrides_when_building_params_then_one_thread_always_and_depth_capped_at_5() -> None:
    params = booster_params(seed=9, num_threads=2, learning_rate=0.2)

    assert params["num_threads"] == 1
    assert params["learning_rate"] == 0.2
    assert params["seed"] == 9
    with pytest.raises(ValueError, match="max_depth"):
        booster_params(max_depth=6)


def test_given_the_direction_table_when_listing_constraints_then_every_column_carries_its_fields_sign() -> None:
    constraints = monotone_constraints()

    assert len(constraints) == len(FEATURE_NAMES)
    assert dict(zip(FEATURE_NAMES, constraints, strict=True)) == MONOTONE
    assert 0 not in constraints  # no column is free
    signs = {"increasing": 1, "ordered": 1, "decreasing": -1}
    assert {name: signs[direction] for name, direction in CREDIT_DIRECTION.items()} == MONOTONE
    assert MONOTONE["Outstanding_Debt"] == -1
    assert MONOTONE["Annual_Income"] == 1
    assert MONOTONE["Credit_Mix"] == 1  # ranks rise from Bad to Good
    with pytest.raises(ValueError, match="not in the encoding"):
        monotone_constraints({"Shoe_Size": -1})
    with pytest.raises(ValueError, match="signs"):
        monotone_constraints({"Outstanding_Debt": 2})


def test_given_fitted_cascade_when_scoring_then_probabilities_are_a_distribution_over_the_used_fields(
    cascade, dataset
) -> None:
    probabilities = cascade.probabilities(dataset.features)

    assert [booster.num_feature() for booster in cascade.boosters] == [len(FEATURE_NAMES)] * 2
    assert probabilities.shape == (len(dataset), 3)
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    assert macro_f1(dataset.labels, cascade.labels(dataset.features)) > 0.5  # it learnt the synthetic signal


@pytest.mark.parametrize("name", MONOTONE)
def test_given_generated_applicants_when_one_monotone_feature_sweeps_its_domain_worse_then_p_good_never_rises(
    cascade, dataset, name: str
) -> None:
    column = FEATURE_NAMES.index(name)
    low, high = domain(name)
    rows = dataset.features[:200]
    previous_good, previous_poor, previous_label = None, None, None
    if name in ORDERED_LEVELS:
        sweep = np.arange(len(ORDERED_LEVELS[name]), dtype=np.float64)
    else:
        sweep = np.linspace(low, min(high, 5 * np.nanmax(dataset.features[:, column])), 25)
    for value in sweep if MONOTONE[name] < 0 else sweep[::-1]:  # from the best value to the worst
        moved = rows.copy()
        moved[:, column] = value
        probabilities, labels = cascade.probabilities(moved), cascade.labels(moved)
        if previous_good is not None:
            assert (probabilities[:, 2] <= previous_good + 1e-12).all()
            assert (probabilities[:, 0] >= previous_poor - 1e-12).all()
            assert (labels <= previous_label).all()
        previous_good, previous_poor, previous_label = probabilities[:, 2], probabilities[:, 0], labels


@settings(max_examples=200, deadline=None)
@given(
    margins=arrays(np.float64, (30, 2), elements=st.floats(-8, 8)),
    drops=arrays(np.float64, (30, 2), elements=st.floats(0, 8)),
    thresholds=st.tuples(st.floats(0.05, 0.95), st.floats(0.05, 0.95)),
)
def test_given_lower_margins_when_labelling_then_class_never_improves_and_probabilities_move_the_right_way(
    margins: np.ndarray, drops: np.ndarray, thresholds: tuple[float, float]
) -> None:
    lowered = margins - drops

    assert (threshold_labels(lowered, thresholds) <= threshold_labels(margins, thresholds)).all()
    before, after = class_probabilities(margins), class_probabilities(lowered)
    assert (after[:, 2] <= before[:, 2] + 1e-12).all()
    assert (after[:, 0] >= before[:, 0] - 1e-12).all()


def test_given_margins_when_tuning_thresholds_then_the_chosen_pair_is_the_best_of_the_grid() -> None:
    rng = np.random.default_rng(1)
    labels = rng.choice(3, 3000, p=[0.3, 0.5, 0.2])
    margins = np.column_stack([(labels >= 1) * 1.5 - 0.8, (labels == 2) * 1.5 - 1.2]) + rng.normal(0, 1, (3000, 2))

    t1, t2 = tune_thresholds(labels, margins)

    chosen = macro_f1(labels, threshold_labels(margins, (t1, t2)))
    assert chosen >= macro_f1(labels, threshold_labels(margins, (0.5, 0.5)))
    assert chosen >= macro_f1(labels, class_probabilities(margins).argmax(axis=1))
    for other in ((t1 + 0.05, t2), (t1 - 0.05, t2), (t1, t2 + 0.05), (t1, t2 - 0.05)):
        assert chosen >= macro_f1(labels, threshold_labels(margins, other))


def test_given_column_missing_in_every_training_row_when_fitting_then_model_takes_every_column_and_converts(
    dataset,
) -> None:
    features = dataset.features.copy()
    features[:, FEATURE_NAMES.index("Monthly_Balance")] = np.nan

    fitted = fit_cascade(features, dataset.labels, dataset.groups, rounds=(5, 5))

    assert fitted.probabilities(features[:3]).shape == (3, 3)
    assert require_parity(check_parity(fitted, to_onnx(fitted), features)).label_mismatches == 0


def test_given_fitted_cascade_when_converted_to_onnx_then_parity_including_missing_values(cascade, dataset) -> None:
    assert np.isnan(dataset.features).any()

    parity = require_parity(check_parity(cascade, to_onnx(cascade), dataset.features))

    assert parity.rows == len(dataset)
    assert parity.max_abs_prob_diff <= 1e-5
    assert parity.max_abs_margin_diff <= 1e-4
