"""Register a tiny model the way the training package does, so downloader tests need no training code.

The contract mirrored here: the sklearn Pipeline (imputer + classifier, classes coded 0/1/2) is
saved with ``mlflow.sklearn.save_model`` (with an input example), uploaded as run artifacts under
``model/``, registered with ``create_model_version(source=<run artifact uri>/model)`` and given an
alias; the run also carries ``bundle/reference_profile.json``, ``bundle/metrics.json`` and
``bundle/parity_sample.npy``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

from credit_score.contract.fields import CATEGORICAL_FIELDS, FEATURE_NAMES, NUMERIC_FIELDS

PARITY_ROWS = 1200
# What skops must be told to trust to load a fitted forest; the registry is ours.
TRUSTED_TYPES = ["numpy.dtype", "sklearn.tree._tree.Tree"]
REFERENCE_PROFILE = {"rows": 600, "numeric": {"Age": {"mean": 57.0, "quantiles": [14.0, 57.0, 100.0]}}}
METRICS = {"macro_f1": 0.5, "weighted_roc_auc": 0.6}


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    source: str


def random_encoded_rows(rows: int, seed: int) -> np.ndarray:
    """Rows shaped like ``features.encode`` output: numbers inside their domains with ~5% NaN, then one-hot."""
    rng = np.random.default_rng(seed)
    matrix = np.zeros((rows, len(FEATURE_NAMES)), dtype=np.float32)
    for column, field in enumerate(NUMERIC_FIELDS):
        values = rng.uniform(field.minimum, field.maximum, rows)
        matrix[:, column] = np.round(values) if field.integer else values
    matrix[:, : len(NUMERIC_FIELDS)][rng.random((rows, len(NUMERIC_FIELDS))) < 0.05] = np.nan
    column = len(NUMERIC_FIELDS)
    for field in CATEGORICAL_FIELDS:
        levels = len(field.levels)
        matrix[np.arange(rows), column + rng.integers(0, levels, rows)] = 1.0
        column += levels
    return matrix


def train_pipeline(seed: int = 0, rows: int = 600, trees: int = 5) -> Pipeline:
    """A small imputer + random forest whose classes are the codes 0, 1, 2."""
    features = random_encoded_rows(rows, seed)
    # A learnable label: Age (the first column) split in thirds, with 10% of labels redrawn at random.
    rng = np.random.default_rng(seed)
    labels = np.digitize(np.nan_to_num(features[:, 0], nan=50.0), [40.0, 70.0])
    labels = np.where(rng.random(rows) < 0.1, rng.integers(0, 3, rows), labels)
    pipeline = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("classify", RandomForestClassifier(n_estimators=trees, max_depth=6, random_state=seed)),
        ]
    )
    return pipeline.fit(features, labels)


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
    import mlflow.sklearn
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
        model_dir = Path(scratch) / "model"
        mlflow.sklearn.save_model(
            train_pipeline(seed),
            str(model_dir),
            input_example=random_encoded_rows(3, seed + 1),
            pip_requirements=["scikit-learn"],  # skips the slow requirement inference
            skops_trusted_types=TRUSTED_TYPES,
        )
        client.log_artifacts(run.info.run_id, str(model_dir), artifact_path="model")
        bundle_dir = Path(scratch) / "bundle"
        bundle_dir.mkdir()
        (bundle_dir / "reference_profile.json").write_text(json.dumps(REFERENCE_PROFILE), encoding="utf-8")
        (bundle_dir / "metrics.json").write_text(json.dumps(METRICS), encoding="utf-8")
        if log_parity_sample:
            np.save(bundle_dir / "parity_sample.npy", random_encoded_rows(parity_rows, seed + 2))
        client.log_artifacts(run.info.run_id, str(bundle_dir), artifact_path="bundle")
    client.set_terminated(run.info.run_id)
    source = f"{run.info.artifact_uri}/model"
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(name, source=source, run_id=run.info.run_id)
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    return RegisteredVersion(name, str(version.version), run.info.run_id, source)
