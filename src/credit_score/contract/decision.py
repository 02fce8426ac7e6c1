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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_score.contract.reasons import MARGIN_NAMES

__all__ = ["DECIMALS", "QUESTIONS", "Decision", "decide", "decision_block", "label_code"]

DECIMALS = 6  # as the class probabilities print
QUESTIONS: tuple[str, ...] = MARGIN_NAMES  # standard_or_better, good_given_standard
P = "p"
CUTOFF = "cutoff"
POOR, STANDARD, GOOD = 0, 1, 2


def _sigmoid(margins: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large margins."""
    return 0.5 * (1.0 + np.tanh(0.5 * margins))


def _codes(p: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """The label rule on (already rounded) numbers: Poor if p1 < c1, else Good if p2 >= c2, else Standard."""
    return np.where(p[:, 0] < cutoffs[0], POOR, np.where(p[:, 1] >= cutoffs[1], GOOD, STANDARD)).astype(np.int64)


@dataclass(frozen=True, slots=True)
class Decision:
    """Rows' printed decision numbers: ``p`` (n, 2) and ``cutoffs`` (2,), both rounded, and the label ``codes`` (n,)."""

    p: np.ndarray
    cutoffs: np.ndarray
    codes: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    def blocks(self) -> list[dict[str, dict[str, float]]]:
        """Each row's ``decision`` block, as the answer and the capture record carry it."""
        first, second = self.cutoffs.tolist()
        return [
            {QUESTIONS[0]: {P: p1, CUTOFF: first}, QUESTIONS[1]: {P: p2, CUTOFF: second}} for p1, p2 in self.p.tolist()
        ]


def decide(margins: np.ndarray, thresholds: Sequence[float]) -> Decision:
    """Rows' decisions from the cascade's ``(n, 2)`` raw margins and its ``(t1, t2)`` thresholds."""
    values = np.asarray(margins, dtype=np.float64).reshape(-1, 2)
    cutoffs = np.round(np.asarray(thresholds, dtype=np.float64), DECIMALS)
    if cutoffs.shape != (2,) or not ((cutoffs > 0) & (cutoffs < 1)).all():
        raise ValueError("thresholds must be two numbers between 0 and 1")
    p = np.round(_sigmoid(values), DECIMALS)
    return Decision(p, cutoffs, _codes(p, cutoffs))


def decision_block(margins: Sequence[float], thresholds: Sequence[float]) -> dict[str, dict[str, float]]:
    """One row's block from its two margins: ``decide`` for a single record."""
    return decide(np.asarray(margins, dtype=np.float64), thresholds).blocks()[0]


def label_code(block: Mapping[str, Mapping[str, Any]]) -> int:
    """The class code a printed block decides (0 Poor, 1 Standard, 2 Good): what a reader of the answer recomputes."""
    p = np.array([[float(block[QUESTIONS[0]][P]), float(block[QUESTIONS[1]][P])]])
    cutoffs = np.array([float(block[QUESTIONS[0]][CUTOFF]), float(block[QUESTIONS[1]][CUTOFF])])
    return int(_codes(p, cutoffs)[0])
