"""Exact reason codes at run time: path-dependent TreeSHAP of the cascade, evaluated from tables.

The tables (``explainer.npz``, built and checked against ``shap.TreeExplainer`` by
:mod:`credit_score.modelling.explainer`, which explains the algebra) hold, for every leaf of both boosters,
the interval ``(lo, hi]`` of each distinct path feature and, for each of the ``2^d`` hot-feature
patterns, every path feature's contribution (from one Shapley table ``Ψ`` of ``2^d`` numbers).
Explaining a row is then a handful of numpy operations over (leaves by path features): which features
are hot, one ``take`` of each leaf's contributions under its pattern, one sum per field (a category's
one-hot columns add up into its field). The same pattern yields the booster's raw score (the sum of
the leaves the row reaches), so contributions + base value = margin holds by construction.

A reason's direction is the model's own response: the field alone is moved, everything else fixed,
to each of its probe values (21 quantiles of the reference rows) and the explained margin recomputed
(only the leaves whose paths test the field change; which probe satisfies which leaf's splits is
fixed, so it is tabulated at load). A number is ``too_high`` when the helping moves below its value
gain more in total than those above it, ``too_low`` otherwise (for a monotone field this is always
the constraint's way); a category lists the categories that would score better.
numpy only: this module runs in the Lambda image.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from credit_score.contract.fields import CATEGORICAL_FIELDS, FEATURE_NAMES, FIELD_NAMES, FIELDS
from credit_score.contract.reasons import (
    MARGIN_NAMES,
    REASON_COUNT,
    TOO_HIGH,
    TOO_LOW,
    UNFAVOURABLE,
    reason_for,
)

FORMAT_VERSION = 2  # 2 adds each booster's pattern table (``b{i}_table``); format 1 builds it at load
READABLE_FORMATS = (1, 2)
_FIELD_COUNT = len(FIELD_NAMES)
_NO_GAIN = 1e-9  # a move "helps" only above float summation noise: leaf values are O(0.1), sums O(1)


class ExplainerError(ValueError):
    """The tables are unreadable or were built for another encoding."""


def column_fields() -> np.ndarray:
    """The field index (in FIELD_NAMES order) of each of the 47 encoded columns."""
    index = {name: i for i, name in enumerate(FIELD_NAMES)}
    return np.array([index[column.split("=", 1)[0]] for column in FEATURE_NAMES], dtype=np.intp)


@dataclass(frozen=True, slots=True)
class Contributions:
    """Per row: ``fields`` (n, 21) contributions, ``base_value`` (n,) and the explained ``margin`` (n,),
    NaN where it was not asked for (``Explainer.explain(..., with_margin=False)``)."""

    fields: np.ndarray
    base_value: np.ndarray
    margin: np.ndarray


@dataclass(frozen=True, slots=True)
class _FieldProbe:
    """What moving one field to each probe value does to the leaves whose paths test that field.

    ``inside[k, u]`` says whether probe ``k`` satisfies every split on the field along leaf ``u``'s
    path: fixed per probe, so it is computed once at load; per row only the other features' state
    (the hot-feature pattern) is needed.
    """

    leaves: np.ndarray
    mask: np.ndarray  # bits of the field's slots in each leaf
    full: np.ndarray
    value: np.ndarray
    inside: np.ndarray  # (probes, leaves) float 0/1


class _Booster:
    """The tables of one booster and the vectorised evaluation over them."""

    def __init__(self, arrays: Any, prefix: str, probes: dict[int, np.ndarray]) -> None:
        def get(name: str) -> np.ndarray:
            return arrays[prefix + name]

        self.value = get("value")
        self.column = get("column").astype(np.intp)
        self.field = get("field").astype(np.intp)
        self.lo, self.hi = _float32_bounds(get("lo")), _float32_bounds(get("hi"))
        self.nan_hot, self.zero_missing = get("nan_hot"), get("zero_missing")
        self.hot_coef, self.cold_coef = get("hot_coef"), get("cold_coef")
        self.full = get("full").astype(np.int64)
        self.base = float(get("base"))
        self.width = self.column.shape[1]
        if self.width > 8:
            raise ExplainerError("explainer tables support at most 8 distinct features per leaf path")
        self.bits = 1 << np.arange(self.width)
        self._bit_weights = self.bits.astype(np.float32)  # exact: patterns are below 2^8
        self.any_zero_missing = bool(self.zero_missing.any())
        if prefix + "table" in arrays:
            self.table = get("table")
        else:
            self.table = pattern_table(get("psi"), self.bits, self.hot_coef, self.cold_coef)
        self.start = np.arange(len(self.value), dtype=np.intp) << self.width
        self._order, self._field_starts, self._fields_present = _field_runs(self.field, self.cold_coef != 0)
        self._alternatives = probes
        # built on a field's first reason, not at load: a cold start pays for the few fields it explains
        self.probes: list[_FieldProbe | None] = [None] * _FIELD_COUNT

    def _field_probe(self, field_index: int, alternatives: np.ndarray) -> _FieldProbe:
        """``alternatives`` (probes, columns of the field): the values the field is moved to."""
        real = self.cold_coef != 0  # padding slots have no coefficient
        leaf, slot = np.nonzero((self.field == field_index) & real)
        first = FEATURE_NAMES.index(_first_column(FIELD_NAMES[field_index]))
        bit = self.bits[slot]
        starts = np.flatnonzero(np.r_[True, leaf[1:] != leaf[:-1]]) if len(leaf) else np.zeros(0, dtype=np.intp)
        groups = leaf[starts]
        mask = np.add.reduceat(bit, starts) if len(leaf) else np.zeros(0, dtype=np.int64)
        values = alternatives[:, self.column[leaf, slot] - first]
        hot = (values > self.lo[leaf, slot]) & (values <= self.hi[leaf, slot])
        bits = np.add.reduceat(hot * bit, starts, axis=1) if len(leaf) else np.zeros((len(alternatives), 0))
        inside = bits == mask
        return _FieldProbe(groups, mask, self.full[groups], self.value[groups], inside.astype(np.float64))

    def hot(self, row: np.ndarray) -> np.ndarray:
        """(leaves, slots) bool: the row satisfies every split of the slot's feature on the leaf's path.

        The NaN test runs on the row's columns, not on the (leaves, slots) gather: a served row rarely
        has gaps, so the missing-value rule is mostly skipped unless the booster routes zeros as missing.
        """
        values = row.take(self.column)
        hot = (values > self.lo) & (values <= self.hi)
        if self.any_zero_missing or np.isnan(row).any():
            missing = np.isnan(values) | (self.zero_missing & (np.abs(values) <= 1e-35))
            hot = np.where(missing, self.nan_hot, hot)
        return hot

    def explain(self, row: np.ndarray, with_margin: bool = True) -> tuple[np.ndarray, float, np.ndarray]:
        """Field contributions (21,), raw score (NaN unless ``with_margin``) and hot-feature pattern
        (leaves,) of one float32 ``row``.

        Each leaf's hot flags are packed into its pattern by one float32 product with the slot bits (3 µs
        for 3,000 leaves, where the integer product and the former byte packing took 13 µs); the pattern
        picks the leaf's row of precomputed contributions (one ``take``), and the (leaf, slot) entries,
        laid out field by field, are summed per field by one permutation and ``reduceat`` (with the take,
        15 µs where ``bincount`` took 30 µs). About 40 µs a row in all, 3.9x less than the former
        gather, ``where``, multiply and ``bincount`` (``python -m benchmarks.compare``).
        """
        hot = self.hot(row)
        pattern = (hot.astype(np.float32) @ self._bit_weights).astype(np.intp)
        values = self.table.take(self.start + pattern, axis=0).ravel()
        fields = np.zeros(_FIELD_COUNT)
        fields[self._fields_present] = np.add.reduceat(values.take(self._order), self._field_starts)
        margin = float(self.value[pattern == self.full].sum()) if with_margin else math.nan
        return fields, margin, pattern

    def margin_gains(self, field_index: int, pattern: np.ndarray) -> np.ndarray:
        """Change of the raw score when the field alone takes each of its probe values."""
        probe = self.probes[field_index]
        if probe is None:
            probe = self.probes[field_index] = self._field_probe(field_index, self._alternatives[field_index])
        current = pattern[probe.leaves]
        others = ((current | probe.mask) == probe.full) * probe.value
        reached = ((current == probe.full) * probe.value).sum()
        return probe.inside @ others - reached


def _float32_bounds(bounds: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each float64 bound: for a float32 ``x``, ``x <= b`` exactly when
    ``x <= f(b)`` and ``x > b`` exactly when ``x > f(b)``, so comparing in float32 keeps LightGBM's rule."""
    with np.errstate(over="ignore"):  # beyond float32: infinity, then stepped back to its largest finite
        nearest = bounds.astype(np.float32)
    above = nearest.astype(np.float64) > bounds
    nearest[above] = np.nextafter(nearest[above], np.float32(-np.inf))
    return nearest


def pattern_table(psi: np.ndarray, bits: np.ndarray, hot_coef: np.ndarray, cold_coef: np.ndarray) -> np.ndarray:
    """Every leaf's contributions under every hot-feature pattern: ``table[leaf << width | m, k]`` is
    ``Ψ(m without k) · (1/z_k - 1)`` when slot ``k`` is hot in ``m`` and ``-Ψ(m)`` when it is cold, the
    same float64 products the per-row gather, ``where`` and multiply gave. Evaluating a row is then one
    ``take`` of a (leaves, slots) block: that step went from 4 numpy passes to 1 (see docs/performance.md).

    Built at build time (:mod:`credit_score.modelling.explainer`) and stored (bundle format 2): hashing
    and reading the larger file starts the explainer sooner than building the tables at load
    (``python -m benchmarks.tables_layout``); format 1 bundles still build them here.
    """
    leaves, patterns = psi.shape
    m = np.arange(patterns)[:, None]
    hot = (m & bits) != 0  # (patterns, slots)
    table = psi[:, m & ~bits]  # (leaves, patterns, slots)
    table *= np.where(hot, hot_coef[:, None, :], cold_coef[:, None, :])
    return table.reshape(leaves * patterns, len(bits))


def _field_runs(field: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The real (leaf, slot) entries ordered field by field, where each field's run starts, and which
    fields have one: a permutation and ``reduceat`` sum them per field (faster than ``bincount``)."""
    flat = np.flatnonzero(real.ravel())
    order = flat[np.argsort(field.ravel()[flat], kind="stable")]
    ordered = field.ravel()[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(order) else np.zeros(0, np.intp)
    return order, starts, ordered[starts]


def _first_column(field_name: str) -> str:
    for category in CATEGORICAL_FIELDS:
        if category.name == field_name:
            return f"{field_name}={category.levels[0]}"
    return field_name


class Explainer:
    """Exact contributions and reason codes of both cascade margins; safe to share across invocations."""

    def __init__(self, arrays: Any) -> None:
        if int(arrays["format_version"]) not in READABLE_FORMATS:
            raise ExplainerError(f"explainer tables must be format {' or '.join(map(str, READABLE_FORMATS))}")
        if tuple(arrays["feature_names"].tolist()) != FEATURE_NAMES:
            raise ExplainerError("explainer tables were built for a different feature encoding")
        if tuple(arrays["margin_names"].tolist()) != MARGIN_NAMES:
            raise ExplainerError(f"explainer tables must explain {', '.join(MARGIN_NAMES)}")
        self._probes = {i: arrays[f"probes_{i}"] for i, f in enumerate(FIELDS) if f.is_numeric}
        probes = {i: self._probes[i][:, None] if f.is_numeric else np.eye(len(f.levels)) for i, f in enumerate(FIELDS)}
        self.boosters = tuple(_Booster(arrays, f"b{i}_", probes) for i in range(len(MARGIN_NAMES)))
        self._first = {i: FEATURE_NAMES.index(_first_column(f.name)) for i, f in enumerate(FIELDS)}

    @classmethod
    def load(cls, path: str | os.PathLike[str] | BinaryIO) -> Explainer:
        """Read ``explainer.npz`` (a path or an open binary file); :class:`ExplainerError` if unusable.

        Only the arrays the evaluation uses are read (not ``psi``, folded into the pattern tables), copied
        out of the archive. Mapping them where the npz stores them would save 3-8 ms of a cold start but
        ``np.savez`` leaves its members unaligned, and ``take`` from misaligned float64 rows is 16x
        slower (every explained row took 2.5x longer); separate ``.npy`` files map aligned, for the same
        few milliseconds (``python -m benchmarks.tables_layout``).
        """
        try:
            with np.load(path, allow_pickle=False) as arrays:
                return cls(arrays)
        except ExplainerError:
            raise
        except (OSError, ValueError, KeyError) as error:
            raise ExplainerError(f"unreadable explainer tables: {type(error).__name__}") from None

    def base_value(self, margin_index: int) -> float:
        return self.boosters[margin_index].base

    def contributions(self, matrix: np.ndarray, margins: np.ndarray) -> Contributions:
        """Exact field contributions of ``matrix`` rows to the margin each row's ``margins`` entry names."""
        return self.explain(matrix, margins)[0]

    def explain(
        self, matrix: np.ndarray, margins: np.ndarray, *, with_margin: bool = True
    ) -> tuple[Contributions, list[np.ndarray]]:
        """Contributions, and each row's hot-feature pattern (for :meth:`reasons`).

        ``with_margin=False`` leaves the explained margin NaN: only an answer with ``contributions``
        shows it, and summing the reached leaves is about 3 µs of a row's 40 (``python -m
        benchmarks.compare``, "with the margin").
        One row at a time: the per-row temporaries (leaves by slots) then stay in cache, which measured
        faster than stacking rows into one larger numpy pass.
        """
        rows = np.asarray(matrix, dtype=np.float32)
        count = len(rows)
        fields = np.zeros((count, _FIELD_COUNT))
        margin = np.full(count, math.nan)
        base = np.zeros(count)
        patterns: list[np.ndarray] = []
        boosters = self.boosters
        for i, (row, index) in enumerate(zip(rows, margins.tolist(), strict=True)):
            booster = boosters[index]
            fields[i], margin[i], pattern = booster.explain(row, with_margin)
            base[i] = booster.base
            patterns.append(pattern)
        return Contributions(fields, base, margin), patterns

    def reasons(self, row: np.ndarray, margin_index: int, fields: np.ndarray, pattern: np.ndarray) -> list[Reason]:
        """The (at most) four fields that lowered the explained margin most, each with its direction.

        A field is a reason only when some move of it alone raises the margin: a negative contribution
        that no change of the field could undo (path-dependent attributions spread interactions) tells
        the applicant nothing to act on, so the next field is taken instead.
        """
        booster = self.boosters[margin_index]
        out: list[Reason] = []
        for field_index in np.argsort(fields, kind="stable").tolist():
            if fields[field_index] >= 0 or len(out) == REASON_COUNT:
                break
            reason = self._reason(booster, field_index, row, pattern)
            if reason is not None:
                out.append(reason)
        return out

    def _reason(self, booster: _Booster, field_index: int, row: np.ndarray, pattern: np.ndarray) -> Reason | None:
        f = FIELDS[field_index]
        gains = booster.margin_gains(field_index, pattern)
        if f.is_numeric:
            probes = self._probes[field_index]
            value = row[self._first[field_index]]
            helps = gains > _NO_GAIN
            up = gains[helps & (probes > value)].sum()
            down = gains[helps & (probes < value)].sum()
            if up == down == 0:
                return None
            return Reason(field_index, TOO_LOW if up > down else TOO_HIGH, ())
        better = tuple(level for level, gain in zip(f.levels, gains.tolist(), strict=True) if gain > _NO_GAIN)
        return Reason(field_index, UNFAVOURABLE, better) if better else None


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason of one answer: which field, which way, and for a category which categories would help."""

    field_index: int
    direction: str
    better: tuple[str, ...]

    def to_dict(self, language: str) -> dict[str, Any]:
        name = FIELD_NAMES[self.field_index]
        entry = reason_for(name, self.direction)
        answer: dict[str, Any] = {"code": entry.code, "field": name, "direction": self.direction}
        if self.direction == UNFAVOURABLE:
            answer["better"] = list(self.better)
        answer["text"] = entry.text[language]
        return answer
