"""Champion versus shadow challenger, from the capture: how many decisions would flip, for whom, and,
once outcomes arrive, which model decided better on the same decisions.

Every capture record the challenger scored carries its figures under ``challenger``
(``runtime/challenger.py``). Over those records:

* ``flips`` — the table of champion class by challenger class (counts, rows the champion), the flips
  (different class) toward a better and a worse class, and the same per age band (the bands of
  ``contract.fairness``, from the captured age);
* ``probability_shift`` — per class, the mean, mean absolute and largest absolute change of the
  probability (challenger minus champion);
* ``realized`` — with outcomes (``outcomes.Joined``: the same matching by inference or request id),
  each model's macro-F1 and weighted one-vs-rest ROC AUC (``contract.metrics``, the training
  definitions) on exactly the same matched decisions, and the challenger's gain.

Counts and rates only; no record or value is kept beyond the arrays of codes and probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from credit_score.contract import capture
from credit_score.contract.fairness import BAND_NAMES, age_bands
from credit_score.contract.metrics import CODES, LABELS, confusion_matrix, macro_f1, weighted_roc_auc
from credit_score.monitoring.fairness import record_age
from credit_score.monitoring.outcomes import Joined, Outcomes

__all__ = ["ChallengerCounts"]

_DIGITS = 6
_MISSING_BAND = "unknown"


def _figures(record: Mapping[str, Any]) -> tuple[int, list[float]] | None:
    """The challenger's class and probabilities in a record; ``None`` when it has none usable."""
    figures = record.get(capture.CHALLENGER)
    if not isinstance(figures, dict) or figures.get(capture.PREDICTION) not in CODES:
        return None
    try:
        return figures[capture.PREDICTION], [float(figures[capture.PROBABILITIES][label]) for label in LABELS]
    except (TypeError, KeyError, ValueError):
        return None


def _as_challenger(record: Mapping[str, Any], code: int, probabilities: list[float]) -> dict[str, Any]:
    """The record as if the challenger had answered it, for the outcomes join."""
    return {
        **record,
        capture.PREDICTION: code,
        capture.PROBABILITIES: dict(zip(LABELS, probabilities, strict=True)),
        capture.MODEL_VERSION: str(record[capture.CHALLENGER].get("version")),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), _DIGITS)


class ChallengerCounts:
    """Streams capture chunks; :meth:`section` is the report's ``challenger`` entry (``None`` without one)."""

    def __init__(self, outcomes: Outcomes | None = None) -> None:
        self._champion: list[int] = []
        self._challenger: list[int] = []
        self._champion_p: list[list[float]] = []
        self._challenger_p: list[list[float]] = []
        self._ages: list[float] = []
        self._versions: set[tuple[str, str]] = set()
        self._joined = (Joined(outcomes), Joined(outcomes)) if outcomes is not None else None

    def add(self, records: Sequence[Mapping[str, Any]]) -> None:
        """One chunk of the reader's records; those without challenger figures are skipped."""
        champion_records, challenger_records = [], []
        for record in records:
            figures = _figures(record)
            probabilities = record.get(capture.PROBABILITIES)
            if figures is None or not isinstance(probabilities, dict):
                continue
            try:
                champion_p = [float(probabilities[label]) for label in LABELS]
            except (KeyError, TypeError, ValueError):
                continue
            code, challenger_p = figures
            self._champion.append(record[capture.PREDICTION])
            self._challenger.append(code)
            self._champion_p.append(champion_p)
            self._challenger_p.append(challenger_p)
            self._ages.append(record_age(record))
            self._versions.add((str(record.get(capture.MODEL_VERSION)), str(record[capture.CHALLENGER].get("version"))))
            champion_records.append(record)
            challenger_records.append(_as_challenger(record, code, challenger_p))
        if self._joined is not None and champion_records:
            self._joined[0].add(champion_records)
            self._joined[1].add(challenger_records)

    def section(self) -> dict[str, Any] | None:
        if not self._champion:
            return None
        champion, challenger = np.array(self._champion), np.array(self._challenger)
        shift = np.array(self._challenger_p) - np.array(self._champion_p)
        bands = age_bands(self._ages)
        by_band = {}
        for index, name in [*enumerate(BAND_NAMES), (-1, _MISSING_BAND)]:
            chosen = bands == index
            if chosen.any() or index >= 0:
                by_band[name] = _flips(champion[chosen], challenger[chosen])
        return {
            "versions": [{"champion": c, "challenger": s} for c, s in sorted(self._versions)],
            "n": len(champion),
            "flips": {
                "table": {
                    LABELS[row]: dict(zip(LABELS, counts, strict=True))
                    for row, counts in enumerate(confusion_matrix(champion, challenger).tolist())
                },
                **_flips(champion, challenger),
                "by_age_band": by_band,
            },
            "probability_shift": {
                label: {
                    "mean": _round(shift[:, column].mean()),
                    "mean_abs": _round(np.abs(shift[:, column]).mean()),
                    "max_abs": _round(np.abs(shift[:, column]).max()),
                }
                for column, label in enumerate(LABELS)
            },
            "realized": self._realized(),
        }

    def _realized(self) -> dict[str, Any] | None:
        if self._joined is None:
            return None
        champion, challenger = (joined.arrays() for joined in self._joined)
        if not len(champion["labels"]):
            return {"n": 0, "champion": None, "challenger": None, "gain": None}
        figures = {
            name: {
                "macro_f1": _round(macro_f1(rows["labels"], rows["predicted"])),
                "auc": _round(weighted_roc_auc(rows["labels"], rows["probabilities"])),
            }
            for name, rows in (("champion", champion), ("challenger", challenger))
        }
        gain = {
            metric: None
            if figures["challenger"][metric] is None or figures["champion"][metric] is None
            else _round(figures["challenger"][metric] - figures["champion"][metric])
            for metric in ("macro_f1", "auc")
        }
        return {"n": len(champion["labels"]), **figures, "gain": gain}


def _flips(champion: np.ndarray, challenger: np.ndarray) -> dict[str, Any]:
    """Decisions that differ, toward a better class (a higher code) or a worse one."""
    n = len(champion)
    flips = int(np.count_nonzero(champion != challenger))
    return {
        "n": n,
        "flips": flips,
        "rate": _round(flips / n) if n else None,
        "to_better": int(np.count_nonzero(challenger > champion)),
        "to_worse": int(np.count_nonzero(challenger < champion)),
    }
