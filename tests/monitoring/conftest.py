"""Captures for the drift tests: populations sent through the real handler, and dated capture files.

``captures`` holds two populations of 2,000 applicants each, captured by ``app.handler`` with the drift
bundle: one drawn like the training rows, one shifted on exactly SHIFTED (incomes doubled, ten more
delayed payments, two thirds of the credit mixes turned Bad). Seeded, so the PSIs are the same on every
run: the unshifted maximum is about 0.016, the smallest shifted PSI about 1.0.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from credit_score.contract.capture import object_key
from credit_score.runtime.capture import capture_records
from credit_score.runtime.model import Prediction
from credit_score.runtime.payload import validate
from tests.support.bundles import synthetic_records
from tests.support.drift_bundles import drift_bundle, population, predict_through_handler  # noqa: F401
from tests.support.moto import aws_fixture, moto_endpoint_fixture  # noqa: F401 - fixtures

POPULATION = 2_000
SHIFTED = frozenset({"Annual_Income", "Num_of_Delayed_Payment", "Credit_Mix"})
MODEL = "credit-score-classifier"
LABELS = ("Poor", "Standard", "Good")


def shift(record: dict[str, str]) -> None:
    record["Annual_Income"] = str(round(float(record["Annual_Income"]) * 2, 2))
    record["Num_of_Delayed_Payment"] = str(int(record["Num_of_Delayed_Payment"]) + 10)
    if int(record["Num_Credit_Card"]) % 3:
        record["Credit_Mix"] = "Bad"


@dataclass(frozen=True)
class Captures:
    bundle: Path
    plain: Path
    shifted: Path


@pytest.fixture(scope="session")
def captures(tmp_path_factory: pytest.TempPathFactory, drift_bundle: Path) -> Captures:  # noqa: F811
    root = tmp_path_factory.mktemp("drift-captures")
    with contextlib.redirect_stdout(io.StringIO()):  # the handler's log lines
        for name, change in (("plain", None), ("shifted", shift)):
            records = population(POPULATION, seed=99, shift=change)
            predict_through_handler(records, model_dir=drift_bundle, capture=str(root / name))
    return Captures(drift_bundle, root / "plain", root / "shifted")


def window() -> list[str]:
    """CLI arguments from yesterday to tomorrow: the handler stamps records with the current time."""
    today = datetime.now(UTC).date()
    return ["--since", str(today - timedelta(days=1)), "--until", str(today + timedelta(days=1))]


def dated_records(count: int, when: datetime, *, seed: int = 1, version: str = "3") -> list[dict]:
    """Capture records exactly as the handler builds them, stamped ``when`` (random predictions)."""
    batch = validate(synthetic_records(count, seed=seed))
    rng = np.random.default_rng(seed)
    probabilities = rng.dirichlet([1, 1, 1], size=count).astype(np.float32)
    return capture_records(
        batch,
        Prediction(probabilities.argmax(axis=1), probabilities),
        labels=LABELS,
        model_name=MODEL,
        model_version=version,
        request_id=f"req-{seed}",
        source="direct",
        when=when,
    )


def lines(records: list[dict]) -> bytes:
    return b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records)


def write_hive(root: Path, days: list[int], per_file: int, files_per_day: int, *, version: str = "3") -> dict:
    """Capture files on the given days of May 2025 (one hour each); returns {day: records written}."""
    written = {}
    for day in days:
        for index in range(files_per_day):
            when = datetime(2025, 5, day, 10 + index % 12, index, 0, tzinfo=UTC)
            records = dated_records(per_file, when, seed=day * 100 + index, version=version)
            target = root / object_key(MODEL, version, when, f"req-{day}-{index}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(lines(records))
        written[day] = per_file * files_per_day
    return written
