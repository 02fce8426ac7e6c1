"""Build time: exact path-dependent TreeSHAP tables of the two cascade boosters, and their parity check.

For one leaf, the path-dependent expectation ``E[f(x) | x_S]`` of TreeSHAP (``shap.TreeExplainer``'s
default for trees) is ``v · Π_k (o_k if k ∈ S else z_k)`` over the leaf's ``d`` distinct path features:
``o_k`` is 1 when ``x`` satisfies every split on feature ``k`` along the path (the feature is "hot"),
``z_k`` the share of training rows that follow the path at those splits. The Shapley values of that
product game depend only on which path features are hot, a pattern of ``d`` bits, so they can be
tabulated. With ``Ψ(m) = v Σ_{S ⊆ hot(m)} |S|!(d-|S|-1)!/d! Π_{k ∉ S} z_k`` one table of ``2^d`` numbers
per leaf serves every feature:

* a cold feature gets ``-Ψ(m)``;
* a hot feature ``k`` gets ``(1/z_k - 1) · Ψ(m without k)``.

Both are stored for every pattern (``table``: leaves x 2^d patterns x d slots, float64), so the
runtime (:mod:`credit_score.runtime.explainer`) reads a row's contributions with one ``take``: no
recursion, numpy only. All splits on one feature along a path intersect into
one interval ``(lo, hi]``, which is how the runtime tells hot from cold. The decision rules are
LightGBM's own (``<=``, ``default_left``, missing types None / NaN / Zero), so the margins the tables
add up to are the booster's raw scores.

``check_parity`` compares the tables with ``shap.TreeExplainer`` on the same boosters: the build
fails unless both agree on at least :data:`MIN_PARITY_ROWS` rows. ``reason_mix`` gives the share of
answers citing each reason code on reference rows, the drift report's reference for the captured mix.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from credit_score.contract.decision import decide
from credit_score.contract.fields import FEATURE_NAMES, FIELD_NAMES
from credit_score.contract.reasons import DEFAULT_LANGUAGE, MARGIN_NAMES
from credit_score.runtime.explainer import FORMAT_VERSION, Explainer, column_fields, pattern_table

MIN_PARITY_ROWS = 1_000
PARITY_TOLERANCE = 1e-6  # |our contribution - shap's| per column, on the raw-score scale
ADDITIVITY_TOLERANCE = 1e-5


class ExplainerParityError(RuntimeError):
    """The tables disagree with the reference, or there are too few rows to tell."""


def _leaves(node: dict[str, Any], path: list[tuple[dict[str, Any], bool]], out: list) -> None:
    """Depth-first: every leaf with the (split node, went left) pairs from the root to it."""
    if "split_index" not in node:
        out.append((node, list(path)))
        return
    for child, left in ((node["left_child"], True), (node["right_child"], False)):
        path.append((node, left))
        _leaves(child, path, out)
        path.pop()


def _goes_left_when_missing(node: dict[str, Any]) -> bool:
    """Where LightGBM sends a NaN (and, for missing type Zero, a zero) at ``node``."""
    if node["missing_type"] in ("NaN", "Zero"):
        return bool(node["default_left"])
    return float(node["threshold"]) >= 0.0  # missing type None: NaN is read as 0


def _weights(d: int) -> np.ndarray:
    """``A[m, S] = |S|!(d-|S|-1)!/d!`` where ``S ⊆ m`` and ``m`` is not the full pattern, else 0."""
    size = 1 << d
    table = np.zeros((size, size))
    for m in range(size - 1):
        for s in range(size):
            if s & ~m == 0:
                k = bin(s).count("1")
                table[m, s] = math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d)
    return table


def _booster_tables(dump: dict[str, Any], prefix: str, fields_of_columns: np.ndarray) -> dict[str, np.ndarray]:
    """The runtime arrays of one booster from its ``Booster.dump_model()`` document."""
    if dump.get("num_tree_per_iteration", 1) != 1 or dump.get("num_class", 1) != 1:
        raise ValueError("each cascade booster must be a single-output (binary) model")
    leaves: list[tuple[float, list[tuple[int, float, float, bool, bool, float]]]] = []
    base = 0.0
    for info in dump["tree_info"]:
        root = info["tree_structure"]
        found: list = []
        _leaves(root, [], found)
        total = float(root.get("internal_count", root.get("leaf_count", 0)))
        for leaf, path in found:
            value = float(leaf["leaf_value"])
            slots: dict[int, list[float | bool]] = {}  # column -> [lo, hi, nan_hot, zero_missing, z]
            share = 1.0
            for node, left in path:
                if node["decision_type"] != "<=":
                    raise ValueError("categorical splits are not supported: categories are ordinal columns")
                column = int(node["split_feature"])
                threshold = float(node["threshold"])
                child = node["left_child"] if left else node["right_child"]
                child_count = float(child.get("internal_count", child.get("leaf_count", 0)))
                ratio = child_count / float(node["internal_count"])
                share *= ratio
                zero_missing = node["missing_type"] == "Zero"
                nan_left = _goes_left_when_missing(node)
                slot = slots.setdefault(column, [-math.inf, math.inf, True, zero_missing, 1.0])
                if left:
                    slot[1] = min(slot[1], threshold)
                else:
                    slot[0] = max(slot[0], threshold)
                slot[2] = bool(slot[2]) and nan_left == left
                slot[4] = float(slot[4]) * ratio
            base += value * share if total else 0.0
            leaves.append((value, [(c, s[0], s[1], s[2], s[3], s[4]) for c, s in slots.items()]))  # type: ignore[misc]
    depth = max((len(slots) for _, slots in leaves), default=0)
    width = max(depth, 1)
    count = len(leaves)
    column = np.zeros((count, width), dtype=np.int16)
    lo = np.full((count, width), math.inf)
    hi = np.full((count, width), math.inf)
    nan_hot = np.zeros((count, width), dtype=bool)
    zero_missing = np.zeros((count, width), dtype=bool)
    hot_coef = np.zeros((count, width))
    cold_coef = np.zeros((count, width))
    full = np.zeros(count, dtype=np.uint8)
    value = np.zeros(count)
    psi = np.zeros((count, 1 << width))
    weights = {d: _weights(d) for d in range(depth + 1)}
    for index, (leaf_value, slots) in enumerate(leaves):
        d = len(slots)
        value[index] = leaf_value
        full[index] = (1 << d) - 1
        z = np.ones(d)
        for s, (c, low, high, nan_ok, zero_ok, share) in enumerate(slots):
            column[index, s], lo[index, s], hi[index, s] = c, low, high
            nan_hot[index, s], zero_missing[index, s] = nan_ok, zero_ok
            z[s] = share
            hot_coef[index, s] = 1.0 / share - 1.0
            cold_coef[index, s] = -1.0
        # prodnot[S] = product of z over the path features outside S
        prodnot = np.array([math.prod(z[k] for k in range(d) if not (s >> k) & 1) for s in range(1 << d)])
        psi[index, : 1 << d] = leaf_value * (weights[d] @ prodnot)
    return {
        f"{prefix}value": value,
        f"{prefix}column": column,
        f"{prefix}field": fields_of_columns[column].astype(np.int8),
        f"{prefix}lo": lo,
        f"{prefix}hi": hi,
        f"{prefix}nan_hot": nan_hot,
        f"{prefix}zero_missing": zero_missing,
        f"{prefix}hot_coef": hot_coef,
        f"{prefix}cold_coef": cold_coef,
        f"{prefix}full": full,
        f"{prefix}psi": psi,
        f"{prefix}table": pattern_table(psi, 1 << np.arange(width), hot_coef, cold_coef),
        f"{prefix}base": np.array(base),
    }


def build_tables(boosters: Sequence[Any]) -> bytes:
    """``explainer.npz`` for the cascade: one set of tables per booster, in :data:`MARGIN_NAMES` order."""
    if len(boosters) != len(MARGIN_NAMES):
        raise ValueError(f"expected {len(MARGIN_NAMES)} boosters: {', '.join(MARGIN_NAMES)}")
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION),
        "feature_names": np.array(FEATURE_NAMES),
        "field_names": np.array(FIELD_NAMES),
        "margin_names": np.array(MARGIN_NAMES),
    }
    fields_of_columns = column_fields()
    for index, booster in enumerate(boosters):
        dump = booster.dump_model()
        if dump["max_feature_idx"] + 1 != len(FEATURE_NAMES):
            columns = dump["max_feature_idx"] + 1
            raise ValueError(f"booster {MARGIN_NAMES[index]} takes {columns} columns, not {len(FEATURE_NAMES)}")
        arrays.update(_booster_tables(dump, f"b{index}_", fields_of_columns))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def load_tables(tables: bytes) -> Explainer:
    """The runtime explainer over freshly built tables, exactly as the bundle will load them."""
    return Explainer.load(io.BytesIO(tables))


def check_parity(explainer: Explainer, boosters: Sequence[Any], matrix: np.ndarray) -> dict[str, Any]:
    """Our contributions against ``shap.TreeExplainer`` (path-dependent) for both boosters on ``matrix``.

    Compared per field and per margin; raises :class:`ExplainerParityError`
    when fewer than :data:`MIN_PARITY_ROWS` rows are given, when any contribution differs by more than
    :data:`PARITY_TOLERANCE`, or when contributions plus base value miss the booster's raw score by more
    than :data:`ADDITIVITY_TOLERANCE`.
    """
    import shap

    rows = len(matrix)
    if rows < MIN_PARITY_ROWS:
        raise ExplainerParityError(f"explainer parity needs at least {MIN_PARITY_ROWS} rows, got {rows}")
    fields_of_columns = column_fields()
    report: dict[str, Any] = {"rows": rows, "reference": f"shap {shap.__version__} TreeExplainer tree_path_dependent"}
    for index, booster in enumerate(boosters):
        name = MARGIN_NAMES[index]
        reference = shap.TreeExplainer(booster, feature_perturbation="tree_path_dependent")
        columns = np.asarray(reference.shap_values(matrix.astype(np.float64)))
        expected = np.zeros((rows, len(FIELD_NAMES)))
        np.add.at(expected.T, fields_of_columns, columns.T)
        ours = explainer.contributions(matrix, np.full(rows, index))
        raw = booster.predict(matrix, raw_score=True, num_threads=1)
        error = float(np.abs(ours.fields - expected).max())
        additivity = float(np.abs(ours.fields.sum(axis=1) + ours.base_value - raw).max())
        margin_error = float(np.abs(ours.margin - raw).max())
        base_error = float(abs(explainer.base_value(index) - float(np.ravel(reference.expected_value)[0])))
        top = _top_agreement(ours.fields, expected)
        report[name] = {
            "max_abs_contribution_diff": error,
            "max_additivity_error": additivity,
            "max_margin_diff": margin_error,
            "base_value_diff": base_error,
            "identical_top4_share": top,
        }
        if error > PARITY_TOLERANCE or base_error > PARITY_TOLERANCE:
            raise ExplainerParityError(f"{name}: contributions differ from shap by {max(error, base_error):.3g}")
        if additivity > ADDITIVITY_TOLERANCE or margin_error > ADDITIVITY_TOLERANCE:
            raise ExplainerParityError(
                f"{name}: contributions miss the raw score by {max(additivity, margin_error):.3g}"
            )
    return report


def _top_agreement(ours: np.ndarray, expected: np.ndarray, k: int = 4) -> float:
    """Share of rows whose ``k`` most negative fields are the same set in both."""
    a = np.sort(np.argsort(ours, axis=1, kind="stable")[:, :k], axis=1)
    b = np.sort(np.argsort(expected, axis=1, kind="stable")[:, :k], axis=1)
    return float((a == b).all(axis=1).mean())


def reason_mix(
    explainer: Explainer, rows: np.ndarray, margins: np.ndarray, thresholds: Sequence[float]
) -> dict[str, Any]:
    """The share of ``rows``' answers citing each reason code, each answer's codes as the handler gives them.

    The decision comes from the graph's ``margins`` and the served cut-offs, a Poor answer is explained by
    the first margin and the others by the second, and the reasons are the runtime's (``select_reasons``):
    the steps of ``runtime.predict``. ``{"explained_records": n, "shares": {code: share}}``, most cited first.
    """
    codes = decide(margins, thresholds).codes
    explained = (np.asarray(codes) != 0).astype(np.intp)
    matrix = np.asarray(rows, dtype=np.float32)
    contributions = explainer.contributions(matrix, explained)
    cited: Counter[str] = Counter()
    for row, fields in zip(matrix, contributions.fields, strict=True):
        cited.update(reason.to_dict(DEFAULT_LANGUAGE)["code"] for reason in explainer.reasons(row, fields))
    count = len(matrix)
    ordered = sorted(cited.items(), key=lambda item: (-item[1], item[0]))
    return {"explained_records": count, "shares": {code: round(n / count, 6) for code, n in ordered} if count else {}}
