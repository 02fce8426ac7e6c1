"""The credit-direction table in docs/decisions.md is the contract's, field for field."""

from __future__ import annotations

import re

from credit_score.contract.fields import (
    CREDIT_DIRECTION,
    DECREASING,
    INCREASING,
    ORDERED,
    ORDERED_LEVELS,
    OUTSIDE_MODEL,
)
from tests.support.paths import ROOT

DOC = ROOT / "docs" / "decisions.md"


def _rows() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    table = re.search(r"<!-- directions:start -->(.*?)<!-- directions:end -->", text, re.S)
    assert table, "docs/decisions.md lost its directions table"
    rows = {}
    for line in table.group(1).strip().splitlines()[2:]:
        label, fields = (cell.strip() for cell in line.strip("|").split("|"))
        rows[label] = fields
    return rows


def _names(cell: str) -> set[str]:
    return {part.split(":")[0].strip() for part in cell.split(";") for part in part.split(",") if part.strip()}


def test_the_documented_directions_are_the_contracts() -> None:
    rows = _rows()
    by_direction = {
        direction: {n for n, d in CREDIT_DIRECTION.items() if d == direction} for direction in (INCREASING, DECREASING)
    }
    increasing = next(cell for label, cell in rows.items() if f"`{INCREASING}`" in label)
    decreasing = next(cell for label, cell in rows.items() if f"`{DECREASING}`" in label)
    ordered = next(cell for label, cell in rows.items() if f"`{ORDERED}`" in label)
    outside = next(cell for label, cell in rows.items() if "not in the model" in label)
    assert _names(increasing) == by_direction[INCREASING]
    assert _names(decreasing) == by_direction[DECREASING]
    assert _names(outside) == set(OUTSIDE_MODEL)
    for name, levels in ORDERED_LEVELS.items():
        assert f"{name}: {' < '.join(levels)}" in ordered
    assert {part.split(":")[0].strip() for part in ordered.split(";")} == set(ORDERED_LEVELS)
