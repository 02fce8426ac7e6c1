"""Drift day by day: each field's PSI against the reference per day, and the probabilities per day.

A window's single PSI hides when a shift began; the per-day series shows it. Days with fewer values
than the window's minimum carry their PSI all the same (a trend, not a verdict; the verdicts stay with
``stats``). The probability distribution is tracked beside the label mix: per day the mean of each
class probability and the shares of P(Good) and P(Poor) in ten equal bins, so a drift of confidence
shows before it moves a label across a cut-off; and, when the reference profile has probability bins
(deciles of the training rows' P(Poor) and P(Good)), each day's PSI of both against them, like a field's.
Aggregates only, never a record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from credit_score.contract import capture
from credit_score.contract.profile import bin_counts
from credit_score.monitoring.stats import LABELS, Reference, _categories, _numbers, probability_matrix, psi

__all__ = ["PROBABILITY_BINS", "DailyCounts"]

PROBABILITY_BINS = 10
_DIGITS = 6


@dataclass
class _Day:
    bins: dict[str, np.ndarray]
    levels: dict[str, Counter[str]]
    probability_sum: np.ndarray = field(default_factory=lambda: np.zeros(len(LABELS)))
    histograms: np.ndarray = field(default_factory=lambda: np.zeros((len(LABELS), PROBABILITY_BINS), np.int64))
    scored: int = 0
    probability_bins: dict[str, np.ndarray] = field(default_factory=dict)  # over the reference's bins


@dataclass
class DailyCounts:
    """Bin and level counts per day (memory: days x fields x bins), plus probability sums and histograms."""

    reference: Reference
    days: dict[str, _Day] = field(default_factory=dict)

    def _day(self, day: str) -> _Day:
        if day not in self.days:
            self.days[day] = _Day(
                {name: np.zeros(len(ref.edges) + 1, np.int64) for name, ref in self.reference.numeric.items()},
                {name: Counter() for name in self.reference.categorical},
                probability_bins={
                    label: np.zeros(len(ref.edges) + 1, np.int64) for label, ref in self.reference.probabilities.items()
                },
            )
        return self.days[day]

    def add(self, records: Sequence[Mapping[str, Any]]) -> None:
        by_day: dict[str, list[Mapping[str, Any]]] = {}
        for record in records:
            by_day.setdefault(record[capture.TIMESTAMP][:10], []).append(record)
        for day, members in by_day.items():
            state = self._day(day)
            inputs = [record[capture.INPUT] for record in members]
            matrix = _numbers(inputs)
            for index, name in enumerate(self.reference.numeric):
                column = matrix[:, index]
                if not np.isnan(column).all():
                    state.bins[name] += bin_counts(column, self.reference.numeric[name].edges)
            for name, counts in zip(self.reference.categorical, _categories(inputs), strict=True):
                state.levels[name].update({k: v for k, v in counts.items() if isinstance(k, str)})
            scored = probability_matrix(members)
            values = scored[~np.isnan(scored).any(axis=1)]
            for label, bins in state.probability_bins.items():
                bins += bin_counts(values[:, LABELS.index(label)], self.reference.probabilities[label].edges)
            if len(values):
                state.scored += len(values)
                state.probability_sum += values.sum(axis=0)
                which = np.minimum((values * PROBABILITY_BINS).astype(np.int64), PROBABILITY_BINS - 1)
                for code in range(len(LABELS)):
                    state.histograms[code] += np.bincount(which[:, code], minlength=PROBABILITY_BINS)

    def section(self) -> dict[str, Any]:
        """``{"psi_by_day": {field: {day: psi}}, "probability_by_day": {...}, "probability_psi_by_day": {...}}``."""
        trend: dict[str, dict[str, float | None]] = {}
        for name, numeric in self.reference.numeric.items():
            trend[name] = {day: _psi(state.bins[name], numeric.shares) for day, state in sorted(self.days.items())}
        for name, categorical in self.reference.categorical.items():
            trend[name] = {
                day: _psi(np.array([state.levels[name][level] for level in categorical.levels]), categorical.shares)
                for day, state in sorted(self.days.items())
            }
        probabilities = {}
        for day, state in sorted(self.days.items()):
            if not state.scored:
                continue
            probabilities[day] = {
                "n": state.scored,
                "mean": {
                    label: round(float(total / state.scored), _DIGITS)
                    for label, total in zip(LABELS, state.probability_sum, strict=True)
                },
                "shares": {
                    label: [round(float(count / state.scored), _DIGITS) for count in state.histograms[code]]
                    for code, label in enumerate(LABELS)
                    if label in ("Poor", "Good")
                },
            }
        probability_psi = {
            label: {day: _psi(state.probability_bins[label], bins.shares) for day, state in sorted(self.days.items())}
            for label, bins in self.reference.probabilities.items()
        }
        return {
            "psi_by_day": trend,
            "probability_by_day": probabilities,
            "probability_bins": PROBABILITY_BINS,
            "probability_psi_by_day": probability_psi,
        }


def _psi(counts: np.ndarray, reference: Sequence[float]) -> float | None:
    total = int(counts.sum())
    if not total or not reference:
        return None
    return round(psi((counts / total).tolist(), reference), _DIGITS)
