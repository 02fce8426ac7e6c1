"""Do the reasons' directions hold when the reason's field alone is moved, and does any contradict the table?

``python -m benchmarks.reason_directions`` trains the served cascade on the default split of the
shared file (seed 42, 20 % of customers held out), builds the explainer tables as the downloader
does, and asks the served rule (``contract.reasons.select_reasons`` through the runtime explainer)
for the reasons of every held-out row. It counts reasons whose direction differs from the contract's
credit-direction table or whose field is outside the model (both must be 0), and the reasons citing a
missing value. Each reason's field is then moved the way the reason says would help, everything else
fixed, and the explained margin recomputed by LightGBM itself (not by the tables). It writes
``benchmarks/results/reason_directions.json``.

Moves of a number: one interquartile range of the training values; 10 % of the value (at least one
unit); to the training median when it lies that way. A category is set to each of the ``better``
levels the reason lists. Each move counts as raising the margin, leaving it unchanged (trees are flat
between their split points, so small moves often do nothing) or lowering it; a model monotone in
every field in its credit direction never lowers it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import ROOT, csv_digest, measure_on_shared_csv

RESULTS = ROOT / "benchmarks" / "results" / "reason_directions.json"
NO_CHANGE = 1e-9  # below float summation noise of the leaf values
MOVES = ("one_iqr", "ten_percent", "to_median")


def run(csv: Path) -> dict[str, Any]:
    from credit_score.contract.fields import FEATURE_NAMES, FIELD_NAMES, MODEL_FIELDS, ORDERED_LEVELS
    from credit_score.contract.reasons import MISSING_VALUE, TOO_HIGH, UNFAVOURABLE, direction_of
    from credit_score.modelling.explainer import build_tables, load_tables
    from credit_score.modelling.training.cascade import fit_cascade
    from credit_score.modelling.training.data import (
        DEFAULT_EVAL_FRACTION,
        DEFAULT_SEED,
        read_raw_csv,
        split,
        to_dataset,
    )

    training, evaluation = split(to_dataset(read_raw_csv(csv)), DEFAULT_EVAL_FRACTION, DEFAULT_SEED)
    cascade = fit_cascade(training.features, training.labels, training.groups)
    explainer = load_tables(build_tables(cascade.boosters))
    rows = evaluation.features
    margin_index = (cascade.labels(rows) != 0).astype(np.intp)  # Poor: standard_or_better; else good_given_standard
    contributions = explainer.contributions(rows, margin_index)

    moved: list[np.ndarray] = []
    moved_from: list[int] = []
    groups: list[tuple[str, str]] = []
    cited: Counter[str] = Counter()
    for i, row in enumerate(rows):
        for reason in explainer.reasons(row, contributions.fields[i]):
            name = FIELD_NAMES[reason.field_index]
            cited["reasons"] += 1
            cited["outside_model"] += name not in MODEL_FIELDS
            cited["missing_value"] += reason.direction == MISSING_VALUE
            cited["against_table"] += reason.direction not in (direction_of(name), MISSING_VALUE)
            column = FEATURE_NAMES.index(name)
            if reason.direction == MISSING_VALUE:
                continue
            if reason.direction == UNFAVOURABLE:
                for level in reason.better:
                    candidate = row.copy()
                    candidate[column] = float(ORDERED_LEVELS[name].index(level))
                    moved.append(candidate), moved_from.append(i), groups.append(("categories", "to_better"))
                continue
            sign = -1.0 if reason.direction == TOO_HIGH else 1.0
            for move, value in _moves(training.features[:, column], float(row[column]), sign).items():
                candidate = row.copy()
                candidate[column] = value
                moved.append(candidate), moved_from.append(i), groups.append(("numbers", move))

    source = np.asarray(moved_from)
    gains = np.empty(len(moved))
    for index, booster in enumerate(cascade.boosters):
        chosen = np.flatnonzero(margin_index[source] == index)
        after = booster.predict(np.asarray(moved, dtype=np.float64)[chosen], raw_score=True)
        before = booster.predict(np.asarray(rows, dtype=np.float64)[source[chosen]], raw_score=True)
        gains[chosen] = after - before
    tally: dict[str, dict[str, Counter[str]]] = {}
    for (kind, move), gain in zip(groups, gains.tolist(), strict=True):
        outcome = "raised" if gain > NO_CHANGE else "lowered" if gain < -NO_CHANGE else "unchanged"
        tally.setdefault(kind, {}).setdefault(move, Counter())[outcome] += 1
    return {
        "data_sha256": csv_digest(csv),
        "split_seed": DEFAULT_SEED,
        "explained_rows": len(rows),
        "reasons": dict(cited),
        "moves": {kind: {move: _shares(counts) for move, counts in by_move.items()} for kind, by_move in tally.items()},
    }


def _moves(reference: np.ndarray, value: float, sign: float) -> dict[str, float]:
    """The moved values of one number, in the helping direction ``sign`` (+1 up, -1 down)."""
    known = reference[~np.isnan(reference)]
    lower, median, upper = np.quantile(known, (0.25, 0.5, 0.75))
    moves = {"one_iqr": value + sign * float(upper - lower), "ten_percent": value + sign * max(abs(value) * 0.1, 1.0)}
    if (median - value) * sign > 0:
        moves["to_median"] = float(median)
    return moves


def _shares(counts: Counter[str]) -> dict[str, Any]:
    total = sum(counts.values())
    return {"moves": total, **{key: round(counts[key] / total, 4) for key in ("raised", "unchanged", "lowered")}}


def main() -> int:
    result = measure_on_shared_csv(run, RESULTS)
    if result is None:
        return 2
    print("reasons:", result["reasons"])
    for kind, by_move in result["moves"].items():
        for move, shares in by_move.items():
            print(
                f"{kind:>10} {move:<11} n={shares['moves']:>5}  raised {shares['raised']:.3f}"
                f"  unchanged {shares['unchanged']:.3f}  lowered {shares['lowered']:.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
