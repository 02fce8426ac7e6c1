"""The step test: worsening a monotone feature, everything else fixed, must never make an answer better.

For every row and every monotone feature, each realistic step of :data:`STEPS` makes the value
worse: up for a feature that may only lower the answer (more debt), down for one that may only
raise it (less income), kept inside the field's domain from the contract. Each step must leave
P(Good) no higher, P(Poor) no lower (within :data:`TOLERANCE`) and the label no better. Missing
values stay missing: there is nothing to move. The champion gate runs it on every training and
evaluation row and refuses a model that fails.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from credit_score.contract.fields import FEATURE_NAMES, FIELDS_BY_NAME
from credit_score.modelling.artifacts import Cascade, class_probabilities, threshold_labels

TOLERANCE = 1e-9
STEPS: dict[str, tuple[float, ...]] = {  # signed: each step makes the value worse
    "Num_of_Delayed_Payment": (1, 3, 10),
    "Outstanding_Debt": (1_000, 5_000),
    "Delay_from_due_date": (1, 5, 15),
    "Num_Credit_Inquiries": (1, 3),
    "Interest_Rate": (2, 5),
    "Annual_Income": (-2_000, -10_000),
    "Monthly_Inhand_Salary": (-200, -1_000),
    "Credit_History_Age": (-6, -24),
}
POOR, GOOD = 0, 2


class MonotonicityError(Exception):
    """The model lets a worse value of a monotone feature improve an answer; it must not be registered."""


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
    """Worsen each monotone feature by each step on every row of ``features``; count the violations."""
    missing_steps = set(cascade.monotone) - set(STEPS)
    if missing_steps:
        raise ValueError(f"no steps defined for the monotone features {sorted(missing_steps)}")
    wrong_way = [name for name, sign in cascade.monotone.items() if any(step * sign >= 0 for step in STEPS[name])]
    if wrong_way:
        raise ValueError(f"the steps of {sorted(wrong_way)} do not make the value worse")
    violations: dict[str, int] = {}
    checks = 0
    for start in range(0, len(features), chunk):
        rows = np.asarray(features[start : start + chunk], dtype=np.float64)
        base_margins = cascade.margins(rows)
        base = class_probabilities(base_margins)
        base_labels = threshold_labels(base_margins, cascade.thresholds)
        for name in cascade.monotone:
            column = FEATURE_NAMES.index(name)
            domain = FIELDS_BY_NAME[name]
            for step in STEPS[name]:
                worsened = rows.copy()
                worsened[:, column] = np.clip(rows[:, column] + step, domain.minimum, domain.maximum)  # NaN stays NaN
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
            f"the model improves answers when a monotone feature gets worse ({listed} of {report.rows}); "
            "it is not registered"
        )
    return report
