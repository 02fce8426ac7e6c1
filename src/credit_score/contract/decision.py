"""The decision block: the two numbers and two cut-offs that decide an answer's label, as the answer prints them.

The cascade scores two questions (``contract.reasons.MARGIN_NAMES``): ``standard_or_better``,
``p1 = P(y >= Standard) = sigmoid(margin1)``, and ``good_given_standard``, ``p2 = P(y = Good | y >=
Standard) = sigmoid(margin2)``. The label is **Poor** when ``p1`` is below its cut-off, else **Good**
when ``p2`` reaches its cut-off, else **Standard**; it is not the most probable class, so the answer
shows these numbers::

    "decision": {"standard_or_better": {"p": 0.712345, "cutoff": 0.6},
                 "good_given_standard": {"p": 0.431002, "cutoff": 0.39}}

Every number is rounded to :data:`DECIMALS` first and the rule is applied to the rounded numbers, so
the label follows from the printed block on every row, at the boundary too (``p`` 0.5999996 prints
as 0.6 and reaches a 0.6 cut-off). The unrounded values are float32 model outputs, which cannot
place a row that close to a cut-off on either side anyway (the ONNX graph matches LightGBM within
1e-4). The runtime answer, the capture record and the registered pyfunc all call :func:`decide`, so
they print the same numbers and the same label from the same margins.

numpy only: this module runs in the Lambda image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_score.contract.reasons import MARGIN_NAMES

__all__ = ["DECIMALS", "QUESTIONS", "Cutoffs", "Decision", "decide", "decision_block", "label_code"]

DECIMALS = 6  # as the class probabilities print
QUESTIONS: tuple[str, ...] = MARGIN_NAMES  # standard_or_better, good_given_standard
P = "p"
CUTOFF = "cutoff"
POOR, STANDARD, GOOD = 0, 1, 2
_SMALL = 8  # up to this many rows, plain Python beats numpy's per-call overhead (a single answer: ~3 µs, not ~8)


def _sigmoid(margins: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large margins."""
    return 0.5 * (1.0 + np.tanh(0.5 * margins))


def _codes(p: np.ndarray, first: float, second: float) -> np.ndarray:
    """The label rule on (already rounded) numbers: Poor if p1 < c1, else Good if p2 >= c2, else Standard."""
    return np.where(p[:, 0] < first, POOR, np.where(p[:, 1] >= second, GOOD, STANDARD))


def _code(p1: float, p2: float, first: float, second: float) -> int:
    """:func:`_codes` for one row, in plain Python."""
    return POOR if p1 < first else GOOD if p2 >= second else STANDARD


def _logistic(margin: float) -> float:
    return 0.5 * (1.0 + math.tanh(0.5 * margin))


@dataclass(frozen=True, slots=True)
class Decision:
    """Rows' printed decision numbers: ``p`` each row's two rounded probabilities, the rounded ``cutoffs``, and
    the label ``codes`` (n,) they give."""

    p: list[list[float]]
    cutoffs: tuple[float, float]
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    def blocks(self) -> list[dict[str, dict[str, float]]]:
        """Each row's ``decision`` block, as the answer and the capture record carry it."""
        first, second = self.cutoffs
        return [{QUESTIONS[0]: {P: p1, CUTOFF: first}, QUESTIONS[1]: {P: p2, CUTOFF: second}} for p1, p2 in self.p]


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """A model's two cut-offs, checked and rounded once (the runtime keeps one per loaded model)."""

    first: float
    second: float

    @classmethod
    def of(cls, thresholds: Sequence[float]) -> Cutoffs:
        """The printed cut-offs of ``(t1, t2)``; :class:`ValueError` unless both lie strictly between 0 and 1."""
        rounded = np.round(np.asarray(thresholds, dtype=np.float64), DECIMALS)
        if rounded.shape != (2,) or not ((rounded > 0) & (rounded < 1)).all():
            raise ValueError("thresholds must be two numbers between 0 and 1")
        first, second = rounded.tolist()
        return cls(first, second)

    def decide(self, margins: np.ndarray) -> Decision:
        """Rows' decisions from the cascade's ``(n, 2)`` raw margins."""
        first, second = self.first, self.second
        values = np.asarray(margins, dtype=np.float64).reshape(-1, 2)
        if len(values) <= _SMALL:
            p = [[round(_logistic(m1), DECIMALS), round(_logistic(m2), DECIMALS)] for m1, m2 in values.tolist()]
            codes = np.array([_code(p1, p2, first, second) for p1, p2 in p], dtype=np.int64)
            return Decision(p, (first, second), codes)
        rounded = np.round(_sigmoid(values), DECIMALS)
        return Decision(rounded.tolist(), (first, second), _codes(rounded, first, second))


def decide(margins: np.ndarray, thresholds: Sequence[float]) -> Decision:
    """Rows' decisions from the cascade's ``(n, 2)`` raw margins and its ``(t1, t2)`` thresholds."""
    return Cutoffs.of(thresholds).decide(margins)


def decision_block(margins: Sequence[float], thresholds: Sequence[float]) -> dict[str, dict[str, float]]:
    """One row's block from its two margins: ``decide`` for a single record."""
    return decide(np.asarray(margins, dtype=np.float64), thresholds).blocks()[0]


def label_code(block: Mapping[str, Mapping[str, Any]]) -> int:
    """The class code a printed block decides (0 Poor, 1 Standard, 2 Good): what a reader of the answer recomputes."""
    first, second = block[QUESTIONS[0]], block[QUESTIONS[1]]
    return _code(float(first[P]), float(second[P]), float(first[CUTOFF]), float(second[CUTOFF]))
