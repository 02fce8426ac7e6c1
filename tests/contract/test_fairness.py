"""Fairness by age band equals fairlearn's MetricFrame on the same decisions; the four-fifths screen flags."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame, demographic_parity_ratio, selection_rate
from sklearn.metrics import recall_score

from credit_score.contract.fairness import AIR_SCREEN, BAND_NAMES, BandCounts, age_bands, fairness_table


def decisions(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ages = rng.integers(18, 80, rows).astype(float)
    ages[rng.random(rows) < 0.02] = np.nan
    logits = rng.normal(size=(rows, 3)) + np.where(ages[:, None] < 25, [0.8, 0, -0.5], 0)  # the young fare worse
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    predicted = probabilities.argmax(axis=1)
    labels = rng.choice(3, rows)
    return ages, predicted, probabilities, labels


def test_given_ages_when_banded_then_edges_fall_as_documented() -> None:
    bands = age_bands([17, 24.9, 25, 44, 45, 61, 62, 95, np.nan])

    assert [BAND_NAMES[b] if b >= 0 else None for b in bands] == [
        "<25", "<25", "25-44", "25-44", "45-61", "45-61", ">=62", ">=62", None
    ]  # fmt: skip


def test_given_decisions_when_tabled_then_equal_to_fairlearn_metricframe() -> None:
    ages, predicted, probabilities, labels = decisions(5_000, seed=2)
    known = ~np.isnan(ages)
    band = np.array([BAND_NAMES[b] for b in age_bands(ages[known])])
    table = fairness_table(ages, predicted, probabilities, labels)

    for kind, favourable in (("not_poor", predicted != 0), ("good", predicted == 2)):
        frame = MetricFrame(metrics=selection_rate, y_true=labels[known], y_pred=favourable[known],
                            sensitive_features=band)  # fmt: skip
        for name in BAND_NAMES:
            assert table["age_bands"][name]["favourable_rate"][kind] == pytest.approx(frame.by_group[name], abs=1e-6)
        assert min(table["air"][kind]["ratios"].values()) == pytest.approx(
            demographic_parity_ratio(
                labels[known], favourable[known], sensitive_features=band, method="between_groups"
            ),
            abs=1e-6,
        )
        assert table["air"][kind]["most_favoured"] == frame.by_group.idxmax()
    for code, label in enumerate(("Poor", "Standard", "Good")):
        frame = MetricFrame(metrics=recall_score, y_true=labels[known] == code, y_pred=predicted[known] == code,
                            sensitive_features=band)  # fmt: skip
        for name in BAND_NAMES:
            assert table["age_bands"][name]["recall"][label] == pytest.approx(frame.by_group[name], abs=1e-6)
    mean_good = MetricFrame(metrics=lambda t, p: float(np.mean(p)), y_true=labels[known],
                            y_pred=probabilities[known, 2], sensitive_features=band)  # fmt: skip
    for name in BAND_NAMES:
        assert table["age_bands"][name]["mean_p_good"] == pytest.approx(mean_good.by_group[name], abs=1e-6)
    assert table["age_missing"] == int((~known).sum())
    assert table["rows"] == int(known.sum())


def test_given_a_band_below_four_fifths_when_tabled_then_flagged_and_only_it() -> None:
    ages, predicted, probabilities, _ = decisions(5_000, seed=3)

    table = fairness_table(ages, predicted, probabilities)

    flagged = {(f["band"], f["outcome"]) for f in table["flagged"]}
    assert ("<25", "good") in flagged
    assert all(f["air"] < AIR_SCREEN for f in table["flagged"])
    unflagged = [(name, kind) for kind in ("not_poor", "good") for name, ratio in table["air"][kind]["ratios"].items()
                 if ratio >= AIR_SCREEN]  # fmt: skip
    assert not flagged & set(unflagged)
    assert table["age_bands"]["<25"]["recall"] is None  # no outcomes given


def test_given_chunks_when_merged_then_same_table_as_all_at_once() -> None:
    ages, predicted, probabilities, labels = decisions(3_000, seed=4)
    first, second = BandCounts(), BandCounts()
    first.add(ages[:1000], predicted[:1000], probabilities[:1000])
    second.add(ages[1000:], predicted[1000:], probabilities[1000:])
    first.add_outcomes(ages, predicted, labels)

    assert first.merge(second).table() == fairness_table(ages, predicted, probabilities, labels)
