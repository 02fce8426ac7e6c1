"""Exact reason codes at run time: path-dependent TreeSHAP of the cascade, evaluated from tables.

The tables (``explainer.npz``, built and checked against ``shap.TreeExplainer`` by
:mod:`credit_score.modelling.explainer`, which explains the algebra) hold, for every leaf of both boosters,
the interval ``(lo, hi]`` of each distinct path feature and, for each of the ``2^d`` hot-feature
patterns, every path feature's contribution (from one Shapley table ``Ψ`` of ``2^d`` numbers).
Explaining a row is then a handful of numpy operations over (leaves by path features): which features
are hot, one ``take`` of each leaf's contributions under its pattern, one sum per field (one column
per used field; a field outside the model gets 0). The same pattern yields the booster's raw score
(the sum of the leaves the row reaches), so contributions + base value = margin holds by construction.

Reasons need no search of the model's response: every column is monotone in its field's credit
direction, so :func:`credit_score.contract.reasons.select_reasons` reads a reason's direction from the
contract's table, as the registered pyfunc does.
numpy only: this module runs in the Lambda image.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from credit_score.contract.fields import FEATURE_NAMES, FIELD_NAMES
from credit_score.contract.reasons import MARGIN_NAMES, Reason, field_state, select_reasons

FORMAT_VERSION = 2  # 2 adds each booster's pattern table (``b{i}_table``); format 1 builds it at load
READABLE_FORMATS = (1, 2)
_FIELD_COUNT = len(FIELD_NAMES)


class ExplainerError(ValueError):
    """The tables are unreadable or were built for another encoding."""


def column_fields() -> np.ndarray:
    """The field index (in FIELD_NAMES order) of each encoded column (FEATURE_NAMES)."""
    return np.array([FIELD_NAMES.index(column) for column in FEATURE_NAMES], dtype=np.intp)


@dataclass(frozen=True, slots=True)
class Contributions:
    """Per row: ``fields`` (n, 21) contributions, ``base_value`` (n,) and the explained ``margin`` (n,),
    NaN where it was not asked for (``Explainer.explain(..., with_margin=False)``)."""

    fields: np.ndarray
    base_value: np.ndarray
    margin: np.ndarray


class _Booster:
    """The tables of one booster and the vectorised evaluation over them."""

    def __init__(self, arrays: Any, prefix: str) -> None:
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


class Explainer:
    """Exact contributions and reason codes of both cascade margins; safe to share across invocations."""

    def __init__(self, arrays: Any) -> None:
        if int(arrays["format_version"]) not in READABLE_FORMATS:
            raise ExplainerError(f"explainer tables must be format {' or '.join(map(str, READABLE_FORMATS))}")
        if tuple(arrays["feature_names"].tolist()) != FEATURE_NAMES:
            raise ExplainerError("explainer tables were built for a different feature encoding")
        if tuple(arrays["margin_names"].tolist()) != MARGIN_NAMES:
            raise ExplainerError(f"explainer tables must explain {', '.join(MARGIN_NAMES)}")
        self.boosters = tuple(_Booster(arrays, f"b{i}_") for i in range(len(MARGIN_NAMES)))

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
        """Contributions, and each row's hot-feature pattern (which leaves it reaches).

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

    def reasons(self, row: np.ndarray, fields: np.ndarray) -> list[Reason]:
        """The reasons of one encoded ``row`` from its ``fields`` contributions (see ``select_reasons``)."""
        return select_reasons(fields, field_state(row))
