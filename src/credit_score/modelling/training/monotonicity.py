"""The step test: worsening a used field, everything else fixed, must never make an answer better.

For every row and every field the model uses (:data:`credit_score.contract.fields.FEATURE_NAMES`),
each step of :data:`STEPS` makes the value worse the way the contract's credit direction says: up
for a more-is-worse number (more debt), down for a more-is-better one (less income) or an ordered
category (Good → Standard → Bad credit mix), kept inside the field's domain from the contract. Each
step must leave P(Good) no higher, P(Poor) no lower (within :data:`TOLERANCE`) and the label no
better. Missing values stay missing: there is nothing to move. The test reads the direction table,
not the model's own constraints, so a model fitted with fewer constraints fails it. The champion
gate runs it on every training and evaluation row and refuses a model that fails.

The step test samples; :func:`prove_trees` proves. Each tree's leaves are boxes in the encoded space
(an interval per column, plus whether a missing value may reach it); a tree is monotone in a column
when no two leaves that one row can reach by changing only that column are ordered the wrong way.
A sum of monotone trees is monotone, so a booster whose every tree passes is monotone for every
input, missing values included. :func:`flatten_trees_against_direction` is the repair the fit applies
to the rare tree LightGBM's "intermediate" method leaves against a constraint (see
``credit_score.modelling.training.cascade``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from credit_score.contract.fields import CREDIT_DIRECTION, DECREASING, FEATURE_NAMES, FIELDS_BY_NAME, ORDERED_LEVELS
from credit_score.modelling import artifacts
from credit_score.modelling.artifacts import Cascade, class_probabilities, threshold_labels

TOLERANCE = 1e-9
# How far each field is worsened, in the field's unit (an ordered category in levels); the sign comes
# from the direction table.
STEP_SIZES: dict[str, tuple[float, ...]] = {
    "Annual_Income": (2_000, 10_000),
    "Monthly_Inhand_Salary": (200, 1_000),
    "Num_Bank_Accounts": (1, 3),
    "Num_Credit_Card": (1, 3),
    "Interest_Rate": (2, 5),
    "Num_of_Loan": (1, 3),
    "Delay_from_due_date": (1, 5, 15),
    "Num_of_Delayed_Payment": (1, 3, 10),
    "Changed_Credit_Limit": (2, 10),
    "Num_Credit_Inquiries": (1, 3),
    "Outstanding_Debt": (1_000, 5_000),
    "Credit_Utilization_Ratio": (5, 20),
    "Credit_History_Age": (6, 24),
    "Total_EMI_per_month": (50, 500),
    "Amount_invested_monthly": (50, 500),
    "Monthly_Balance": (50, 500),
    "Credit_Mix": (1, 2),
    "Payment_of_Min_Amount": (1,),
}
STEPS: dict[str, tuple[float, ...]] = {  # signed: each step makes the value worse
    name: tuple(size if CREDIT_DIRECTION[name] == DECREASING else -size for size in STEP_SIZES[name])
    for name in FEATURE_NAMES
}
POOR, GOOD = 0, 2


def domain(name: str) -> tuple[float, float]:
    """The encoded values ``name`` can take: a number's domain, an ordered category's ranks."""
    if name in ORDERED_LEVELS:
        return 0.0, float(len(ORDERED_LEVELS[name]) - 1)
    f = FIELDS_BY_NAME[name]
    return float(f.minimum), float(f.maximum)  # type: ignore[arg-type]


class MonotonicityError(Exception):
    """The model lets a field worsened in its credit direction improve an answer; it must not be registered."""


@dataclass(frozen=True)
class StepReport:
    """Rows checked and violations found, per feature and step."""

    rows: int
    checks: int
    violations: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not any(self.violations.values())

    def as_metadata(self) -> dict[str, Any]:
        return {**asdict(self), "steps": {name: list(steps) for name, steps in STEPS.items()}, "tolerance": TOLERANCE}


def step_test(cascade: Cascade, features: np.ndarray, chunk: int = 20_000) -> StepReport:
    """Worsen each used field by each step on every row of ``features``; count the violations."""
    if cascade.feature_names != FEATURE_NAMES:
        raise ValueError("the cascade was trained on another encoding than the contract's")
    violations: dict[str, int] = {}
    checks = 0
    for start in range(0, len(features), chunk):
        rows = np.asarray(features[start : start + chunk], dtype=np.float64)
        base_margins = cascade.margins(rows)
        base = class_probabilities(base_margins)
        base_labels = threshold_labels(base_margins, cascade.thresholds)
        for column, name in enumerate(FEATURE_NAMES):
            low, high = domain(name)
            for step in STEPS[name]:
                worsened = rows.copy()
                worsened[:, column] = np.clip(rows[:, column] + step, low, high)  # NaN stays NaN
                margins = cascade.margins(worsened)
                moved = class_probabilities(margins)
                worse = (
                    (moved[:, GOOD] > base[:, GOOD] + TOLERANCE)
                    | (moved[:, POOR] < base[:, POOR] - TOLERANCE)
                    | (threshold_labels(margins, cascade.thresholds) > base_labels)
                )
                key = f"{name}{step:+g}"
                violations[key] = violations.get(key, 0) + int(np.count_nonzero(worse))
                checks += len(rows)
    return StepReport(len(features), checks, violations)


def require_monotone(report: StepReport) -> StepReport:
    """Refuse a model with any violation, naming the worst feature steps."""
    if not report.passed:
        worst = sorted(((count, key) for key, count in report.violations.items() if count), reverse=True)[:3]
        listed = ", ".join(f"{key}: {count} rows" for count, key in worst)
        raise MonotonicityError(
            f"the model improves answers when a field gets worse in its credit direction ({listed} of {report.rows}); "
            "it is not registered"
        )
    return report


# ---------------------------------------------------------------- the proof, tree by tree

# The constraint sign of every column from the direction table (not from the model's own parameters).
TABLE_SIGNS: tuple[int, ...] = tuple(
    artifacts.DECREASING if CREDIT_DIRECTION[name] == DECREASING else artifacts.INCREASING for name in FEATURE_NAMES
)


@dataclass(frozen=True)
class TreeProof:
    """Trees checked in both boosters, and per column the trees that break its credit direction."""

    trees: int
    against: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not any(self.against.values())


@dataclass(frozen=True)
class _Leaves:
    """One dumped tree's leaves: LightGBM's index, output, training rows, bounds ``(low, high]``, missing-reachable."""

    index: np.ndarray
    value: np.ndarray
    rows: np.ndarray
    low: np.ndarray
    high: np.ndarray
    gap: np.ndarray


def _leaves(tree: dict[str, Any], columns: int) -> _Leaves:
    found: list[tuple[int, float, int, np.ndarray, np.ndarray, np.ndarray]] = []
    stack = [(tree["tree_structure"], np.full(columns, -np.inf), np.full(columns, np.inf), np.ones(columns, bool))]
    while stack:
        node, low, high, gap = stack.pop()
        if "split_feature" not in node:
            found.append((node.get("leaf_index", 0), node["leaf_value"], node.get("leaf_count", 1), low, high, gap))
            continue
        if node["decision_type"] != "<=" or node["missing_type"] not in ("None", "NaN"):
            raise ValueError(
                f"cannot prove a split of type {node['decision_type']!r}, missing {node['missing_type']!r}"
            )
        column, threshold = node["split_feature"], node["threshold"]
        # Without a learned missing path LightGBM reads a missing value as 0.
        gap_left = node["default_left"] if node["missing_type"] == "NaN" else threshold >= 0.0
        left_high, right_low, left_gap, right_gap = high.copy(), low.copy(), gap.copy(), gap.copy()
        left_high[column] = min(high[column], threshold)
        right_low[column] = max(low[column], threshold)
        left_gap[column] = gap[column] and gap_left
        right_gap[column] = gap[column] and not gap_left
        stack.append((node["left_child"], low, left_high, left_gap))
        stack.append((node["right_child"], right_low, high, right_gap))
    index, value, rows, low, high, gap = zip(*found, strict=True)
    return _Leaves(np.array(index), np.array(value), np.array(rows), np.array(low), np.array(high), np.array(gap))


def tree_violations(booster: Any, signs: Sequence[int] = TABLE_SIGNS) -> list[tuple[int, int]]:
    """``(tree, column)`` for every tree where changing that column alone, the way ``signs`` forbids, raises its output.

    Two leaves are compared when a row can reach both by moving one column: in every other column
    their intervals overlap or both admit a missing value.
    """
    return _violations(booster.dump_model(), signs)


def _violations(dumped: dict[str, Any], signs: Sequence[int]) -> list[tuple[int, int]]:
    columns = len(dumped["feature_names"])
    if len(signs) != columns:
        raise ValueError(f"{len(signs)} signs for {columns} columns")
    found = []
    for index, tree in enumerate(dumped["tree_info"]):
        leaves = _leaves(tree, columns)
        if len(leaves.value) < 2:
            continue
        values, low, high, gap = leaves.value, leaves.low, leaves.high, leaves.gap
        meets = (np.maximum(low[:, None], low[None]) < np.minimum(high[:, None], high[None])) | (
            gap[:, None] & gap[None]
        )
        rises = values[:, None] > values[None, :]  # [a, b]: leaf a's output above leaf b's
        for column, sign in enumerate(signs):
            if sign == 0:
                continue
            elsewhere = np.delete(meets, column, axis=2).all(axis=2)
            reachable = low[:, column] < high[:, column]
            below = (low[:, None, column] < high[None, :, column]) & reachable[:, None] & reachable[None, :]
            # increasing: a lower value (a) may not give more than a higher one (b); decreasing: not less
            wrong = rises if sign > 0 else rises.T
            if np.any(elsewhere & below & wrong):
                found.append((index, column))
    return found


def flatten_trees_against_direction(booster: Any, signs: Sequence[int]) -> int:
    """Give every leaf of each tree :func:`tree_violations` finds the tree's mean output; return how many trees.

    A constant tree is monotone in every column, and the mean weighted by training rows keeps the
    tree's average contribution, so the booster's other trees stay fitted to what they corrected.
    """
    dumped = booster.dump_model()
    trees = sorted({tree for tree, _ in _violations(dumped, signs)})
    for tree in trees:
        leaves = _leaves(dumped["tree_info"][tree], len(signs))
        mean = float(np.average(leaves.value, weights=np.maximum(leaves.rows, 1)))
        for leaf in leaves.index:
            booster.set_leaf_output(tree, int(leaf), mean)
    return len(trees)


def prove_trees(cascade: Cascade) -> TreeProof:
    """Check every tree of both boosters against the direction table."""
    against: dict[str, int] = {}
    trees = 0
    for booster in cascade.boosters:
        trees += booster.num_trees()
        for _, column in tree_violations(booster):
            against[FEATURE_NAMES[column]] = against.get(FEATURE_NAMES[column], 0) + 1
    return TreeProof(trees, against)


def require_proven(proof: TreeProof) -> TreeProof:
    """Refuse a model with any tree against a credit direction."""
    if not proof.passed:
        listed = ", ".join(f"{name}: {count} trees" for name, count in sorted(proof.against.items()))
        raise MonotonicityError(f"trees break a credit direction ({listed} of {proof.trees}); it is not registered")
    return proof
