"""Fitting the ordinal cascade: two fully monotone LightGBM boosters and the label thresholds.

Booster 1 learns P(y >= Standard) on every row, booster 2 P(y = Good | y >= Standard) on the rows
that are at least Standard; ``credit_score.modelling.artifacts`` turns their margins into the three
class probabilities. Both are constrained in every column to the field's credit direction from the
contract (:data:`credit_score.contract.fields.CREDIT_DIRECTION`, through :data:`MONOTONE`): more
debt, delays, inquiries or instalments can only lower either margin, more income, savings or credit
history only raise it, a better credit mix only raise it. So any change of one field moves P(Good)
and P(Poor) the way credit logic says and never the label the other way, and every exact
attribution is a reason in the field's own direction. Age, Occupation and Payment_Behaviour are
not columns at all (see the contract).

Why these settings: depth 5 bounds the explainer's tables; 200/150 rounds at learning rate 0.03
is where the held-out AUC stops rising; the figures of the recipe against the unconstrained one,
and what each constraint costs, are in docs/model.md (``python -m benchmarks.holdout_spread``).
One thread: on the shared 2-core build machines LightGBM is many times slower with two.

The label thresholds are tuned for macro-F1 on out-of-fold margins of the training rows (customer
groups kept whole), never on the evaluation rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from credit_score.contract import fields
from credit_score.contract.fields import CREDIT_DIRECTION, FEATURE_NAMES
from credit_score.modelling.artifacts import DECREASING, INCREASING, Cascade, threshold_labels
from credit_score.modelling.training.monotonicity import flatten_trees_against_direction

# The contract's direction -> LightGBM's constraint sign (an ordered category's rank rises with quality).
SIGN_OF_DIRECTION = {fields.INCREASING: INCREASING, fields.ORDERED: INCREASING, fields.DECREASING: DECREASING}
# Every column constrained: -1 a higher value can only worsen the answer, +1 only improve it.
MONOTONE: dict[str, int] = {name: SIGN_OF_DIRECTION[CREDIT_DIRECTION[name]] for name in FEATURE_NAMES}
DEFAULTS: dict[str, Any] = {
    "objective": "binary",
    "max_depth": 5,
    "num_leaves": 16,
    "learning_rate": 0.03,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "lambda_l2": 1.0,
    # "intermediate" constrains a leaf only by the leaves adjacent to it in threshold space, where "basic"
    # bounds every leaf below a split by the split's midpoint: 0.004 AUC better over ten customer splits.
    # It misses leaves that a missing value reaches from the other side of a split (none or one tree a
    # booster on the shared rows), so every fit ends with the exact per-tree proof, and a tree against a
    # direction is flattened (monotonicity.flatten_trees_against_direction).
    "monotone_constraints_method": "intermediate",
}
ROUNDS: tuple[int, int] = (200, 150)
THRESHOLD_FOLDS = 5
# Share of training cells made missing at random before each fit. LightGBM learns a missing-value path
# only for a column that has gaps in training; elsewhere it reads a missing value as 0, so a withheld
# debt would score as no debt at all. With gaps in every column, a missing value follows the path
# the training rows chose for an unknown value. 2 % costs nothing measurable (docs/model.md).
TRAINING_GAPS = 0.02
THRESHOLD_GRID = np.round(np.arange(0.20, 0.801, 0.01), 2)
FIXED: dict[str, Any] = {"num_threads": 1, "deterministic": True, "force_col_wise": True, "verbose": -1}


def monotone_constraints(monotone: Mapping[str, int] = MONOTONE) -> list[int]:
    """LightGBM's per-column constraint list: each feature's sign from ``monotone``, 0 elsewhere."""
    unknown = set(monotone) - set(FEATURE_NAMES)
    if unknown:
        raise ValueError(f"monotone features not in the encoding: {sorted(unknown)}")
    if set(monotone.values()) - {DECREASING, INCREASING}:
        raise ValueError(f"monotone signs must be {DECREASING} or {INCREASING}")
    return [monotone.get(name, 0) for name in FEATURE_NAMES]


def booster_params(seed: int = 42, **overrides: Any) -> dict[str, Any]:
    """The LightGBM parameters of both boosters; ``overrides`` win except the thread count.

    ``max_depth`` above 5 is refused: the explainer's tables grow with 2**depth.
    """
    params = {**DEFAULTS, "monotone_constraints": monotone_constraints(), "seed": seed, **overrides, **FIXED}
    if not 1 <= int(params["max_depth"]) <= 5:
        raise ValueError("max_depth must be between 1 and 5")
    return params


def with_gaps(features: np.ndarray, seed: int, share: float = TRAINING_GAPS) -> np.ndarray:
    """A copy of ``features`` with ``share`` of its cells missing, drawn with ``seed``."""
    gapped = np.array(features, dtype=np.float32, copy=True)
    gapped[np.random.default_rng(seed).random(gapped.shape) < share] = np.nan
    return gapped


def fit_boosters(
    features: np.ndarray, labels: np.ndarray, params: dict[str, Any], rounds: tuple[int, int] = ROUNDS
) -> tuple[Any, Any]:
    """Booster 1 on every row (y >= Standard), booster 2 on the rows at least Standard (y = Good).

    Both see :data:`TRAINING_GAPS` of their cells missing, and leave with every tree proven monotone.
    """
    import lightgbm

    names = list(FEATURE_NAMES)
    features = with_gaps(features, int(params["seed"]))
    upper = labels >= 1
    first = lightgbm.train(params, lightgbm.Dataset(features, upper.astype(np.int64), feature_name=names), rounds[0])
    second = lightgbm.train(
        params,
        lightgbm.Dataset(features[upper], (labels[upper] == 2).astype(np.int64), feature_name=names),
        rounds[1],
    )
    signs = params["monotone_constraints"]
    boosters = float32_thresholds(first), float32_thresholds(second)
    for booster in boosters:
        flatten_trees_against_direction(booster, signs)
    return boosters


def float32_thresholds(booster: Any) -> Any:
    """The same booster with every split threshold rounded down to a float32 value.

    ONNX tree ensembles hold float32 thresholds; a double threshold rounded *up* would send an
    input equal to the rounded value the other way (seen on real rows: a margin off by 0.3). For
    float32 inputs, which is all the encoding produces, ``x <= t`` and ``x <= floor32(t)`` agree,
    so LightGBM's answers do not change and the converted graph becomes exact.
    """
    import lightgbm

    # tree_sizes holds each tree's byte length, which the rewrite changes; LightGBM parses without it.
    lines = [line for line in booster.model_to_string().split("\n") if not line.startswith("tree_sizes=")]
    for index, line in enumerate(lines):
        if line.startswith("threshold="):
            exact = np.asarray(line.removeprefix("threshold=").split(" "), dtype=np.float64)
            rounded = exact.astype(np.float32)
            above = rounded.astype(np.float64) > exact
            rounded[above] = np.nextafter(rounded[above], np.float32(-np.inf))
            lines[index] = "threshold=" + " ".join(repr(float(value)) for value in rounded)
    return lightgbm.Booster(model_str="\n".join(lines))


def macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 over the three codes, in numpy (the threshold search calls it thousands of times)."""
    scores = []
    for code in range(3):
        hits = np.count_nonzero((predicted == code) & (labels == code))
        total = np.count_nonzero(predicted == code) + np.count_nonzero(labels == code)
        scores.append(2.0 * hits / total if total else 0.0)
    return float(np.mean(scores))


def tune_thresholds(labels: np.ndarray, margins: np.ndarray) -> tuple[float, float]:
    """The (t1, t2) of the grid with the best macro-F1 on these margins; ties go to the grid's middle."""
    best: tuple[float, float, float] = (-1.0, 0.5, 0.5)
    for t1 in THRESHOLD_GRID:
        for t2 in THRESHOLD_GRID:
            score = macro_f1(labels, threshold_labels(margins, (t1, t2)))
            centred = -abs(t1 - 0.5) - abs(t2 - 0.5)
            if (score, centred) > (best[0], -abs(best[1] - 0.5) - abs(best[2] - 0.5)):
                best = (score, float(t1), float(t2))
    return best[1], best[2]


def out_of_fold_margins(
    features: np.ndarray, labels: np.ndarray, groups: np.ndarray, params: dict[str, Any], rounds: tuple[int, int]
) -> np.ndarray:
    """Margins of each training row from boosters fitted without its customer."""
    from sklearn.model_selection import StratifiedGroupKFold

    margins = np.zeros((len(labels), 2))
    folds = StratifiedGroupKFold(THRESHOLD_FOLDS, shuffle=True, random_state=int(params["seed"]))
    for fit_rows, held_rows in folds.split(features, labels, groups):
        boosters = fit_boosters(features[fit_rows], labels[fit_rows], params, rounds)
        margins[held_rows] = np.column_stack([b.predict(features[held_rows], raw_score=True) for b in boosters])
    return margins


def fit_cascade(
    features: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray,
    seed: int = 42,
    rounds: tuple[int, int] = ROUNDS,
    **overrides: Any,
) -> Cascade:
    """Tune the thresholds out of fold, then fit both boosters on all of ``features``."""
    params = booster_params(seed, **overrides)
    thresholds = tune_thresholds(labels, out_of_fold_margins(features, labels, groups, params, rounds))
    return Cascade(fit_boosters(features, labels, params, rounds), thresholds, MONOTONE)


def logged_params(params: dict[str, Any], rounds: tuple[int, int], cascade: Cascade) -> dict[str, Any]:
    """The hyper-parameters worth recording with a run (the constraint list as feature names per sign)."""
    chosen = {key: value for key, value in params.items() if key in DEFAULTS or key == "monotone_constraints_method"}
    signs = dict(zip(FEATURE_NAMES, params["monotone_constraints"], strict=True))
    decreasing = [name for name, sign in signs.items() if sign == DECREASING]
    increasing = [name for name, sign in signs.items() if sign == INCREASING]
    return {
        "model": "ordinal cascade of two LightGBM boosters",
        **chosen,
        "rounds_standard_or_better": rounds[0],
        "rounds_good_given_standard": rounds[1],
        "decreasing_features": ",".join(decreasing) or "none",
        "increasing_features": ",".join(increasing) or "none",
        "threshold_t1": cascade.thresholds[0],
        "threshold_t2": cascade.thresholds[1],
    }
