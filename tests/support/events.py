"""The real-shaped AWS events under ``tests/events/``, named once for every test that walks them."""

from __future__ import annotations

import json
from typing import Any

from tests.support.paths import EVENTS

# Every event that carries the seed payload to be predicted; ``direct.json`` is the payload itself.
POST_EVENTS = tuple(sorted(path.name for path in EVENTS.glob("*.json") if "get_health" not in path.name))
BODY_EVENTS = tuple(name for name in POST_EVENTS if name != "direct.json")


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())
