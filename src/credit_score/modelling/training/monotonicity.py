"""The step test: worsening a used field, everything else fixed, must never make an answer better.

For every row and every field the model uses (:data:`credit_score.contract.fields.FEATURE_NAMES`),
each step of :data:`STEPS` makes the value worse the way the contract's credit direction says: up
for a more-is-worse number (more debt), down for a more-is-better one (less income) or an ordered
category (Good → Standard → Bad credit mix), kept inside the field's domain from the contract. Each
step must leave P(Good) no higher, P(Poor) no lower (within :data:`TOLERANCE`) and the label no
better. Missing values stay missing: there is nothing to move. The test reads the direction table,
not the model's own constraints, so a model fitted with fewer constraints fails it. The champion
gate runs it on every training and evaluation row and refuses a model that fails.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from credit_score.contract.fields import CREDIT_DIRECTION, DECREASING, FEATURE_NAMES, FIELDS_BY_NAME, ORDERED_LEVELS
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
