"""Drift statistics: bounded counts of captured records, compared with the training reference profile.

Population Stability Index over the reference bins: ``PSI = sum((c_i - r_i) * ln(c_i / r_i))`` with ``c``
the current and ``r`` the reference shares. Every share is floored at ``EPSILON`` first, so an empty bin
costs a large but finite amount instead of infinity. Numeric fields use the profile's decile bins over
present values (the bin rule of :func:`credit_score.contract.profile.bin_counts`); categorical fields
their levels, ``Unknown`` included since the model sees it as a level; the prediction mix the three
classes; P(Poor) and P(Good) the deciles of the training rows' probabilities, when the profile has them
(older profiles do not, and are then not compared). Reference shares are renormalised to sum to 1
(categorical frequencies are shares of all rows).

The verdict weighs size and evidence. PSI measures how much a distribution moved (``alert`` at or above
``Thresholds.alert``, ``warn`` at or above ``Thresholds.warn``); the chi-square goodness-of-fit test of
the same bin counts against the reference shares (numeric deciles, categorical levels, the prediction
mix) says whether so small a sample could show that much by chance. With at least
``Thresholds.min_rows`` values PSI decides alone: there the test rejects shifts far too small to matter.
Below it a shift is judged by its PSI when the test also rejects at ``Thresholds.alpha`` (a material
and significant shift in 300 rows is a shift), and is ``insufficient_data`` otherwise: small samples
inflate PSI by chance (about ``(bins - 1) / n``), so a large PSI that the test cannot confirm is no verdict.
The test's power grows with the sample, as Evidently's choice of test by sample size intends.
Missing values and the ``Unknown`` share are data quality, reported next to the reference's shares.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from operator import itemgetter
from typing import Any

import numpy as np

from credit_score.contract.bundle import CLASSES
from credit_score.contract.capture import PROBABILITIES, REASONS
from credit_score.contract.fields import CATEGORICAL_FIELDS, NUMERIC_FIELDS, UNKNOWN
from credit_score.contract.profile import FORMAT_VERSION, PROBABILITY_LABELS, bin_counts
from credit_score.contract.reasons import REASONS_BY_CODE

EPSILON = 1e-4
NONE, WARN, ALERT, INSUFFICIENT = "none", "warn", "alert", "insufficient_data"
SEVERITY = {INSUFFICIENT: -1, NONE: 0, WARN: 1, ALERT: 2}
PREDICTION = "prediction"
PROBABILITY = "probability"
LABELS = tuple(label for _, label in CLASSES)
# One chunk is held in memory at once; the bound keeps memory flat whatever the volume.
MAX_CHUNK = 100_000
OTHER_REASON = "other"  # a code this version of the contract does not know


class ProfileError(ValueError):
    """The reference profile is missing, of another format, or does not cover the 21 fields."""


@dataclass(frozen=True)
class Thresholds:
    warn: float = 0.1
    alert: float = 0.25
    min_rows: int = 500
    alpha: float = 0.01  # significance a shift in fewer than min_rows values needs

    def __post_init__(self) -> None:
        if not 0 < self.warn < self.alert:
            raise ValueError("thresholds must satisfy 0 < warn < alert")
        if self.min_rows < 1:
            raise ValueError("the minimum sample size must be at least 1")
        if not 0 < self.alpha < 1:
            raise ValueError("the significance level must be between 0 and 1")

    def verdict(self, psi: float | None, rows: int, p_value: float | None = None) -> str:
        """PSI's level; below ``min_rows`` values only a shift the test confirms, else insufficient data."""
        if psi is None or not rows:
            return INSUFFICIENT
        level = ALERT if psi >= self.alert else WARN if psi >= self.warn else NONE
        if rows >= self.min_rows:
            return level
        significant = p_value is not None and p_value < self.alpha
        return level if level != NONE and significant else INSUFFICIENT


@dataclass(frozen=True)
class NumericReference:
    edges: tuple[float, ...]
    shares: tuple[float, ...]
    missing: float


@dataclass(frozen=True)
class CategoricalReference:
    levels: tuple[str, ...]
    shares: tuple[float, ...]
    unknown: float | None  # share of all rows; None for fields without an Unknown bucket
    missing: float


@dataclass(frozen=True)
class Reference:
    """A reference profile (format of ``contract/profile.py``), checked once against the 21 fields."""

    rows: int
    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    prediction: tuple[float, ...]
    probabilities: dict[str, NumericReference] = field(default_factory=dict)  # empty for an older profile

    @classmethod
    def from_profile(cls, profile: Any) -> Reference:
        if not isinstance(profile, Mapping) or profile.get("format_version") != FORMAT_VERSION:
            raise ProfileError(f"expected a reference profile with format_version {FORMAT_VERSION}")
        try:
            numeric = {f.name: _numeric_reference(profile["numeric"][f.name]) for f in NUMERIC_FIELDS}
            categorical = {
                f.name: _categorical_reference(profile["categorical"][f.name], f.levels, f.allows_unknown)
                for f in CATEGORICAL_FIELDS
            }
            mix = profile["prediction_mix"]
            prediction = _normalised([float(mix[label]) for label in LABELS])
            rows = int(profile["rows"])
            bins = profile.get("probabilities")  # absent from profiles written before the bins existed
            probabilities = (
                {label: _numeric_reference({**bins[label], "missing": 0.0}) for label in PROBABILITY_LABELS}
                if bins is not None
                else {}
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ProfileError(f"reference profile incomplete or malformed near {error}") from None
        return cls(rows, numeric, categorical, prediction, probabilities)


def _normalised(values: Sequence[float]) -> tuple[float, ...]:
    total = math.fsum(values)
    if any(v < 0 or not math.isfinite(v) for v in values) or total <= 0:
        raise ValueError("shares")
    return tuple(v / total for v in values)


def _numeric_reference(entry: Mapping[str, Any]) -> NumericReference:
    edges = tuple(float(e) for e in entry["edges"])
    fractions = [float(f) for f in entry["fractions"]]
    if len(fractions) != len(edges) + 1 or list(edges) != sorted(edges):
        raise ValueError("edges")
    # No shares when the training rows had no value at all (the profile's empty-edges case).
    shares = _normalised(fractions) if math.fsum(fractions) > 0 else ()
    return NumericReference(edges, shares, float(entry["missing"]))


def _categorical_reference(entry: Mapping[str, Any], levels: tuple[str, ...], unknown: bool) -> CategoricalReference:
    frequencies = entry["frequencies"]
    if set(frequencies) != set(levels):
        raise ValueError("levels")
    shares = _normalised([float(frequencies[level]) for level in levels])
    return CategoricalReference(
        levels, shares, float(frequencies[UNKNOWN]) if unknown else None, float(entry["missing"])
    )


_NUMERIC = tuple(f.name for f in NUMERIC_FIELDS)
_CATEGORICAL = tuple(f.name for f in CATEGORICAL_FIELDS)
_numeric_row = itemgetter(*_NUMERIC)
_categorical_row = itemgetter(*_CATEGORICAL)


def _numbers(inputs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The numeric fields as an (n, 17) float64 matrix; NaN where absent, not a number, or not finite.

    One C-level conversion of every row's tuple; a chunk with any odd value takes the slow path.
    """
    try:
        matrix = np.array([_numeric_row(entry) for entry in inputs], dtype=np.float64)
    except (KeyError, TypeError, ValueError, OverflowError):
        matrix = np.array([[_number(entry.get(name)) for name in _NUMERIC] for entry in inputs], dtype=np.float64)
    matrix = matrix.reshape(len(inputs), len(_NUMERIC))
    matrix[~np.isfinite(matrix)] = np.nan
    return matrix


_NOT_A_STRING = object()


def _level(value: Any) -> object:
    """Strings count by level; anything else (the handler never captures one) as an unexpected value."""
    return value if value is None or isinstance(value, str) else _NOT_A_STRING


def _categories(inputs: Sequence[Mapping[str, Any]]) -> list[Counter[Any]]:
    """Value counts of each categorical field (None where absent)."""
    try:
        columns = list(zip(*map(_categorical_row, inputs), strict=True)) or [()] * len(_CATEGORICAL)
    except KeyError:
        columns = [tuple(entry.get(name) for entry in inputs) for name in _CATEGORICAL]
    counters = []
    for column in columns:
        try:
            counters.append(Counter(column))
        except TypeError:  # a list or an object where a string belongs
            counters.append(Counter(map(_level, column)))
    return counters


def _number(value: Any) -> float:
    """What numpy's conversion does to one value, with NaN instead of an error."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


@dataclass
class Counts:
    """Everything the comparison needs and nothing more: bin, level and class counts, never records.

    Memory is fixed by the profile (a few counters per field) plus one class counter per day.
    """

    reference: Reference
    rows: int = 0
    bins: dict[str, np.ndarray] = field(init=False)
    missing: Counter[str] = field(default_factory=Counter)
    levels: dict[str, Counter[str]] = field(init=False)
    other: Counter[str] = field(default_factory=Counter)
    by_day: dict[str, np.ndarray] = field(default_factory=dict)
    versions: Counter[str] = field(default_factory=Counter)
    reasons_by_day: dict[str, Counter[str]] = field(default_factory=dict)  # reason code -> answers citing it
    explained_by_day: Counter[str] = field(default_factory=Counter)
    probability_bins: dict[str, np.ndarray] = field(init=False)  # P(Poor), P(Good) over the reference's bins

    def __post_init__(self) -> None:
        self.bins = {name: np.zeros(len(ref.edges) + 1, np.int64) for name, ref in self.reference.numeric.items()}
        self.levels = {name: Counter() for name in self.reference.categorical}
        self.probability_bins = {
            label: np.zeros(len(ref.edges) + 1, np.int64) for label, ref in self.reference.probabilities.items()
        }

    def add(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Count one chunk of validated capture records (see ``reader``) of at most MAX_CHUNK."""
        if len(records) > MAX_CHUNK:
            raise ValueError(f"chunks are limited to {MAX_CHUNK} records")
        inputs = [record["input"] for record in records]
        self.rows += len(records)
        matrix = _numbers(inputs)
        for index, name in enumerate(_NUMERIC):
            column = matrix[:, index]
            present = int(np.count_nonzero(~np.isnan(column)))
            self.missing[name] += len(column) - present
            if present:
                self.bins[name] += bin_counts(column, self.reference.numeric[name].edges)
        for name, counts in zip(_CATEGORICAL, _categories(inputs), strict=True):
            levels = self.reference.categorical[name].levels
            self.missing[name] += counts.pop(None, 0)
            for level, count in counts.items():
                if isinstance(level, str) and level in levels:
                    self.levels[name][level] += count
                else:
                    self.other[name] += count
        for (day, code), count in Counter((r["timestamp"][:10], r["prediction"]) for r in records).items():
            if day not in self.by_day:
                self.by_day[day] = np.zeros(len(LABELS), np.int64)
            self.by_day[day][code] += count
        self.versions.update(str(r.get("model_version")) for r in records)
        if self.probability_bins:
            scored = probability_matrix(records)
            for label, bins in self.probability_bins.items():
                bins += bin_counts(scored[:, LABELS.index(label)], self.reference.probabilities[label].edges)
        for record in records:
            reasons = record.get(REASONS)
            if type(reasons) is list:
                day = record["timestamp"][:10]
                self.explained_by_day[day] += 1
                mix = self.reasons_by_day.setdefault(day, Counter())
                mix.update(code if type(code) is str and code in REASONS_BY_CODE else OTHER_REASON for code in reasons)


def probability_matrix(records: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Each record's class probabilities as an (n, 3) matrix in LABELS order, clipped to [0, 1]; a row of
    NaN for a record without a usable set (the bin counts then leave it out)."""
    rows = []
    for record in records:
        probabilities = record.get(PROBABILITIES)
        try:
            rows.append([float(probabilities[label]) for label in LABELS])  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            rows.append([math.nan] * len(LABELS))
    matrix = np.clip(np.array(rows, dtype=np.float64).reshape(len(rows), len(LABELS)), 0.0, 1.0)
    matrix[~np.isfinite(matrix).all(axis=1)] = np.nan
    return matrix


def psi(current: Sequence[float], reference: Sequence[float], epsilon: float = EPSILON) -> float:
    """PSI of two share vectors over the same bins, each share floored at ``epsilon``."""
    total = 0.0
    for c, r in zip(current, reference, strict=True):
        c, r = max(c, epsilon), max(r, epsilon)
        total += (c - r) * math.log(c / r)
    return total


def chi_square(
    counts: Sequence[float], reference: Sequence[float], epsilon: float = EPSILON
) -> tuple[float, int, float]:
    """Goodness of fit of ``counts`` to the reference shares: (statistic, degrees of freedom, p-value)."""
    from scipy.stats import chi2

    n = sum(counts)
    expected = [n * max(r, epsilon) for r in reference]
    statistic = math.fsum((o - e) ** 2 / e for o, e in zip(counts, expected, strict=True))
    dof = len(counts) - 1
    return statistic, dof, float(chi2.sf(statistic, dof))


@dataclass(frozen=True)
class Bin:
    label: str
    reference: float
    current: float


@dataclass(frozen=True)
class FeatureDrift:
    """The comparison of one field (or of the prediction mix) with its reference."""

    name: str
    kind: str  # numeric, categorical, prediction or probability
    rows: int
    psi: float | None
    verdict: str
    bins: tuple[Bin, ...]
    chi2: float | None = None
    dof: int | None = None
    p_value: float | None = None
    missing_share: float | None = None
    reference_missing_share: float | None = None
    unknown_share: float | None = None
    reference_unknown_share: float | None = None
    other_share: float | None = None


@dataclass(frozen=True)
class Drift:
    rows: int
    verdict: str
    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift
    by_day: dict[str, dict[str, int]]
    versions: dict[str, int]
    reason_mix: dict[str, Any] = field(default_factory=dict)
    probabilities: tuple[FeatureDrift, ...] = ()  # P(Poor) and P(Good); empty without reference bins


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [count / total if total else 0.0 for count in counts]


def _compare(
    name: str,
    kind: str,
    counts: Sequence[int],
    reference: Sequence[float],
    labels: Sequence[str],
    thresholds: Thresholds,
) -> dict[str, Any]:
    rows = int(sum(counts))
    current = _shares(counts)
    value = psi(current, reference) if rows and reference else None
    bins = tuple(Bin(label, r, c) for label, r, c in zip(labels, reference, current, strict=True)) if reference else ()
    result: dict[str, Any] = {"name": name, "kind": kind, "rows": rows, "psi": value, "bins": bins}
    if rows and len(reference) > 1:
        result["chi2"], result["dof"], result["p_value"] = chi_square([int(c) for c in counts], reference)
    result["verdict"] = thresholds.verdict(value, rows, result.get("p_value"))
    return result


def bin_labels(edges: Sequence[float]) -> list[str]:
    """Readable names of the bins of ``edges``: below the first edge, between edges, from the last edge."""
    if not edges:
        return ["all values"]
    text = [f"{edge:,.0f}" if abs(edge) >= 10_000 else f"{edge:.4g}" for edge in edges]
    return [f"< {text[0]}", *(f"[{low}, {high})" for low, high in pairwise(text)), f">= {text[-1]}"]


def evaluate(counts: Counts, thresholds: Thresholds, reference_reasons: Mapping[str, Any] | None = None) -> Drift:
    """Compare every field, the prediction mix and the probabilities with the reference; the overall verdict is
    the worst one. ``reference_reasons`` (the bundle's ``metadata.reference_reasons``) adds the reason-code mix's
    comparison, which is reported beside the verdict and not part of it (see :func:`reason_mix`)."""
    ref = counts.reference
    rows = counts.rows
    features: list[FeatureDrift] = []
    for name, numeric in ref.numeric.items():
        compared = _compare(
            name,
            "numeric",
            counts.bins[name].tolist(),
            numeric.shares,
            bin_labels(numeric.edges),
            thresholds,
        )
        features.append(
            FeatureDrift(
                **compared,
                missing_share=counts.missing[name] / rows if rows else None,
                reference_missing_share=numeric.missing,
            )
        )
    for name, categorical in ref.categorical.items():
        level_counts = [counts.levels[name][level] for level in categorical.levels]
        compared = _compare(name, "categorical", level_counts, categorical.shares, categorical.levels, thresholds)
        unknown = counts.levels[name][UNKNOWN] / rows if rows and categorical.unknown is not None else None
        features.append(
            FeatureDrift(
                **compared,
                missing_share=counts.missing[name] / rows if rows else None,
                reference_missing_share=categorical.missing,
                unknown_share=unknown,
                reference_unknown_share=categorical.unknown,
                other_share=counts.other[name] / rows if rows else None,
            )
        )
    totals = np.zeros(len(LABELS), np.int64)
    for day_counts in counts.by_day.values():
        totals += day_counts
    prediction = FeatureDrift(**_compare(PREDICTION, PREDICTION, totals.tolist(), ref.prediction, LABELS, thresholds))
    probabilities = tuple(
        FeatureDrift(
            **_compare(
                probability_name(label),
                PROBABILITY,
                counts.probability_bins[label].tolist(),
                bins.shares,
                bin_labels(bins.edges),
                thresholds,
            )
        )
        for label, bins in ref.probabilities.items()
    )
    verdict = max((f.verdict for f in (*features, prediction, *probabilities)), key=SEVERITY.__getitem__)
    if verdict == INSUFFICIENT and rows >= thresholds.min_rows:
        verdict = NONE  # a field without values does not hide the others' verdict
    elif verdict == NONE and rows < thresholds.min_rows:
        verdict = INSUFFICIENT
    by_day = {
        day: dict(zip(LABELS, day_counts.tolist(), strict=True)) for day, day_counts in sorted(counts.by_day.items())
    }
    return Drift(
        rows,
        verdict,
        tuple(features),
        prediction,
        by_day,
        dict(counts.versions.most_common()),
        reason_mix(counts, reference_reasons, thresholds),
        probabilities,
    )


def probability_name(label: str) -> str:
    return f"P({label})"


NO_REFERENCE = "no_reference"


def reason_mix(
    counts: Counts, reference: Mapping[str, Any] | None = None, thresholds: Thresholds | None = None
) -> dict[str, Any]:
    """How often each reason code was given, overall and per day, as shares of the explained answers;
    with the bundle's reference mix (``metadata.reference_reasons``), each code's reference share beside
    the current one and a verdict for the mix as a whole (:func:`compare_reasons`).

    A reason's share moving over time says which factor now drives the adverse decisions, something the
    input drift alone does not show. Codes only: never a value.
    """
    totals: Counter[str] = Counter()
    for mix in counts.reasons_by_day.values():
        totals.update(mix)
    explained = sum(counts.explained_by_day.values())

    def shares(mix: Counter[str], rows: int) -> dict[str, float]:
        return {code: round(count / rows, 6) for code, count in sorted(mix.items(), key=lambda i: (-i[1], i[0]))}

    return {
        "explained_records": explained,
        "shares": shares(totals, explained) if explained else {},
        **compare_reasons(totals, explained, reference, thresholds or Thresholds()),
        "by_day": {
            day: {
                "explained_records": counts.explained_by_day[day],
                "shares": shares(mix, counts.explained_by_day[day]),
            }
            for day, mix in sorted(counts.reasons_by_day.items())
        },
    }


def compare_reasons(
    cited: Mapping[str, int], explained: int, reference: Mapping[str, Any] | None, thresholds: Thresholds
) -> dict[str, Any]:
    """``reference`` (as stored), ``codes`` (per code the reference and current share of answers citing it)
    and ``verdict`` of the captured mix against the reference mix; ``no_reference`` for an older bundle.

    An answer cites up to three codes, so the shares of answers add up to more than 1: the PSI compares
    the shares of citations (each mix normalised to 1). The chi-square test counts the citations scaled
    down to the number of explained answers: one answer's codes are not independent draws, and counting
    each answer once keeps the test's power that of the sample, as the verdict of a field does.
    """
    parsed = _reason_reference(reference)
    if parsed is None:
        return {"reference": None, "codes": {}, "verdict": {"verdict": NO_REFERENCE, "rows": explained}}
    records, reference_shares = parsed
    codes = sorted({*reference_shares, *cited}, key=lambda code: (-reference_shares.get(code, 0.0), code))
    current = {code: cited.get(code, 0) / explained if explained else 0.0 for code in codes}
    table = {code: {"reference": reference_shares.get(code, 0.0), "current": round(current[code], 6)} for code in codes}
    citations = sum(cited.get(code, 0) for code in codes)
    expected = [reference_shares.get(code, 0.0) for code in codes]
    result: dict[str, Any] = {"rows": explained, "psi": None, "chi2": None, "dof": None, "p_value": None}
    if citations and math.fsum(expected) > 0:
        observed = [cited.get(code, 0) * explained / citations for code in codes]
        result["psi"] = psi(_shares(observed), _normalised(expected))
        if len(codes) > 1:
            result["chi2"], result["dof"], result["p_value"] = chi_square(observed, _normalised(expected))
    result["verdict"] = thresholds.verdict(result["psi"], explained, result["p_value"])
    return {
        "reference": {"explained_records": records, "shares": dict(reference_shares)},
        "codes": table,
        "verdict": result,
    }


def _reason_reference(reference: Mapping[str, Any] | None) -> tuple[int, dict[str, float]] | None:
    """The reference's record count and shares, or None when absent or malformed (reported as no reference)."""
    if not isinstance(reference, Mapping):
        return None
    shares, records = reference.get("shares"), reference.get("explained_records")
    if not isinstance(shares, Mapping) or type(records) is not int or records <= 0:
        return None
    try:
        parsed = {str(code): float(share) for code, share in shares.items()}
    except (TypeError, ValueError):
        return None
    if not parsed or any(not 0 <= share <= 1 for share in parsed.values()):
        return None
    return records, parsed
