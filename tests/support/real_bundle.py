"""A bundle trained on the shared Kaggle rows (read from ../shared, never copied here), missing values and all.

The tiny synthetic bundles see only the training gaps the fit adds at random; this one is fitted on the
real rows the training path cleans (junk → missing, so the data's own missing values), with the
project's monotone recipe, fewer rounds, and off-grid-looking cut-offs, and ships the explainer tables
like the downloader does. ``real_bundle`` is a session fixture (skipped when the shared file is absent).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from credit_score.contract import fields
from credit_score.contract.bundle import EXPLAINER_FILE, INPUT_NAME, Bundle, classes_metadata, write_bundle
from tests.support.paths import REAL_DATA

THRESHOLDS = (0.57, 0.39)
ROUNDS = (40, 30)


@dataclass(frozen=True)
class RealBundle:
    bundle: Bundle
    cascade: Any  # credit_score.modelling.artifacts.Cascade, the LightGBM boosters the bundle was made from


def real_requests(count: int, *, skip: int = 0) -> list[dict[str, str]]:
    """Real rows the API accepts as they are, every value a string as the seed's clients send them."""
    records: list[dict[str, str]] = []
    with REAL_DATA.open(newline="", encoding="utf-8") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            if index < skip:
                continue
            record = {f.name: row[f.name] for f in fields.FIELDS}
            if not fields.parse_record(record)[1]:
                records.append(record)
                if len(records) == count:
                    break
    return records


def build_real_bundle(target: Path) -> RealBundle:
    from credit_score.modelling.artifacts import Cascade
    from credit_score.modelling.conversion import to_onnx
    from credit_score.modelling.explainer import build_tables
    from credit_score.modelling.training.cascade import MONOTONE, booster_params, fit_boosters
    from credit_score.modelling.training.data import read_raw_csv, to_dataset

    data = to_dataset(read_raw_csv(REAL_DATA))
    assert np.isnan(data.features).any(), "the real rows must carry missing values"
    cascade = Cascade(fit_boosters(data.features, data.labels, booster_params(5), ROUNDS), THRESHOLDS, MONOTONE)
    now = datetime.now(UTC).isoformat()
    metadata = {
        "model": {"name": "credit-score-classifier", "version": "11", "alias": "champion", "run_id": "run-11"},
        "created_at": now,
        "downloaded_at": now,
        "classes": classes_metadata(),
        "input": {"name": INPUT_NAME, "feature_names": list(fields.FEATURE_NAMES), "fields": fields.schema()},
        "monotone_features": cascade.monotone_directions(),
        "thresholds": {"t1": THRESHOLDS[0], "t2": THRESHOLDS[1]},
    }
    tables = build_tables(cascade.boosters)
    bundle = write_bundle(target, to_onnx(cascade), metadata, extra_files={EXPLAINER_FILE: tables})
    return RealBundle(bundle, cascade)


_BUILT: dict[str, RealBundle] = {}


@pytest.fixture(scope="session")
def real_bundle(tmp_path_factory: pytest.TempPathFactory) -> RealBundle:
    if not REAL_DATA.is_file():
        pytest.skip(f"real data not found at {REAL_DATA}")
    if "real" not in _BUILT:
        _BUILT["real"] = build_real_bundle(tmp_path_factory.mktemp("real") / "model")
    return _BUILT["real"]
