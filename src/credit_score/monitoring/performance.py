"""Is the model still right? Realised quality once outcomes arrive, and an estimate before they do.

Realised (:func:`realized`): the metrics of ``contract.metrics`` — the very functions
``credit-score-evaluate`` uses, so both agree on the same rows — with a percentile bootstrap 95 %
interval for macro-F1, AUC and accuracy (``BOOTSTRAP`` resamples of the labelled decisions, seeded).

Estimated (:func:`estimated`): confidence-based performance estimation, the method of NannyML's CBPE
("Estimating performance without ground truth", NannyML documentation, *How it works: CBPE*). When the
probabilities are calibrated, row ``i`` is of class ``k`` with probability ``p_ik``, so the expected
confusion matrix is ``E[C_kj] = sum over rows predicted j of p_ik``; accuracy and per-class F1 follow
from its expected counts, and each one-vs-rest ROC curve from the expected true and false positives
accumulated down the ranking by ``p_ik``. The estimate is only as good as the calibration: the bundle's
``metrics.ece`` (about 0.02 on the shared data) says how far to trust it, and the drift section says
whether the population moved away from where that calibration was measured.

NannyML itself (0.13.1) does not install beside our pins (it requires ``lightgbm<4.6`` and pulls
plotly, kaleido and an analytics client into the build), so the estimator is these few numpy lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from credit_score.contract import capture, metrics

if TYPE_CHECKING:
    from credit_score.monitoring.outcomes import Joined

__all__ = [
    "BOOTSTRAP",
    "HEADLINE",
    "EstimateCounts",
    "Expected",
    "Scored",
    "estimated",
    "expected_confusion",
    "realized",
    "realized_section",
]

BOOTSTRAP = 200
SCORE_BINS = 10_000
HEADLINE = ("macro_f1", "auc", "accuracy")  # the figures with an interval, and the estimated ones
_DIGITS = 6


@dataclass(frozen=True)
class Scored:
    """Decisions of one model version: served labels, class probabilities (code order), and truth if known."""

    predicted: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.predicted)


def _headline(labels: np.ndarray, probabilities: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    auc = metrics.weighted_roc_auc(labels, probabilities)
    return (
        metrics.macro_f1(labels, predicted),
        np.nan if auc is None else auc,
        metrics.accuracy(labels, predicted),
    )


def _round(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), _DIGITS)


def realized(scored: Scored, *, bootstrap: int = BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Every quality figure of labelled decisions, with bootstrap 95 % intervals of the headline ones."""
    if scored.labels is None or not len(scored):
        raise ValueError("realised performance needs labelled decisions")
    labels, probabilities, predicted = scored.labels, scored.probabilities, scored.predicted
    figures = metrics.classification_metrics(labels, probabilities, predicted)
    headline = _headline(labels, probabilities, predicted)  # unrounded: exact agreement with evaluate's inputs
    rng = np.random.default_rng(seed)
    samples = np.array(
        [
            _headline(labels[rows], probabilities[rows], predicted[rows])
            for rows in (rng.integers(0, len(labels), len(labels)) for _ in range(bootstrap))
        ]
    ).reshape(bootstrap, len(HEADLINE))
    ci95 = {}
    for index, name in enumerate(HEADLINE):
        column = samples[:, index][np.isfinite(samples[:, index])]
        ci95[name] = [_round(q) for q in np.quantile(column, [0.025, 0.975])] if len(column) else None
    return {
        "n": len(labels),
        **{name: None if np.isnan(value) else float(value) for name, value in zip(HEADLINE, headline, strict=True)},
        "ci95": ci95,
        "weighted_f1": figures["weighted_f1"],
        "recall": {label: figures[f"recall_{label}"] for label in metrics.LABELS},
        "log_loss": figures["log_loss"],
        "brier": figures["brier"],
        "ece": figures["ece"],
        "confusion_matrix": metrics.confusion(labels, predicted),
        "bootstrap": {"resamples": bootstrap, "seed": seed},
    }


def expected_confusion(probabilities: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """``E[C]`` with true classes as rows: each decision adds its class probabilities to its predicted column."""
    matrix = np.zeros((len(metrics.CODES), len(metrics.CODES)))
    for code in metrics.CODES:
        matrix[:, code] = probabilities[predicted == code].sum(axis=0)
    return matrix


@dataclass
class Expected:
    """What CBPE needs of a set of decisions, in memory fixed whatever their number.

    ``positives[k, b]`` sums ``p_ik`` and ``negatives[k, b]`` sums ``1 - p_ik`` over the rows whose
    ``p_ik`` falls in bin ``b`` of ``SCORE_BINS`` equal bins: the ROC curve is walked bin by bin, rows
    of one bin counting as tied (an error below 1e-4 of AUC on the shared data).
    """

    n: int = 0
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    positives: np.ndarray = field(default_factory=lambda: np.zeros((3, SCORE_BINS)))
    negatives: np.ndarray = field(default_factory=lambda: np.zeros((3, SCORE_BINS)))

    def add(self, probabilities: np.ndarray, predicted: np.ndarray) -> None:
        probabilities = np.clip(np.asarray(probabilities, np.float64), 0.0, 1.0)
        predicted = np.asarray(predicted, np.int64)
        self.n += len(predicted)
        self.confusion += expected_confusion(probabilities, predicted)
        which = np.minimum((probabilities * SCORE_BINS).astype(np.int64), SCORE_BINS - 1)
        for code in metrics.CODES:
            self.positives[code] += np.bincount(which[:, code], probabilities[:, code], SCORE_BINS)
            self.negatives[code] += np.bincount(which[:, code], 1.0 - probabilities[:, code], SCORE_BINS)

    def merge(self, other: Expected) -> Expected:
        return Expected(
            self.n + other.n,
            self.confusion + other.confusion,
            self.positives + other.positives,
            self.negatives + other.negatives,
        )

    def estimate(self) -> dict[str, Any]:
        """Macro-F1, weighted OvR AUC and accuracy expected from the probabilities alone (CBPE)."""
        if not self.n:
            raise ValueError("no decisions to estimate from")
        prevalence = self.confusion.sum(axis=1)
        total, weight = 0.0, 0.0
        for code in metrics.CODES:
            area = _expected_auc(self.positives[code][::-1], self.negatives[code][::-1])
            if area is not None:
                total += prevalence[code] * area
                weight += prevalence[code]
        return {
            "n": self.n,
            "macro_f1": _round(metrics.f1_scores(self.confusion).mean()),
            "auc": _round(total / weight) if weight else None,
            "accuracy": _round(np.trace(self.confusion) / self.n),
            "expected_prevalence": {
                label: _round(share) for label, share in zip(metrics.LABELS, prevalence / self.n, strict=True)
            },
        }


def _expected_auc(positives: np.ndarray, negatives: np.ndarray) -> float | None:
    """Area under the expected ROC curve, steps in descending score order (a step's rows count as tied)."""
    total_positive, total_negative = positives.sum(), negatives.sum()
    if total_positive <= 0 or total_negative <= 0:
        return None
    tpr = np.r_[0.0, np.cumsum(positives)] / total_positive
    fpr = np.r_[0.0, np.cumsum(negatives)] / total_negative
    return float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2.0))


def estimated(scored: Scored) -> dict[str, Any]:
    """The CBPE estimate of some decisions (see :class:`Expected`)."""
    expected = Expected()
    expected.add(scored.probabilities, scored.predicted)
    return expected.estimate()


def _probability_matrix(records: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """The records' probabilities (code order) and served labels; rows without three numbers are skipped."""
    rows, labels = [], []
    for record in records:
        probabilities = record.get(capture.PROBABILITIES)
        try:
            rows.append([float(probabilities[label]) for label in metrics.LABELS])  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            continue
        labels.append(record[capture.PREDICTION])
    return np.array(rows, np.float64).reshape(-1, len(metrics.CODES)), np.array(labels, np.int64)


@dataclass
class EstimateCounts:
    """CBPE statistics of every captured decision, per model version and month of decision."""

    groups: dict[tuple[str, str], Expected] = field(default_factory=dict)

    def add(self, records: Sequence[Mapping[str, Any]]) -> None:
        by_group: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for record in records:
            key = (str(record.get(capture.MODEL_VERSION)), record[capture.TIMESTAMP][:7])
            by_group.setdefault(key, []).append(record)
        for key, members in by_group.items():
            probabilities, predicted = _probability_matrix(members)
            if len(predicted):
                self.groups.setdefault(key, Expected()).add(probabilities, predicted)

    def section(self) -> dict[str, Any]:
        """``{version: {macro_f1, auc, accuracy, n, ..., by_month: {month: {...}}}}``."""
        result: dict[str, Any] = {}
        for version in sorted({version for version, _ in self.groups}):
            months = {month: e for (v, month), e in sorted(self.groups.items()) if v == version}
            overall = Expected()
            for expected in months.values():
                overall = overall.merge(expected)
            result[version] = {
                **overall.estimate(),
                "by_month": {month: e.estimate() for month, e in months.items()},
            }
        return result


def realized_section(joined: Joined, *, bootstrap: int = BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Realised figures of the joined decisions (``outcomes.Joined``) per version, overall and by month."""
    result: dict[str, Any] = {}
    for version in sorted({version for version, _ in joined.decision_groups()}):
        overall = joined.arrays(version)
        entry = realized(
            Scored(overall["predicted"], overall["probabilities"], overall["labels"]), bootstrap=bootstrap, seed=seed
        )
        entry["by_month"] = {}
        for month in sorted({m for v, m in joined.decision_groups() if v == version}):
            rows = joined.arrays(version, month)
            entry["by_month"][month] = realized(
                Scored(rows["predicted"], rows["probabilities"], rows["labels"]), bootstrap=bootstrap, seed=seed
            )
        result[version] = entry
    return result
