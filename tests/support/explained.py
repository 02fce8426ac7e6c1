"""A real explained bundle for tests: the monotone cascade on synthetic applicants, its ONNX graph and
its reason-code tables, written the way the downloader writes them. ``explained`` is a session fixture."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from credit_score.contract import fields
from credit_score.contract.bundle import EXPLAINER_FILE, INPUT_NAME, Bundle, classes_metadata, write_bundle
from tests.support.bundles import rule_label, synthetic_records


@dataclass(frozen=True)
class Explained:
    bundle: Bundle
    cascade: Any  # credit_score.modelling.artifacts.Cascade
    matrix: np.ndarray  # the training rows, float32
    tables: bytes


def build_explained_bundle(target: Path, *, rows: int = 1_500, rounds: int = 30, seed: int = 7) -> Explained:
    """Depth-5 boosters of ``rounds`` trees each, thresholds 0.5: trained in about a second."""
    from credit_score.modelling.artifacts import Cascade
    from credit_score.modelling.conversion import to_onnx
    from credit_score.modelling.explainer import build_tables
    from credit_score.modelling.training.cascade import MONOTONE, booster_params, fit_boosters

    parsed = [fields.parse_record(record)[0] for record in synthetic_records(rows, seed=seed)]
    matrix = fields.encode(parsed)
    labels = np.array([rule_label(values) for values in parsed])
    params = booster_params(seed, min_data_in_leaf=5, learning_rate=0.3)
    cascade = Cascade(fit_boosters(matrix, labels, params, (rounds, rounds)), (0.5, 0.5), MONOTONE)
    tables = build_tables(cascade.boosters)
    now = datetime.now(UTC).isoformat()
    metadata = {
        "model": {"name": "credit-score-classifier", "version": "3", "alias": "champion", "run_id": "run-3"},
        "created_at": now,
        "downloaded_at": now,
        "classes": classes_metadata(),
        "input": {"name": INPUT_NAME, "feature_names": list(fields.FEATURE_NAMES), "fields": fields.schema()},
        "monotone_features": cascade.monotone_directions(),
        "thresholds": {"t1": 0.5, "t2": 0.5},
    }
    bundle = write_bundle(target, to_onnx(cascade), metadata, extra_files={EXPLAINER_FILE: tables})
    return Explained(bundle, cascade, matrix, tables)


_BUILT: dict[str, Explained] = {}


@pytest.fixture(scope="session")
def explained(tmp_path_factory: pytest.TempPathFactory) -> Explained:
    if "explained" not in _BUILT:
        _BUILT["explained"] = build_explained_bundle(tmp_path_factory.mktemp("explained") / "model")
    return _BUILT["explained"]
