"""Register a tiny cascade the way the training package does, so downloader tests need no training run.

The contract mirrored here is the run layout of ``credit_score.modelling.artifacts``: the two boosters
and ``cascade.json`` at the run's root, the raw-field pyfunc under ``model/`` (registered with
``create_model_version(source=<run artifact uri>/model)`` and given an alias), and
``bundle/reference_profile.json``, ``bundle/metrics.json``, ``bundle/monotonicity.json`` and
``bundle/parity_sample.npy``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from credit_score.contract.fields import FEATURE_NAMES, FIELDS_BY_NAME, ORDERED_LEVELS
from credit_score.modelling import artifacts
from credit_score.modelling.artifacts import Cascade, save_cascade
from credit_score.modelling.training.cascade import MONOTONE, booster_params, fit_boosters
from credit_score.modelling.training.pyfunc import save_pyfunc
from tests.support.bundles import synthetic_records

PARITY_ROWS = 1200
MONOTONICITY = {"rows": 1200, "checks": 14400, "violations": {}}
REFERENCE_PROFILE = {"rows": 600, "numeric": {"Age": {"mean": 57.0, "quantiles": [14.0, 57.0, 100.0]}}}
METRICS = {"macro_f1": 0.5, "weighted_roc_auc": 0.6}


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    source: str


def random_encoded_rows(rows: int, seed: int) -> np.ndarray:
    """Rows shaped like ``features.encode`` output: numbers inside their domains, ranks of the ordered
    categories, ~5% NaN (missing) everywhere."""
    rng = np.random.default_rng(seed)
    matrix = np.zeros((rows, len(FEATURE_NAMES)), dtype=np.float32)
    for column, name in enumerate(FEATURE_NAMES):
        if name in ORDERED_LEVELS:
            matrix[:, column] = rng.integers(0, len(ORDERED_LEVELS[name]), rows)
            continue
        field = FIELDS_BY_NAME[name]
        values = rng.uniform(field.minimum, field.maximum, rows)
        matrix[:, column] = np.round(values) if field.integer else values
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    return matrix


def train_cascade(seed: int = 0, rows: int = 600, rounds: int = 5) -> Cascade:
    """A small cascade whose labels follow Annual_Income (the first column) in thirds, 10% redrawn at random."""
    features = random_encoded_rows(rows, seed)
    rng = np.random.default_rng(seed)
    labels = np.digitize(np.nan_to_num(features[:, 0], nan=500_000.0), [333_000.0, 667_000.0])
    labels = np.where(rng.random(rows) < 0.1, rng.integers(0, 3, rows), labels)
    params = booster_params(seed, max_depth=3, num_leaves=8, min_data_in_leaf=10)
    return Cascade(fit_boosters(features, labels, params, (rounds, rounds)), (0.5, 0.5), MONOTONE)


def register_model(
    tracking_uri: str,
    name: str,
    *,
    alias: str | None = "champion",
    seed: int = 0,
    parity_rows: int = PARITY_ROWS,
    log_parity_sample: bool = True,
    artifact_location: str | None = None,
) -> RegisteredVersion:
    """Train, log and register one version of ``name`` at ``tracking_uri``, leaving MLflow's globals alone.

    ``artifact_location`` matters for a sqlite registry (``Registry.artifact_location``); a server
    stores artifacts itself.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name(f"{name}-training")
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment(f"{name}-training", artifact_location=artifact_location)
    )
    run = client.create_run(experiment_id)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        cascade_dir = save_cascade(train_cascade(seed), folder / "cascade")
        client.log_artifacts(run.info.run_id, str(cascade_dir))
        save_pyfunc(folder / "model", cascade_dir, synthetic_records(2, seed))
        client.log_artifacts(run.info.run_id, str(folder / "model"), artifact_path=artifacts.MODEL_ARTIFACT)
        (folder / artifacts.RUN_BUNDLE_DIR).mkdir()
        for path, document in (
            (artifacts.REFERENCE_PROFILE_FILE, REFERENCE_PROFILE),
            (artifacts.METRICS_FILE, METRICS),
            (artifacts.MONOTONICITY_FILE, MONOTONICITY),
        ):
            (folder / path).write_text(json.dumps(document), encoding="utf-8")
        if log_parity_sample:
            np.save(folder / artifacts.PARITY_SAMPLE_FILE, random_encoded_rows(parity_rows, seed + 2))
        bundle_dir = artifacts.RUN_BUNDLE_DIR
        client.log_artifacts(run.info.run_id, str(folder / bundle_dir), artifact_path=bundle_dir)
    client.set_terminated(run.info.run_id)
    source = f"{run.info.artifact_uri}/model"
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(name, source=source, run_id=run.info.run_id)
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    return RegisteredVersion(name, str(version.version), run.info.run_id, source)
