"""Training end to end: raw rows → split → fit → step test → evaluate → MLflow run → registered version → gate."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from credit_score.contract.bundle import CLASSES
from credit_score.contract.fields import FIELDS, parse_record
from credit_score.contract.profile import reference_profile
from credit_score.modelling import registry as registries
from credit_score.modelling.training import register, synthetic
from credit_score.modelling.training.cascade import (
    ROUNDS,
    THRESHOLD_FOLDS,
    booster_params,
    fit_cascade,
    logged_params,
)
from credit_score.modelling.training.data import (
    DEFAULT_EVAL_FRACTION,
    DEFAULT_SEED,
    DataError,
    clean_records,
    split,
    to_dataset,
)
from credit_score.modelling.training.evaluate import classification_metrics, confusion
from credit_score.modelling.training.fairness import training_fairness
from credit_score.modelling.training.monotonicity import prove_trees, require_monotone, require_proven, step_test
from credit_score.modelling.training.tracking import EXAMPLE_ROWS, RunContent, log_training_run, parity_rows

DEFAULT_EXPERIMENT = "credit-score"
# Progress lines (rows, boosters, step test, registration) at INFO: the CLI shows its package's, a caller may not.
progress = logging.getLogger(__name__)


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


def example_records(frame: pd.DataFrame, rows: int = EXAMPLE_ROWS) -> list[dict[str, str]]:
    """A few raw rows the API accepts, as the seed's clients send them (every value a string).

    The registered pyfunc's input example: rows the strict parser refuses (the raw file's junk) are skipped.
    """
    chosen: list[dict[str, str]] = []
    for record in clean_records(frame.head(2_000)):
        text = {f.name: _as_text(record[f.name]) for f in FIELDS}
        if all(value is not None for value in text.values()) and not parse_record(text)[1]:
            chosen.append(text)  # type: ignore[arg-type]
            if len(chosen) == rows:
                break
    if not chosen:
        raise DataError("no row is a complete, valid applicant; cannot build the model's input example")
    return chosen


def _as_text(value: float | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return f"{value:.15g}"


def train(
    data: pd.DataFrame | None = None,
    synthetic_rows: int | None = None,
    *,
    model_name: str | None = None,
    tracking_uri: str | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    seed: int = DEFAULT_SEED,
    eval_fraction: float = DEFAULT_EVAL_FRACTION,
    force_champion: bool = False,
    data_label: str | None = None,
    booster_overrides: dict[str, Any] | None = None,
    rounds: tuple[int, int] = ROUNDS,
) -> TrainResult:
    """Train on ``data`` (raw Kaggle-schema text rows) or on ``synthetic_rows`` generated ones.

    ``booster_overrides`` and ``rounds`` change the LightGBM defaults (tests train tiny cascades).
    A model that fails the step test or the per-tree proof raises :class:`MonotonicityError` before
    anything is logged.
    """
    if (data is None) == (synthetic_rows is None):
        raise DataError("give either raw data or a number of synthetic rows")
    frame = synthetic.generate(synthetic_rows, seed) if data is None else data
    dataset = to_dataset(frame)
    training, evaluation = split(dataset, eval_fraction, seed)
    progress.info(
        "rows: %d read, %d dropped; %d for training, %d held out (by customer)",
        len(dataset) + dataset.dropped_rows,
        dataset.dropped_rows,
        len(training),
        len(evaluation),
    )
    missing = sorted(set(range(len(CLASSES))) - set(training.labels.tolist()))
    if missing:
        raise DataError(f"the training rows lack the classes {missing}; supply more rows")

    overrides = booster_overrides or {}
    boosters, started = 2 * (THRESHOLD_FOLDS + 1), time.monotonic()
    progress.info("fitting %d boosters (%d folds x 2 for the cut-offs, then 2 on every row)", boosters, THRESHOLD_FOLDS)
    cascade = fit_cascade(training.features, training.labels, training.groups, seed, rounds, **overrides)
    progress.info("fitted %d boosters in %.0f s", boosters, time.monotonic() - started)
    monotonicity = require_monotone(step_test(cascade, dataset.features))
    progress.info(
        "step test passed: %d checks on %d rows, no feature moves against its credit direction",
        monotonicity.checks,
        monotonicity.rows,
    )
    proof = require_proven(prove_trees(cascade))
    progress.info("proof passed: none of the %d trees moves a field against its credit direction", proof.trees)
    probabilities, predicted = cascade.probabilities(evaluation.features), cascade.labels(evaluation.features)
    metrics = {
        **classification_metrics(evaluation.labels, probabilities, predicted),
        "eval_rows": len(evaluation),
        "train_rows": len(training),
    }
    name = model_name_from(model_name)
    params = {
        **logged_params(booster_params(seed, **overrides), rounds, cascade),
        "data": data_label or ("synthetic" if data is None else "dataframe"),
        "synthetic_rows": synthetic_rows or 0,
        "rows": len(dataset),
        "dropped_rows": dataset.dropped_rows,
        "seed": seed,
        "eval_fraction": eval_fraction,
    }
    content = RunContent(
        cascade=cascade,
        params=params,
        metrics=metrics,
        confusion=confusion(evaluation.labels, predicted),
        reference_profile=reference_profile(
            training.fields, cascade.labels(training.features), cascade.probabilities(training.features)
        ),
        parity_sample=parity_rows(dataset.features, seed),
        example=example_records(frame),
        monotonicity={**monotonicity.as_metadata(), "trees_proven": proof.trees},
        fairness=training_fairness(frame, evaluation, predicted, probabilities),
        tags={"model_name": name, "data": params["data"]},
    )

    from mlflow import MlflowClient

    registry = registries.connect(tracking_uri)
    progress.info("logging the run to %s", registry.display_uri)
    run = log_training_run(registry, experiment, content)
    client = MlflowClient()
    version_tags = {key: str(metrics[key]) for key in ("macro_f1", "weighted_roc_auc", "accuracy") if key in metrics}
    version = str(register.register_version(client, name, run.model_source, run.run_id, version_tags).version)
    progress.info("registered '%s' version %s", name, version)
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
