"""A real bundle whose metadata carries a real reference profile (``contract/profile.py``), and a way to
send populations of synthetic applicants through the real handler so they land in the capture.

The profile describes the synthetic training rows and the class mix the model predicts on them.
``drift_bundle`` is a session fixture: import it into a test module to use it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import app
from credit_score.contract import fields as features
from credit_score.contract.bundle import Bundle
from credit_score.runtime.config import Settings
from tests.support.bundles import rule_label, synthetic_records, write_model_bundle
from tests.support.lambda_context import LambdaContext

TRAINING_ROWS = 3_000
SEED = 11


def build_drift_bundle(target: Path, *, name: str = "credit-score-classifier", version: str = "3") -> Bundle:
    """A bundle whose reference profile describes the synthetic population ``population`` draws from."""
    parsed = []
    for record in synthetic_records(TRAINING_ROWS, seed=SEED):
        values, problems = features.parse_record(record)
        assert not problems
        parsed.append(values)
    labels = [rule_label(values) for values in parsed]
    return write_model_bundle(
        target,
        parsed,
        labels,
        name=name,
        version=version,
        alias="champion",
        trees=20,
        depth=6,
        source="synthetic",
        seed=SEED,
    )


_BUILT: dict[str, Path] = {}


@pytest.fixture(scope="session")
def drift_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "drift" not in _BUILT:
        _BUILT["drift"] = build_drift_bundle(tmp_path_factory.mktemp("drift-bundle") / "model").path
    return _BUILT["drift"]


def population(count: int, seed: int, shift: Callable[[dict[str, str]], None] | None = None) -> list[dict[str, str]]:
    """``count`` applicants of the training distribution, each passed through ``shift`` when given."""
    records = synthetic_records(count, seed=seed)
    if shift is not None:
        for record in records:
            shift(record)
    return records


def predict_through_handler(
    records: Sequence[dict[str, Any]], *, model_dir: Path, capture: str, batch: int = 250
) -> list[dict[str, Any]]:
    """POST ``records`` in batches to ``app.handler`` (a fresh container capturing to ``capture``)."""
    app.init(Settings.from_env({}, model_dir=model_dir, capture_uri=capture, metrics_enabled=False))
    bodies = []
    try:
        for start in range(0, len(records), batch):
            event = {"data": list(records[start : start + batch])}
            response = app.handler(event, LambdaContext(f"req-{start:06d}"))
            assert response["statusCode"] == 200, response
            bodies.append(json.loads(response["body"]))
    finally:
        app._service = None
    return bodies
