"""Per-day drift: the day a shift starts shows in that day's PSI; probabilities are tracked per day."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from credit_score.contract import fields as features
from credit_score.contract.profile import reference_profile
from credit_score.monitoring.stats import Reference, Thresholds
from credit_score.monitoring.trend import PROBABILITY_BINS, DailyCounts
from tests.monitoring.conftest import dated_records
from tests.support.bundles import synthetic_records


@pytest.fixture(scope="module")
def reference() -> Reference:
    parsed = [features.parse_record(r)[0] for r in synthetic_records(2_000, seed=5)]
    return Reference.from_profile(reference_profile(features.encode_fields(parsed), np.arange(300) % 3))


def test_given_a_shift_from_the_third_day_when_trended_then_only_those_days_show_it(reference) -> None:
    daily = DailyCounts(reference)
    for day in range(1, 6):
        records = dated_records(400, datetime(2025, 5, day, 9, tzinfo=UTC), seed=day)
        if day >= 3:
            for record in records:
                record["input"]["Annual_Income"] = record["input"]["Annual_Income"] * 4
        daily.add(records)

    trend = daily.section()["psi_by_day"]

    income = trend["Annual_Income"]
    assert list(income) == [f"2025-05-0{day}" for day in range(1, 6)]
    assert max(income["2025-05-01"], income["2025-05-02"]) < Thresholds().warn
    assert min(income["2025-05-03"], income["2025-05-04"], income["2025-05-05"]) >= Thresholds().alert
    assert max(trend["Interest_Rate"].values()) < Thresholds().warn
    assert set(trend) == {*reference.numeric, *reference.categorical}


def test_given_probabilities_when_trended_then_daily_means_and_bin_shares_match_the_records(reference) -> None:
    daily = DailyCounts(reference)
    records = dated_records(500, datetime(2025, 5, 7, 9, tzinfo=UTC), seed=3)
    daily.add(records[:200])
    daily.add(records[200:])

    day = daily.section()["probability_by_day"]["2025-05-07"]

    good = np.array([r["probabilities"]["Good"] for r in records])
    assert day["n"] == 500
    assert day["mean"]["Good"] == pytest.approx(good.mean(), abs=1e-6)
    assert day["shares"]["Good"] == pytest.approx(
        (np.bincount(np.minimum((good * PROBABILITY_BINS).astype(int), 9), minlength=10) / 500).tolist(), abs=1e-6
    )


def test_given_reference_probability_bins_when_confidence_shifts_on_a_day_then_that_days_psi_shows_it() -> None:
    parsed = [features.parse_record(r)[0] for r in synthetic_records(1_000, seed=5)]
    probabilities = np.random.default_rng(31).dirichlet([1, 1, 1], size=1_000)
    reference = Reference.from_profile(
        reference_profile(features.encode_fields(parsed), probabilities.argmax(axis=1), probabilities)
    )
    daily = DailyCounts(reference)
    for day, alphas in ((1, [1, 1, 1]), (2, [6, 1, 1])):
        records = dated_records(800, datetime(2025, 5, day, 9, tzinfo=UTC), seed=day)
        for record, row in zip(records, np.random.default_rng(day).dirichlet(alphas, size=800), strict=True):
            record["probabilities"] = dict(zip(("Poor", "Standard", "Good"), row.tolist(), strict=True))
        daily.add(records)

    series = daily.section()["probability_psi_by_day"]

    assert set(series) == {"Poor", "Good"}
    assert series["Poor"]["2025-05-01"] < Thresholds().warn
    assert series["Poor"]["2025-05-02"] >= Thresholds().alert


def test_given_a_reference_without_probability_bins_when_trended_then_no_probability_psi(reference) -> None:
    daily = DailyCounts(reference)
    daily.add(dated_records(100, datetime(2025, 5, 7, 9, tzinfo=UTC), seed=3))

    assert daily.section()["probability_psi_by_day"] == {}
