"""PSI, chi-square, streaming counts and verdicts against a reference profile."""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime

import numpy as np
import pytest
from scipy.stats import chisquare

from credit_score.contract import fields as features
from credit_score.contract.profile import bin_fractions, reference_profile
from credit_score.monitoring.stats import (
    ALERT,
    EPSILON,
    INSUFFICIENT,
    MAX_CHUNK,
    NONE,
    WARN,
    Counts,
    ProfileError,
    Reference,
    Thresholds,
    chi_square,
    evaluate,
    psi,
)
from tests.monitoring.conftest import dated_records
from tests.support.bundles import synthetic_records


@pytest.fixture(scope="module")
def profile() -> dict:
    parsed = [features.parse_record(r)[0] for r in synthetic_records(1_000, seed=5)]
    predictions = np.arange(300) % 3
    return reference_profile(features.encode_fields(parsed), predictions)


@pytest.fixture(scope="module")
def reference(profile: dict) -> Reference:
    return Reference.from_profile(profile)


def _when() -> datetime:
    return datetime(2025, 5, 1, tzinfo=UTC)


def records_of(inputs: list[dict], day: str = "2025-05-02", prediction: int = 1) -> list[dict]:
    return [
        {"timestamp": f"{day}T10:00:00Z", "input": entry, "prediction": prediction, "model_version": "3"}
        for entry in inputs
    ]


def test_given_identical_shares_when_psi_then_zero():
    shares = [0.1, 0.2, 0.3, 0.4]

    assert psi(shares, shares) == 0.0


def test_given_two_distributions_when_psi_then_sum_of_share_gaps_times_log_ratios():
    rng = np.random.default_rng(3)
    current, reference = rng.dirichlet(np.ones(8)), rng.dirichlet(np.ones(8))

    expected = float(np.sum((current - reference) * np.log(current / reference)))

    assert psi(current.tolist(), reference.tolist()) == pytest.approx(expected, rel=1e-12)
    assert psi(current.tolist(), reference.tolist()) == pytest.approx(psi(reference.tolist(), current.tolist()))


def test_given_an_empty_bin_when_psi_then_floored_at_epsilon_large_but_finite():
    value = psi([0.0, 0.5, 0.5], [0.2, 0.4, 0.4])

    floored = psi([EPSILON, 0.5, 0.5], [0.2, 0.4, 0.4])
    assert math.isfinite(value)
    assert value == floored
    assert value > Thresholds().alert


def test_given_counts_when_chi_square_then_scipy_goodness_of_fit():
    counts, shares = [30, 50, 20], [0.25, 0.5, 0.25]

    statistic, dof, p_value = chi_square(counts, shares)

    expected = chisquare(counts, [100 * s for s in shares])
    assert statistic == pytest.approx(expected.statistic)
    assert p_value == pytest.approx(expected.pvalue)
    assert dof == 2


@pytest.mark.parametrize(
    ("value", "rows", "verdict"),
    [(0.0999, 600, NONE), (0.1, 600, WARN), (0.2499, 600, WARN), (0.25, 600, ALERT), (3.0, 499, INSUFFICIENT)],
)
def test_given_thresholds_when_judging_then_bounds_are_inclusive_and_small_samples_insufficient(value, rows, verdict):
    assert Thresholds(warn=0.1, alert=0.25, min_rows=500).verdict(value, rows) == verdict


@pytest.mark.parametrize(
    ("value", "p_value", "verdict"),
    [(0.3, 1e-9, ALERT), (0.15, 0.009, WARN), (0.3, 0.011, INSUFFICIENT), (0.05, 1e-9, INSUFFICIENT)],
)
def test_given_a_small_sample_when_judging_then_a_shift_counts_only_if_the_test_confirms_it(value, p_value, verdict):
    assert Thresholds(min_rows=500, alpha=0.01).verdict(value, 300, p_value) == verdict
    assert Thresholds(min_rows=500, alpha=0.01).verdict(value, 500, p_value) != INSUFFICIENT  # PSI decides alone


@pytest.mark.parametrize(("warn", "alert", "rows"), [(0.3, 0.2, 10), (0.0, 0.2, 10), (0.1, 0.2, 0)])
def test_given_inconsistent_thresholds_when_built_then_refused(warn, alert, rows):
    with pytest.raises(ValueError, match="must"):
        Thresholds(warn=warn, alert=alert, min_rows=rows)


def test_given_values_on_and_between_edges_when_counted_then_bins_agree_with_the_profile_rule(reference):
    edges = reference.numeric["Age"].edges
    values = [*edges, *(e + 0.5 for e in edges), edges[0] - 1, edges[-1] + 1, None]
    inputs = [{"Age": value} for value in values]
    counts = Counts(reference)

    counts.add(records_of(inputs))

    column = np.array([np.nan if v is None else v for v in values])
    present = np.count_nonzero(~np.isnan(column))
    assert (counts.bins["Age"] / present).round(6).tolist() == bin_fractions(column, edges)
    assert counts.missing["Age"] == 1


def test_given_chunks_when_counted_then_same_as_one_pass(reference):
    records = [r | {"timestamp": f"2025-05-0{1 + i % 3}T00:00:00Z"} for i, r in enumerate(dated_records(900, _when()))]
    whole, streamed = Counts(reference), Counts(reference)

    whole.add(records)
    for start in range(0, len(records), 128):
        streamed.add(records[start : start + 128])

    assert all((whole.bins[name] == streamed.bins[name]).all() for name in whole.bins)
    assert whole.levels == streamed.levels
    assert {day: c.tolist() for day, c in whole.by_day.items()} == {d: c.tolist() for d, c in streamed.by_day.items()}
    assert whole.rows == streamed.rows == 900


def test_given_a_chunk_above_the_limit_when_counted_then_refused(reference):
    with pytest.raises(ValueError, match="chunks"):
        Counts(reference).add([{}] * (MAX_CHUNK + 1))


def test_given_missing_unknown_and_unexpected_values_when_evaluated_then_data_quality_shares(reference):
    base = dated_records(1, _when())[0]["input"]
    inputs = []
    for index in range(1_000):
        entry = dict(base)
        if index % 4 == 0:
            entry["Credit_Mix"] = "Unknown"
        if index % 10 == 0:
            entry["Age"] = "not a number"
        if index % 20 == 0:
            entry["Occupation"] = "Astronaut" if index % 40 else ["not", "a", "string"]
        if index % 10 == 5:
            entry["Age"] = str(entry["Age"])  # a number spelt as text still counts
        if index == 1:
            entry["Monthly_Balance"] = 10**400  # beyond any float: missing
        if index % 50 == 0:
            del entry["Payment_of_Min_Amount"]
        inputs.append(entry)
    counts = Counts(reference)
    counts.add(records_of(inputs))

    drift = evaluate(counts, Thresholds(min_rows=100))

    by_name = {f.name: f for f in drift.features}
    assert by_name["Credit_Mix"].unknown_share == pytest.approx(0.25)
    assert by_name["Credit_Mix"].reference_unknown_share == 0.0
    assert by_name["Age"].missing_share == pytest.approx(0.1)
    assert by_name["Age"].rows == 900
    assert by_name["Monthly_Balance"].missing_share == pytest.approx(0.001)
    assert by_name["Occupation"].other_share == pytest.approx(0.05)
    assert by_name["Occupation"].rows == 950
    assert by_name["Payment_of_Min_Amount"].missing_share == pytest.approx(0.02)
    assert by_name["Payment_of_Min_Amount"].unknown_share is None  # no Unknown bucket
    assert drift.verdict == ALERT  # one repeated applicant is nothing like the training rows


def test_given_fewer_records_than_the_minimum_when_evaluated_then_insufficient_data_overall(reference):
    counts = Counts(reference)
    counts.add(dated_records(50, _when()))

    drift = evaluate(counts, Thresholds(min_rows=500))

    assert drift.verdict == INSUFFICIENT
    assert {f.verdict for f in (*drift.features, drift.prediction)} == {INSUFFICIENT}
    assert all(f.psi is not None for f in drift.features)  # still reported, just not judged


def test_given_no_records_when_evaluated_then_insufficient_without_psi(reference):
    drift = evaluate(Counts(reference), Thresholds())

    assert drift.verdict == INSUFFICIENT
    assert drift.prediction.psi is None
    assert drift.features[0].missing_share is None


def test_given_a_sample_of_the_reference_when_evaluated_then_no_drift(reference):
    counts = Counts(reference)
    records = records_of([features.parse_record(r)[0] for r in synthetic_records(2_000, seed=6)])
    for index, record in enumerate(records):
        record["prediction"] = index % 3  # the reference's eval mix is a third each
    counts.add(records)

    drift = evaluate(counts, Thresholds())

    assert drift.verdict == NONE
    assert max(f.psi for f in drift.features) < 0.05
    assert drift.by_day == {"2025-05-02": {"Poor": 667, "Standard": 667, "Good": 666}}


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.update(format_version=99),
        lambda p: p["numeric"].pop("Age"),
        lambda p: p["categorical"]["Credit_Mix"]["frequencies"].pop("Unknown"),
        lambda p: p["numeric"]["Age"]["fractions"].pop(),
        lambda p: p["prediction_mix"].pop("Good"),
        lambda p: p.update(rows="many"),
    ],
)
def test_given_an_incomplete_profile_when_parsed_then_refused(profile, damage):
    broken = copy.deepcopy(profile)
    damage(broken)

    with pytest.raises(ProfileError):
        Reference.from_profile(broken)


def test_given_a_field_missing_from_every_training_row_when_evaluated_then_insufficient_not_an_error(profile):
    changed = copy.deepcopy(profile)
    changed["numeric"]["Age"] = {"edges": [], "fractions": [0.0], "missing": 1.0}
    counts = Counts(Reference.from_profile(changed))
    counts.add(dated_records(600, _when()))

    drift = evaluate(counts, Thresholds())

    age = next(f for f in drift.features if f.name == "Age")
    assert (age.psi, age.verdict, age.bins, age.rows) == (None, INSUFFICIENT, (), 600)
    assert drift.verdict != INSUFFICIENT  # the other fields still decide


def test_given_categorical_frequencies_when_parsed_then_renormalised_over_levels(profile):
    changed = copy.deepcopy(profile)
    changed["categorical"]["Payment_of_Min_Amount"] = {
        "frequencies": {"Yes": 0.3, "No": 0.3, "NM": 0.2},
        "missing": 0.2,
    }

    parsed = Reference.from_profile(changed).categorical["Payment_of_Min_Amount"]

    assert parsed.shares == pytest.approx((0.375, 0.375, 0.25))
    assert parsed.missing == 0.2


def probability_records(count: int, alphas: list[float], seed: int) -> list[dict]:
    """Records of the profile's population whose probabilities are Dirichlet(``alphas``) draws."""
    records = dated_records(count, _when(), seed=seed)
    for record, row in zip(records, np.random.default_rng(seed).dirichlet(alphas, size=count), strict=True):
        record["probabilities"] = dict(zip(("Poor", "Standard", "Good"), row.tolist(), strict=True))
    return records


@pytest.fixture(scope="module")
def probability_reference() -> Reference:
    parsed = [features.parse_record(r)[0] for r in synthetic_records(1_000, seed=5)]
    probabilities = np.random.default_rng(21).dirichlet([1, 1, 1], size=1_000)
    return Reference.from_profile(
        reference_profile(features.encode_fields(parsed), probabilities.argmax(axis=1), probabilities)
    )


def test_given_more_confident_good_answers_when_evaluated_then_p_good_alerts_and_the_window_with_it(
    probability_reference,
):
    counts = Counts(probability_reference)
    counts.add(probability_records(1_000, [1, 1, 6], seed=22))

    drift = evaluate(counts, Thresholds())

    by_name = {entry.name: entry for entry in drift.probabilities}
    assert set(by_name) == {"P(Poor)", "P(Good)"}
    assert by_name["P(Good)"].verdict == ALERT
    assert by_name["P(Good)"].kind == "probability"
    assert len(by_name["P(Good)"].bins) == 10
    assert drift.verdict == ALERT


def test_given_probabilities_like_the_reference_when_evaluated_then_no_drift(probability_reference):
    counts = Counts(probability_reference)
    counts.add(probability_records(1_000, [1, 1, 1], seed=23))

    drift = evaluate(counts, Thresholds())

    assert [entry.verdict for entry in drift.probabilities] == [NONE, NONE]
    assert max(entry.psi for entry in drift.probabilities) < Thresholds().warn


def test_given_a_profile_without_probability_bins_when_evaluated_then_loaded_and_not_compared(profile):
    assert "probabilities" not in profile
    counts = Counts(Reference.from_profile(profile))
    counts.add(probability_records(600, [1, 1, 6], seed=24))

    drift = evaluate(counts, Thresholds())

    assert drift.probabilities == ()
    assert Reference.from_profile(profile).probabilities == {}


def test_given_probability_bins_of_the_wrong_shape_when_loaded_then_profile_error(profile):
    broken = {**copy.deepcopy(profile), "probabilities": {"Poor": {"edges": [0.5], "fractions": [1.0]}}}

    with pytest.raises(ProfileError):
        Reference.from_profile(broken)
