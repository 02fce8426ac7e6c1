"""Fairness by age band over time: the tables of ``contract.fairness`` per month of decision.

Every captured decision counts in its band's decision shares, mean P(Good) and favourable rates; the
decisions joined to outcomes (``outcomes.Joined``) add recall per class per band. The bundle's table,
computed on the evaluation rows at training, is the reference beside them. Ages come from the capture
record's normalised input (Age is validated and captured, never scored). Counts only, never a record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from credit_score.contract import capture
from credit_score.contract.fairness import BandCounts
from credit_score.contract.metrics import LABELS

if TYPE_CHECKING:
    from credit_score.monitoring.outcomes import Joined

__all__ = ["FairnessCounts", "record_age"]

AGE = "Age"


def record_age(record: Mapping[str, Any]) -> float:
    """The captured age of a record; NaN when absent or not a number."""
    value = record.get(capture.INPUT, {}).get(AGE)
    if isinstance(value, bool):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


@dataclass
class FairnessCounts:
    """Band statistics per month of decision, memory fixed by the number of months."""

    months: dict[str, BandCounts] = field(default_factory=dict)

    def add(self, records: Sequence[Mapping[str, Any]]) -> None:
        by_month: dict[str, list[Mapping[str, Any]]] = {}
        for record in records:
            by_month.setdefault(record[capture.TIMESTAMP][:7], []).append(record)
        for month, members in by_month.items():
            rows = []
            for record in members:
                probabilities = record.get(capture.PROBABILITIES)
                try:
                    vector = [float(probabilities[label]) for label in LABELS]  # type: ignore[index]
                except (TypeError, KeyError, ValueError):
                    continue
                rows.append((record_age(record), record[capture.PREDICTION], vector))
            if rows:
                ages, predicted, matrix = zip(*rows, strict=True)
                self.months.setdefault(month, BandCounts()).add(np.array(ages), np.array(predicted), np.array(matrix))

    def add_outcomes(self, joined: Joined) -> None:
        for version, month in joined.decision_groups():
            rows = joined.arrays(version, month)
            self.months.setdefault(month, BandCounts()).add_outcomes(rows["ages"], rows["predicted"], rows["labels"])

    def section(self, reference: Mapping[str, Any] | None) -> dict[str, Any]:
        """``{age_bands, air, flagged, ..., by_month: {month: table}, reference: table at training}``."""
        overall = BandCounts()
        for counts in self.months.values():
            overall = overall.merge(counts)
        return {
            **overall.table(),
            "by_month": {month: counts.table() for month, counts in sorted(self.months.items())},
            "reference": dict(reference) if reference else None,
        }
