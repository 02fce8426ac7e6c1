"""10,000 invocations in one container: memory stays flat (no cache or log buffer grows per request)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
from pathlib import Path

import pytest

from credit_score.devtools.serve import build_event
from tests.reliability.conftest import Context, handler_for, settings_for
from tests.support.bundles import synthetic_records

# Heavy (10,000 invocations): `make test` runs it, `make test-fast` does not.
pytestmark = pytest.mark.slow

PAGE = resource.getpagesize()
GROWTH_LIMIT_MB = 20
INVOCATIONS = 10_000


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE / 2**20


def events() -> list[dict]:
    """A rotation of what production sees: singles, batches, HTTP events, invalid and malformed bodies."""
    records = synthetic_records(50, seed=11)
    invalid = {**records[0], "Age": "-3", "Credit_Mix": "Excellent"}
    single = json.dumps({"data": records[2]}).encode()
    return [
        {"data": records[0]},
        {"data": records[1:11]},
        build_event("POST", "/predict", [("content-type", "application/json")], single),
        build_event("GET", "/health", [], b""),
        {"data": invalid},
        build_event("POST", "/predict", [], b"{broken"),
        {"dataframe_split": {"columns": list(records[3]), "data": [list(r.values()) for r in records[3:8]]}},
    ]


def test_given_10000_invocations_when_served_then_rss_growth_stays_bounded(tiny_bundle: Path, tmp_path: Path):
    rotation = events()
    settings = settings_for(tiny_bundle, metrics_enabled=True, log_level="INFO", capture_uri=str(tmp_path / "capture"))
    statuses: set[int] = set()
    with handler_for(settings) as handler, open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        for i in range(1_000):
            statuses.add(handler(rotation[i % len(rotation)], Context(f"warm-{i}"))["statusCode"])
        before = rss_mb()
        for i in range(INVOCATIONS):
            handler(rotation[i % len(rotation)], Context(f"mem-{i}"))
        after = rss_mb()
    assert statuses == {200, 400, 422}
    assert after - before < GROWTH_LIMIT_MB, f"RSS grew {after - before:.1f} MB over {INVOCATIONS} invocations"
