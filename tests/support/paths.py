"""Where the tests find the repository, its sample events and the shared data set, named once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
SEED_FILE = ROOT / "data.json"
# ../shared beside the repository, as laid out for developers and CI.
REAL_DATA = ROOT.parent / "shared" / "data" / "credit-score" / "credit_score_august.csv"


def seed_payload() -> dict[str, Any]:
    """The seed's ``data.json``: ``{"data": {...21 fields as strings...}}``."""
    return json.loads(SEED_FILE.read_text())
