"""The decision block: printed numbers, printed cut-offs, and a label that follows from them on every row."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from credit_score.contract.decision import DECIMALS, QUESTIONS, decide, decision_block, label_code


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def test_given_margins_when_decided_then_the_documented_shape_with_rounded_numbers() -> None:
    block = decision_block([logit(0.7123456789), logit(0.43)], (0.6, 0.39))
    assert block == {
        "standard_or_better": {"p": 0.712346, "cutoff": 0.6},
        "good_given_standard": {"p": 0.43, "cutoff": 0.39},
    }
    assert tuple(block) == QUESTIONS


@pytest.mark.parametrize(
    ("p1", "p2", "code"),
    [
        (0.59, 0.99, 0),  # below the first cut-off: Poor whatever the second says
        (0.6, 0.39, 2),  # exactly at both cut-offs: at or above, so Good
        (0.6, 0.389999, 1),  # one millionth below the second: Standard
        (0.599999, 0.9, 0),  # one millionth below the first: Poor
        (0.5999996, 0.39, 2),  # prints as 0.6: the printed number decides, so not Poor
        (0.5999994, 0.39, 0),  # prints as 0.599999: Poor
        (0.7, 0.3899996, 2),  # the second question rounds the same way: prints 0.39 and reaches it
        (0.7, 0.3899994, 1),
    ],
)
def test_given_rows_at_and_near_the_cutoffs_when_decided_then_the_printed_numbers_give_the_label(
    p1: float, p2: float, code: int
) -> None:
    decision = decide(np.array([[logit(p1), logit(p2)]]), (0.6, 0.39))
    printed = json.loads(json.dumps(decision.blocks()[0]))
    assert int(decision.codes[0]) == code
    assert label_code(printed) == code


def test_given_a_cutoff_with_more_digits_when_decided_then_it_prints_rounded_and_decides_as_printed() -> None:
    decision = decide(np.array([[logit(0.6123454), 0.0]]), (0.61234549, 0.5))
    block = decision.blocks()[0]["standard_or_better"]
    assert block == {"p": 0.612345, "cutoff": 0.612345}
    assert decision.codes.tolist() == [2]  # p = cutoff (as printed): standard or better; p2 0.5 reaches 0.5


@pytest.mark.parametrize("thresholds", [(0.0, 0.5), (0.5, 1.0), (0.5,), (float("nan"), 0.5)])
def test_given_thresholds_outside_0_1_when_deciding_then_refused(thresholds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="thresholds"):
        decide(np.zeros((1, 2)), thresholds)


@settings(max_examples=200, deadline=None)
@given(
    margins=arrays(np.float32, (40, 2), elements=st.floats(-12, 12, width=32)),
    thresholds=st.tuples(st.floats(0.01, 0.99), st.floats(0.01, 0.99)),
)
def test_given_any_margins_when_printed_as_json_then_the_label_is_recomputed_from_the_block(
    margins: np.ndarray, thresholds: tuple[float, float]
) -> None:
    decision = decide(margins, thresholds)
    exact = 1.0 / (1.0 + np.exp(-margins.astype(np.float64)))
    for row, block in enumerate(json.loads(json.dumps(decision.blocks()))):
        assert label_code(block) == int(decision.codes[row])
        alone = decide(margins[row : row + 1], thresholds)  # a single answer takes the plain-Python path
        assert alone.blocks() == [block]
        assert alone.codes.tolist() == [decision.codes[row]]
        for column, name in enumerate(QUESTIONS):
            assert abs(block[name]["p"] - exact[row, column]) <= 0.5 * 10**-DECIMALS + 1e-12
            assert block[name]["cutoff"] == round(thresholds[column], DECIMALS)


@settings(max_examples=100, deadline=None)
@given(
    margins=arrays(np.float64, (30, 2), elements=st.floats(-8, 8)),
    drops=arrays(np.float64, (30, 2), elements=st.floats(0, 4)),
    thresholds=st.tuples(st.floats(0.05, 0.95), st.floats(0.05, 0.95)),
)
def test_given_lower_margins_when_decided_then_the_label_never_improves(
    margins: np.ndarray, drops: np.ndarray, thresholds: tuple[float, float]
) -> None:
    assert (decide(margins - drops, thresholds).codes <= decide(margins, thresholds).codes).all()
