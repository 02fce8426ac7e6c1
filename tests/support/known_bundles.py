"""Bundles as the downloader writes them for a rollout: explainer tables and the known-answer set.

Two different models of the same contract (different training seeds) stand for a champion and a
challenger, or for the right and a wrong bundle of one version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from credit_score.contract import fields
from credit_score.contract.bundle import EXPLAINER_FILE, INPUT_NAME, Bundle, classes_metadata, write_bundle
from credit_score.contract.known_answers import KNOWN_ANSWERS_FILE
from tests.support.bundles import rule_label, synthetic_records

KNOWN_COUNT = 32


@dataclass(frozen=True)
class KnownBundle:
    bundle: Bundle
    cascade: Any  # credit_score.modelling.artifacts.Cascade
    matrix: np.ndarray


def build_known_bundle(
    target: Path, *, seed: int, version: str, alias: str = "champion", rows: int = 1_500, rounds: int = 30
) -> KnownBundle:
    """A monotone cascade on synthetic applicants (``seed`` picks both the rows and the trees)."""
    from credit_score.modelling import known_answers
    from credit_score.modelling.artifacts import Cascade
    from credit_score.modelling.conversion import to_onnx
    from credit_score.modelling.explainer import build_tables
    from credit_score.modelling.training.cascade import MONOTONE, booster_params, fit_boosters

    parsed = [fields.parse_record(record)[0] for record in synthetic_records(rows, seed=seed)]
    matrix = fields.encode(parsed)
    labels = np.array([rule_label(values) for values in parsed])
    params = booster_params(seed, min_data_in_leaf=5, learning_rate=0.3)
    cascade = Cascade(fit_boosters(matrix, labels, params, (rounds, rounds)), (0.5, 0.5), MONOTONE)
    now = datetime.now(UTC).isoformat()
    metadata = {
        "model": {"name": "credit-score-classifier", "version": version, "alias": alias, "run_id": f"run-{seed}"},
        "created_at": now,
        "downloaded_at": now,
        "classes": classes_metadata(),
        "input": {"name": INPUT_NAME, "feature_names": list(fields.FEATURE_NAMES), "fields": fields.schema()},
        "monotone_features": cascade.monotone_directions(),
        "thresholds": {"t1": 0.5, "t2": 0.5},
    }
    extra = {
        EXPLAINER_FILE: build_tables(cascade.boosters),
        KNOWN_ANSWERS_FILE: known_answers.build(cascade, matrix, KNOWN_COUNT),
    }
    return KnownBundle(write_bundle(target, to_onnx(cascade), metadata, extra_files=extra), cascade, matrix)


_BUILT: dict[str, KnownBundle] = {}


def _cached(key: str, factory: pytest.TempPathFactory, **options: Any) -> KnownBundle:
    if key not in _BUILT:
        _BUILT[key] = build_known_bundle(factory.mktemp(key) / "model", **options)
    return _BUILT[key]


@pytest.fixture(scope="session")
def champion_bundle(tmp_path_factory: pytest.TempPathFactory) -> KnownBundle:
    return _cached("champion", tmp_path_factory, seed=7, version="7")


@pytest.fixture(scope="session")
def challenger_bundle(tmp_path_factory: pytest.TempPathFactory) -> KnownBundle:
    """Another model (other rows, other trees), registered as version 8 under the challenger alias."""
    return _cached("challenger", tmp_path_factory, seed=11, version="8", alias="challenger")
