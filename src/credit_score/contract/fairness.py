"""Fairness by age band: who gets which decision, and the adverse-impact ratio a model-risk team screens.

Computed the same way at training (on the evaluation rows, logged to MLflow and stored in the bundle as
the reference) and in the drift report (per month of decision): one definition, numpy only.

Bands (``AGE_BANDS``): ``<25``, ``25-44``, ``45-61``, ``>=62`` years (62: Regulation B, 12 CFR
1002.6(b)(2), forbids scoring an applicant aged 62 or more negatively for age). Per band: the rows,
the share of each decision, the mean P(Good), the rate of favourable decisions — "not Poor" (Standard
or Good) and "Good" — and, where the true class is known, the recall of each class.

Adverse-impact ratio (``air``): each band's favourable rate divided by the highest band's rate (the
most favoured band). A ratio below ``AIR_SCREEN`` (0.8, the four-fifths screen of the US Uniform
Guidelines, 29 CFR 1607.4(D)) is listed in ``flagged``: a prompt for review, not a finding. A band with
no rows has no rates and no ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from credit_score.contract.bundle import CLASSES

__all__ = [
    "AGE_BANDS",
    "AIR_SCREEN",
    "BAND_NAMES",
    "FAVOURABLE",
    "BandCounts",
    "age_bands",
    "fairness_table",
]

# (name, lowest age included, first age of the next band); ages are whole years as applicants give them.
AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<25", -math.inf, 25),
    ("25-44", 25, 45),
    ("45-61", 45, 62),
    (">=62", 62, math.inf),
)
BAND_NAMES: tuple[str, ...] = tuple(name for name, _, _ in AGE_BANDS)
AIR_SCREEN = 0.8
LABELS: tuple[str, ...] = tuple(label for _, label in CLASSES)
POOR, GOOD = 0, 2
FAVOURABLE = {"not_poor": "Standard or Good", "good": "Good"}
_DIGITS = 6


def age_bands(ages: Sequence[float] | np.ndarray) -> np.ndarray:
    """The band index of each age (``BAND_NAMES`` order); -1 where the age is missing or not a number."""
    values = np.asarray(ages, dtype=np.float64)
    bands = np.full(values.shape, -1, dtype=np.int64)
    for index, (_, low, high) in enumerate(AGE_BANDS):
        bands[(values >= low) & (values < high)] = index
    return bands


@dataclass
class BandCounts:
    """Sufficient statistics per band, summable across chunks, months and sources.

    ``decisions[b, k]`` counts decisions of class ``k`` in band ``b``; ``p_good[b]`` sums P(Good);
    ``confusion[b]`` counts (true, predicted) pairs of the decisions whose outcome is known.
    """

    decisions: np.ndarray = field(default_factory=lambda: np.zeros((len(AGE_BANDS), len(CLASSES)), np.int64))
    p_good: np.ndarray = field(default_factory=lambda: np.zeros(len(AGE_BANDS)))
    confusion: np.ndarray = field(
        default_factory=lambda: np.zeros((len(AGE_BANDS), len(CLASSES), len(CLASSES)), np.int64)
    )
    age_missing: int = 0

    def add(self, ages: np.ndarray, predicted: np.ndarray, probabilities: np.ndarray) -> None:
        """Decisions (served labels and class probabilities in code order) of applicants of ``ages``."""
        bands = age_bands(ages)
        present = bands >= 0
        self.age_missing += int((~present).sum())
        np.add.at(self.decisions, (bands[present], np.asarray(predicted, np.int64)[present]), 1)
        np.add.at(self.p_good, bands[present], np.asarray(probabilities, np.float64)[present, GOOD])

    def add_outcomes(self, ages: np.ndarray, predicted: np.ndarray, labels: np.ndarray) -> None:
        """Decisions whose true class is known: the recall per class per band."""
        bands = age_bands(ages)
        present = bands >= 0
        where = (bands[present], np.asarray(labels, np.int64)[present], np.asarray(predicted, np.int64)[present])
        np.add.at(self.confusion, where, 1)

    def merge(self, other: BandCounts) -> BandCounts:
        return BandCounts(
            self.decisions + other.decisions,
            self.p_good + other.p_good,
            self.confusion + other.confusion,
            self.age_missing + other.age_missing,
        )

    def table(self) -> dict[str, Any]:
        return _table(self)


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), _DIGITS)


def _rates(decisions: np.ndarray) -> dict[str, float | None]:
    n = int(decisions.sum())
    if not n:
        return {"not_poor": None, "good": None}
    return {"not_poor": 1.0 - decisions[POOR] / n, "good": decisions[GOOD] / n}


def _table(counts: BandCounts) -> dict[str, Any]:
    bands: dict[str, Any] = {}
    rates = {}
    for index, name in enumerate(BAND_NAMES):
        decisions = counts.decisions[index]
        n = int(decisions.sum())
        rates[name] = _rates(decisions)
        labelled = counts.confusion[index]
        support = labelled.sum(axis=1)
        bands[name] = {
            "n": n,
            "decision_shares": {label: _round(decisions[code] / n) if n else None for code, label in enumerate(LABELS)},
            "mean_p_good": _round(counts.p_good[index] / n) if n else None,
            "favourable_rate": {kind: _round(rate) for kind, rate in rates[name].items()},
            "labelled": int(support.sum()),
            "recall": {
                label: _round(labelled[code, code] / support[code]) if support[code] else None
                for code, label in enumerate(LABELS)
            }
            if support.sum()
            else None,
        }
    air: dict[str, Any] = {}
    flagged = []
    for kind in FAVOURABLE:
        known = {name: rate[kind] for name, rate in rates.items() if rate[kind] is not None}
        best = max(known, key=known.__getitem__, default=None)
        top = known.get(best) if best else None
        ratios = {name: (_round(rate / top) if top else None) for name, rate in known.items()}
        air[kind] = {"most_favoured": best, "ratios": ratios}
        flagged.extend(
            {"band": name, "outcome": kind, "air": ratio}
            for name, ratio in ratios.items()
            if ratio is not None and ratio < AIR_SCREEN
        )
    return {
        "bands": list(BAND_NAMES),
        "age_bands": bands,
        "air": air,
        "flagged": flagged,
        "screen": AIR_SCREEN,
        "rows": int(counts.decisions.sum()),
        "age_missing": counts.age_missing,
    }


def fairness_table(
    ages: Sequence[float] | np.ndarray,
    predicted: Sequence[int] | np.ndarray,
    probabilities: np.ndarray,
    labels: Sequence[int] | np.ndarray | None = None,
) -> dict[str, Any]:
    """The table of one set of decisions: per band shares, mean P(Good), rates and recall, then ``air``."""
    counts = BandCounts()
    counts.add(np.asarray(ages), np.asarray(predicted), np.asarray(probabilities))
    if labels is not None:
        counts.add_outcomes(np.asarray(ages), np.asarray(predicted), np.asarray(labels))
    return counts.table()
