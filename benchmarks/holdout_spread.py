"""How much the hold-out figures depend on which customers are held out, and what each constraint costs.

``python -m benchmarks.holdout_spread`` fits the served cascade (``training.cascade`` defaults,
thresholds tuned out of fold on the training rows only) on the shared file once per split seed, each
time holding out 20 % of the customers with ``training.data.split`` exactly as ``credit-score-train``
does, and scores the held-out rows. It writes ``benchmarks/results/holdout_spread.json``.

Why: the quality bar is judged on about 2,000 rows, where one split's macro-F1 and AUC move by about
±0.01; the spread tells a reader whether a figure below or above the bar is the model or the draw.
Seed 42 is the default split of training and evaluation; the others are 1 to 9.

Each split is also fitted once more without any monotone constraint, everything else equal (the same
columns: Age, Occupation and Payment_Behaviour stay out): the gap is what the credit directions cost
in quality on the same rows, and the unconstrained figure is the recipe's ceiling on that split.

``--costs`` adds, for every used field, the cascade with that one constraint removed (and one with
both ordered categories freed), on the same ten splits: the AUC and macro-F1 a constraint gives back
when removed (``benchmarks/results/constraint_costs.json``; about 19 times the plain run).

``--update-docs`` writes both results as tables into README.md, between its ``quality`` markers
(``tests/docs/test_quality_tables.py`` fails when the README and the results disagree).
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

from benchmarks.data import ROOT, csv_digest, measure_on_shared_csv
from credit_score.modelling.training.data import DEFAULT_EVAL_FRACTION, DEFAULT_SEED

RESULTS = ROOT / "benchmarks" / "results" / "holdout_spread.json"
COSTS = ROOT / "benchmarks" / "results" / "constraint_costs.json"
SEEDS: tuple[int, ...] = (DEFAULT_SEED, *range(1, 10))
REPORTED = ("macro_f1", "weighted_roc_auc", "ece")
VARIANTS = ("served", "unconstrained")
ORDERED_PAIR = "Credit_Mix+Payment_of_Min_Amount"
README = ROOT / "README.md"
MARKERS = ("<!-- quality:start -->", "<!-- quality:end -->")
VARIANT_LABELS = {
    "served": "served: every used field in its credit direction",
    "unconstrained": "the same 18 columns, unconstrained",
}


def _constraints(free: tuple[str, ...] = (), everything: bool = False) -> list[int]:
    from credit_score.contract.fields import FEATURE_NAMES
    from credit_score.modelling.training.cascade import MONOTONE

    return [0 if everything or name in free else MONOTONE[name] for name in FEATURE_NAMES]


def _fit_and_score(dataset: Any, seeds: tuple[int, ...], constraints: list[int]) -> list[dict[str, float]]:
    from credit_score.modelling.training.cascade import fit_cascade
    from credit_score.modelling.training.data import split
    from credit_score.modelling.training.evaluate import classification_metrics

    scores = []
    for seed in seeds:
        training, evaluation = split(dataset, DEFAULT_EVAL_FRACTION, seed)
        cascade = fit_cascade(training.features, training.labels, training.groups, monotone_constraints=constraints)
        metrics = classification_metrics(
            evaluation.labels, cascade.probabilities(evaluation.features), cascade.labels(evaluation.features)
        )
        scores.append({"split_seed": seed, "eval_rows": len(evaluation), **{key: metrics[key] for key in REPORTED}})
    return scores


def run(csv: Path, seeds: tuple[int, ...] = SEEDS) -> dict[str, Any]:
    from credit_score.modelling.training.data import read_raw_csv, to_dataset

    dataset = to_dataset(read_raw_csv(csv))
    by_variant = {
        "served": _fit_and_score(dataset, seeds, _constraints()),
        "unconstrained": _fit_and_score(dataset, seeds, _constraints(everything=True)),
    }
    splits = []
    for index, seed in enumerate(seeds):
        row: dict[str, Any] = {"split_seed": seed, "eval_rows": by_variant["served"][index]["eval_rows"]}
        for variant in VARIANTS:
            row[variant] = {key: by_variant[variant][index][key] for key in REPORTED}
        splits.append(row)
        print(f"split {seed:>2}: " + "  |  ".join(_line(row[variant], variant) for variant in VARIANTS), flush=True)
    summary = {variant: _summary([row[variant] for row in splits]) for variant in VARIANTS}
    summary["monotonicity_cost"] = {
        key: round(summary["unconstrained"][key]["mean"] - summary["served"][key]["mean"], 4) for key in REPORTED
    }
    return {
        "data_sha256": csv_digest(csv),
        "eval_fraction": DEFAULT_EVAL_FRACTION,
        "splits": splits,
        "summary": summary,
    }


def costs(csv: Path, seeds: tuple[int, ...] = SEEDS) -> dict[str, Any]:
    """Mean macro-F1 and AUC over ``seeds`` with each constraint removed, against the served recipe."""
    from credit_score.contract.fields import FEATURE_NAMES
    from credit_score.modelling.training.data import read_raw_csv, to_dataset

    dataset = to_dataset(read_raw_csv(csv))
    served = _means(_fit_and_score(dataset, seeds, _constraints()))
    freed: dict[str, tuple[str, ...]] = {name: (name,) for name in FEATURE_NAMES}
    freed[ORDERED_PAIR] = tuple(ORDERED_PAIR.split("+"))
    table = {}
    for label, names in freed.items():
        means = _means(_fit_and_score(dataset, seeds, _constraints(free=names)))
        table[label] = {
            f"{key}_given_back": round(means[key] - served[key], 4) for key in ("macro_f1", "weighted_roc_auc")
        }
        print(f"{label:>34}: " + "  ".join(f"{key} {value:+.4f}" for key, value in table[label].items()), flush=True)
    return {"data_sha256": csv_digest(csv), "splits": list(seeds), "served": served, "one_constraint_removed": table}


def _means(scores: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.fmean(score[key] for score in scores), 4) for key in REPORTED}


def _summary(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        key: {
            "mean": round(statistics.fmean(row[key] for row in rows), 4),
            "stdev": round(statistics.stdev(row[key] for row in rows), 4),
            "min": min(row[key] for row in rows),
            "max": max(row[key] for row in rows),
        }
        for key in REPORTED
    }


def _line(figures: dict[str, float], label: str) -> str:
    return f"{label} " + " ".join(f"{key} {figures[key]:.4f}" for key in REPORTED)


def readme_tables(spread: dict[str, Any], cost_table: dict[str, Any]) -> str:
    """The two README tables: mean quality over the splits, and what each constraint costs."""
    lines = [
        f"| {len(spread['splits'])} customer splits, 20 % held out | macro-F1 | weighted AUC | ECE |",
        "|---|---|---|---|",
    ]
    for variant in VARIANTS:
        figures = spread["summary"][variant]
        cells = " | ".join(f"{figures[key]['mean']:.3f}" for key in REPORTED)
        lines.append(f"| {VARIANT_LABELS[variant]} | {cells} |")
    lines += ["", "| constraint removed | macro-F1 given back | AUC given back |", "|---|---|---|"]
    removed = cost_table["one_constraint_removed"]
    for name in sorted(removed, key=lambda label: -removed[label]["weighted_roc_auc_given_back"]):
        gains = removed[name]
        label = "both ordered categories" if name == ORDERED_PAIR else name
        lines.append(f"| {label} | {gains['macro_f1_given_back']:+.4f} | {gains['weighted_roc_auc_given_back']:+.4f} |")
    return "\n".join(lines)


def update_readme(readme: Path = README) -> None:
    """Put :func:`readme_tables` of the stored results between the README's markers."""
    tables = readme_tables(json.loads(RESULTS.read_text()), json.loads(COSTS.read_text()))
    start, end = MARKERS
    text = readme.read_text(encoding="utf-8")
    block = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not block.search(text):
        raise SystemExit(f"{readme} lacks the markers {start} … {end}")
    readme.write_text(block.sub(lambda _: f"{start}\n{tables}\n{end}", text), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments == ["--costs"]:
        return 0 if measure_on_shared_csv(costs, COSTS) is not None else 2
    if arguments == ["--update-docs"]:
        update_readme()
        return 0
    if arguments:
        print("usage: python -m benchmarks.holdout_spread [--costs | --update-docs]", file=sys.stderr)
        return 2
    result = measure_on_shared_csv(run, RESULTS)
    if result is None:
        return 2
    for variant in VARIANTS:
        for key, figures in result["summary"][variant].items():
            spread = f"{figures['min']:.4f}..{figures['max']:.4f}"
            print(f"{variant} {key}: mean {figures['mean']:.4f}, stdev {figures['stdev']:.4f}, {spread}")
    print("cost of the credit directions (unconstrained - served, means):", result["summary"]["monotonicity_cost"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
