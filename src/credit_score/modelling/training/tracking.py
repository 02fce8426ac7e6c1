"""One MLflow run per training: parameters, metrics, the cascade, the pyfunc, and the files the downloader needs.

The artifact layout is defined once, in ``credit_score.modelling.artifacts``. The model is written with
``save_model`` and uploaded with ``log_artifacts`` rather than ``log_model``: MLflow 2.x servers
(DagsHub) lack MLflow 3's logged-model endpoints.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from credit_score.modelling import artifacts
from credit_score.modelling.artifacts import Cascade, save_cascade
from credit_score.modelling.registry import Registry

PARITY_ROWS = 2000
EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    model_source: str


@dataclass(frozen=True)
class RunContent:
    """Everything one training run records; ``example`` are raw records (strings) for the pyfunc."""

    cascade: Cascade
    params: dict[str, Any]
    metrics: dict[str, float]
    confusion: dict[str, Any]
    reference_profile: dict[str, Any]
    parity_sample: np.ndarray
    example: list[dict[str, str]]
    monotonicity: dict[str, Any]
    tags: dict[str, str]
    fairness: dict[str, Any] | None = None  # contract/fairness.py table of the evaluation rows


def artifact_location(registry: Registry) -> str | None:
    """Where a new experiment keeps its artifacts: the registry's choice, else beside a sqlite file.

    MLflow would otherwise put a sqlite store's artifacts in ``./mlruns`` of whatever the current
    directory is. Servers (``None``) choose for themselves.
    """
    if registry.artifact_location or not registry.tracking_uri.startswith("sqlite:///"):
        return registry.artifact_location
    database = Path(registry.tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])
    return (database.resolve().parent / "artifacts").as_uri()


def experiment_id(registry: Registry, name: str) -> str:
    """The experiment's id, created on first use with :func:`artifact_location`."""
    import mlflow

    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    return mlflow.create_experiment(name, artifact_location=artifact_location(registry))


def parity_rows(features: np.ndarray, seed: int, rows: int = PARITY_ROWS) -> np.ndarray:
    """Up to ``rows`` encoded rows drawn at random, so that what the downloader measures on them (the
    reference reason-code mix) describes the training population. Parity must also cross the
    missing-value paths: when fewer than a quarter of the drawn rows have a gap (an Unknown credit mix
    or NM payment counts), incomplete rows make up that quarter first."""
    order = np.random.default_rng(seed).permutation(len(features))
    incomplete = np.isnan(features[order]).any(axis=1)
    if incomplete[:rows].sum() >= min(rows, len(order)) // 4:
        chosen = order[:rows]
    else:
        gaps = order[incomplete]
        chosen = np.concatenate([gaps[: rows // 4], order[~incomplete], gaps[rows // 4 :]])[:rows]
    return np.ascontiguousarray(features[np.sort(chosen)], dtype=np.float32)


def _confusion_png(confusion: dict[str, Any], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4.5, 4))
    matrix = np.asarray(confusion["matrix"])
    axes.imshow(matrix, cmap="Blues")
    labels = confusion["labels"]
    axes.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
        xlabel="predicted",
        ylabel="true",
        title="Evaluation rows",
    )
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(
            column, row, str(count), ha="center", va="center", color="white" if count > matrix.max() / 2 else "black"
        )
    figure.tight_layout()
    figure.savefig(target, dpi=100)
    plt.close(figure)


def log_training_run(registry: Registry, experiment: str, content: RunContent) -> LoggedRun:
    """Record one training run; return its id and the artifact URI of its registered model."""
    import mlflow

    from credit_score.modelling.training.pyfunc import save_pyfunc

    with (
        mlflow.start_run(experiment_id=experiment_id(registry, experiment), tags=content.tags) as run,
        tempfile.TemporaryDirectory(prefix="training-run-") as scratch,
    ):
        folder = Path(scratch)
        mlflow.log_params(content.params)
        mlflow.log_metrics(content.metrics)
        cascade_dir = save_cascade(content.cascade, folder / "cascade")
        mlflow.log_artifacts(str(cascade_dir))
        save_pyfunc(folder / artifacts.MODEL_ARTIFACT, cascade_dir, content.example)
        mlflow.log_artifacts(str(folder / artifacts.MODEL_ARTIFACT), artifact_path=artifacts.MODEL_ARTIFACT)
        (folder / artifacts.RUN_BUNDLE_DIR).mkdir()
        documents = {
            artifacts.METRICS_FILE: content.metrics,
            artifacts.REFERENCE_PROFILE_FILE: content.reference_profile,
            artifacts.MONOTONICITY_FILE: content.monotonicity,
        }
        if content.fairness is not None:
            from credit_score.modelling.training.fairness import fairness_metrics

            documents[artifacts.FAIRNESS_FILE] = content.fairness
            mlflow.log_metrics(fairness_metrics(content.fairness))
        for name, document in documents.items():
            (folder / name).write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
        np.save(folder / artifacts.PARITY_SAMPLE_FILE, content.parity_sample)
        mlflow.log_artifacts(str(folder / artifacts.RUN_BUNDLE_DIR), artifact_path=artifacts.RUN_BUNDLE_DIR)
        (folder / artifacts.CONFUSION_JSON).write_text(json.dumps(content.confusion, indent=2), encoding="utf-8")
        _confusion_png(content.confusion, folder / artifacts.CONFUSION_PNG)
        mlflow.log_artifact(str(folder / artifacts.CONFUSION_JSON))
        mlflow.log_artifact(str(folder / artifacts.CONFUSION_PNG))
        return LoggedRun(run.info.run_id, f"{run.info.artifact_uri.rstrip('/')}/{artifacts.MODEL_ARTIFACT}")
