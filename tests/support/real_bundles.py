"""A bundle trained on the shared real rows, and their held-out applicants sent through the real handler.

The cascade is fitted on the training split of ``credit_score_august.csv`` (the seed-42 split training
uses) with the production rounds (fewer leave it underconfident), converted to ONNX as the downloader
does, and written with a reference profile. ``held_out`` are the evaluation rows the strict parser
accepts, as the API receives them (the 21 fields as text) with their true classes. Session fixture:
import it to use it.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import app
from credit_score.contract import fields as features
from credit_score.contract.bundle import INPUT_NAME, classes_metadata, write_bundle
from credit_score.contract.profile import reference_profile
from credit_score.runtime.config import Settings
from tests.support.lambda_context import LambdaContext
from tests.support.paths import REAL_DATA

SEED = 42


@dataclass(frozen=True)
class RealBundle:
    path: Path
    held_out: pd.DataFrame  # raw rows (text) of the evaluation split the API accepts, with Credit_Score
    cascade: object
    eval_features: np.ndarray
    eval_labels: np.ndarray


def _accepted(frame: pd.DataFrame) -> pd.DataFrame:
    names = [f.name for f in features.FIELDS]
    keep = [not features.parse_record(dict(zip(names, row, strict=True)))[1] for row in frame[names].itertuples(False)]
    return frame.loc[keep]


def build_real_bundle(target: Path, *, version: str = "5") -> RealBundle:
    from credit_score.modelling.conversion import to_onnx
    from credit_score.modelling.training.cascade import ROUNDS, fit_cascade
    from credit_score.modelling.training.data import CUSTOMER, read_raw_csv, split, to_dataset

    frame = read_raw_csv(REAL_DATA)
    training, evaluation = split(to_dataset(frame), 0.2, SEED)
    cascade = fit_cascade(training.features, training.labels, training.groups, SEED, ROUNDS)
    now = datetime.now(UTC).isoformat()
    metadata = {
        "model": {"name": "credit-score-classifier", "version": version, "alias": "champion", "run_id": "run-real"},
        "created_at": now,
        "downloaded_at": now,
        "classes": classes_metadata(),
        "input": {"name": INPUT_NAME, "feature_names": list(features.FEATURE_NAMES), "fields": features.schema()},
        "metrics": {},
        "reference_profile": reference_profile(
            training.fields, cascade.labels(training.features), cascade.probabilities(training.features)
        ),
        "monotone_features": cascade.monotone_directions(),
        "thresholds": {"t1": cascade.thresholds[0], "t2": cascade.thresholds[1]},
    }
    bundle = write_bundle(target, to_onnx(cascade), metadata)
    held_out = _accepted(frame[frame[CUSTOMER].isin(set(evaluation.groups))])
    return RealBundle(bundle.path, held_out, cascade, evaluation.features, evaluation.labels)


_BUILT: dict[str, RealBundle] = {}


@pytest.fixture(scope="session")
def real_bundle(tmp_path_factory: pytest.TempPathFactory) -> RealBundle:
    if not REAL_DATA.is_file():
        pytest.skip(f"real data set not found at {REAL_DATA} (../shared beside the repository)")
    if "real" not in _BUILT:
        _BUILT["real"] = build_real_bundle(tmp_path_factory.mktemp("real-bundle") / "model")
    return _BUILT["real"]


def send_one_by_one(frame: pd.DataFrame, *, model_dir: Path, capture: str) -> list[str]:
    """POST each row alone (as the API's clients do) to a fresh container; the answers' request ids."""
    names = [f.name for f in features.FIELDS]
    app.init(Settings.from_env({}, model_dir=model_dir, capture_uri=capture, metrics_enabled=False))
    ids = []
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for number, row in enumerate(frame[names].itertuples(False)):
                event = {"data": dict(zip(names, row, strict=True))}
                response = app.handler(event, LambdaContext(f"real-{number:06d}"))
                assert response["statusCode"] == 200, response
                ids.append(json.loads(response["body"])["request_id"])
    finally:
        app._service = None
    return ids
