"""Training end to end: raw rows → split → fit → evaluate → MLflow run → registered version → gate."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from credit_score.build import registry as registries
from credit_score.build.training import register, synthetic
from credit_score.build.training.data import DataError, split, to_dataset
from credit_score.build.training.evaluate import classification_metrics, confusion
from credit_score.build.training.pipeline import build_pipeline, logged_params
from credit_score.build.training.tracking import EXAMPLE_ROWS, RunContent, log_training_run, parity_rows
from credit_score.contract.bundle import CLASSES
from credit_score.contract.profile import reference_profile

DEFAULT_EXPERIMENT = "credit-score"


@dataclass(frozen=True)
class TrainResult:
    model_name: str
    run_id: str
    version: str
    became_champion: bool
    decision: str
    metrics: dict[str, float]
    champion_version: str | None = None
    champion_macro_f1: float | None = None
    params: dict[str, Any] = field(default_factory=dict)


def model_name_from(flag: str | None, environ: os._Environ[str] | dict[str, str] | None = None) -> str:
    """The flag wins, then ``MODEL_NAME``, then the default name."""
    env = os.environ if environ is None else environ
    return flag or env.get(registries.MODEL_NAME) or registries.DEFAULT_MODEL_NAME


def has_champion(model_name: str, tracking_uri: str | None = None) -> bool:
    """Whether the registry already serves a version of ``model_name`` (``--skip-if-registered``)."""
    from mlflow import MlflowClient

    registries.connect(tracking_uri)
    return register.current_champion(MlflowClient(), model_name) is not None


def _example_rows(features: np.ndarray) -> np.ndarray:
    """A few rows for the MLflow input example, one with a missing value when there is such a row."""
    incomplete = np.flatnonzero(np.isnan(features).any(axis=1))[:1]
    complete = np.flatnonzero(~np.isnan(features).any(axis=1))[: EXAMPLE_ROWS - len(incomplete)]
    return features[np.sort(np.concatenate([complete, incomplete]))]


def train(
    data: pd.DataFrame | None = None,
    synthetic_rows: int | None = None,
    *,
    model_name: str | None = None,
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    seed: int = 42,
    eval_fraction: float = 0.2,
    force_champion: bool = False,
    data_label: str | None = None,
    classifier_params: dict[str, Any] | None = None,
) -> TrainResult:
    """Train on ``data`` (raw Kaggle-schema text rows) or on ``synthetic_rows`` generated ones.

    ``classifier_params`` override the forest's defaults (tests train tiny forests).
    """
    if (data is None) == (synthetic_rows is None):
        raise DataError("give either raw data or a number of synthetic rows")
    frame = synthetic.generate(synthetic_rows, seed) if data is None else data
    dataset = to_dataset(frame)
    training, evaluation = split(dataset, eval_fraction, seed)
    missing = sorted(set(range(len(CLASSES))) - set(training.labels.tolist()))
    if missing:
        raise DataError(f"the training rows lack the classes {missing}; supply more rows")

    pipeline = build_pipeline(seed, **(classifier_params or {})).fit(training.features, training.labels)
    probabilities = pipeline.predict_proba(evaluation.features)
    predicted = probabilities.argmax(axis=1)
    metrics = {
        **classification_metrics(evaluation.labels, probabilities),
        "eval_rows": len(evaluation),
        "train_rows": len(training),
    }
    name = model_name_from(model_name)
    params = {
        **logged_params(pipeline),
        "data": data_label or ("synthetic" if data is None else "dataframe"),
        "synthetic_rows": synthetic_rows or 0,
        "rows": len(dataset),
        "dropped_rows": dataset.dropped_rows,
        "seed": seed,
        "eval_fraction": eval_fraction,
    }
    content = RunContent(
        pipeline=pipeline,
        params=params,
        metrics=metrics,
        confusion=confusion(evaluation.labels, predicted),
        reference_profile=reference_profile(training.features, predicted),
        parity_sample=parity_rows(dataset.features, seed),
        example=_example_rows(training.features),
        tags={"model_name": name, "data": params["data"]},
    )

    from mlflow import MlflowClient

    registry = registries.connect(tracking_uri)
    run = log_training_run(registry, experiment, content)
    client = MlflowClient()
    version_tags = {key: str(metrics[key]) for key in ("macro_f1", "weighted_roc_auc", "accuracy") if key in metrics}
    version = str(register.register_version(client, name, run.model_source, run.run_id, version_tags).version)
    decision = register.decide(
        client, name, version, metrics["macro_f1"], evaluation.features, evaluation.labels, force=force_champion
    )
    register.apply(client, name, version, decision)
    return TrainResult(
        model_name=name,
        run_id=run.run_id,
        version=version,
        became_champion=decision.became_champion,
        decision=decision.message,
        metrics=metrics,
        champion_version=decision.champion_version,
        champion_macro_f1=decision.champion_macro_f1,
        params=params,
    )
