"""The README's quality and constraint-cost tables are the stored benchmark results, figure for figure."""

from __future__ import annotations

import json
import re

from benchmarks.holdout_spread import COSTS, MARKERS, README, RESULTS, readme_tables


def test_given_the_stored_results_when_rendered_then_the_readme_shows_exactly_them() -> None:
    start, end = MARKERS
    block = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), README.read_text(encoding="utf-8"), re.S)
    assert block, "README.md lost its quality tables"

    expected = readme_tables(json.loads(RESULTS.read_text()), json.loads(COSTS.read_text()))

    assert block.group(1) == expected, "run `python -m benchmarks.holdout_spread --update-docs`"


def test_given_the_cost_results_then_every_used_field_has_a_row() -> None:
    from credit_score.contract.fields import FEATURE_NAMES

    removed = json.loads(COSTS.read_text())["one_constraint_removed"]

    assert set(FEATURE_NAMES) <= set(removed)
    assert set(json.loads(RESULTS.read_text())["summary"]) >= {"served", "unconstrained"}
