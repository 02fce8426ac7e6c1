"""One MLflow run per training: parameters, metrics, the model, and the files the downloader needs.

Run artifacts::

    model/                          mlflow.sklearn flavour (skops), signature + input example
    confusion_matrix.json, .png     evaluation rows: true classes (rows) by predicted (columns)
    bundle/metrics.json             the evaluation metrics (flat names, see evaluate.py)
    bundle/reference_profile.json   training-data profile for drift (format in profile.py)
    bundle/parity_sample.npy        float32 encoded rows (NaN kept) for the ONNX parity check

The model is written with ``save_model`` and uploaded with ``log_artifacts`` rather than
``log_model``: MLflow 2.x servers (DagsHub) lack MLflow 3's logged-model endpoints.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit_score.build.registry import Registry
from credit_score.contract.fields import FEATURE_NAMES

MODEL_ARTIFACT = "model"
BUNDLE_ARTIFACT = "bundle"
PARITY_ROWS = 2000
EXAMPLE_ROWS = 5


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    model_source: str


@dataclass(frozen=True)
class RunContent:
    """Everything one training run records."""

    pipeline: Any
    params: dict[str, Any]
    metrics: dict[str, float]
    confusion: dict[str, Any]
    reference_profile: dict[str, Any]
    parity_sample: np.ndarray
    example: np.ndarray
    tags: dict[str, str]


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
    """Up to ``rows`` encoded rows, with every row that has a missing value first in line."""
    order = np.random.default_rng(seed).permutation(len(features))
    incomplete = np.isnan(features[order]).any(axis=1)
    chosen = np.concatenate([order[incomplete][: rows // 4], order[~incomplete]])[:rows]
    return np.ascontiguousarray(features[np.sort(chosen)], dtype=np.float32)


def _save_model(pipeline: Any, target: Path, example: np.ndarray) -> None:
    import mlflow.sklearn
    import sklearn
    import skops
    import skops.io
    from mlflow.models import infer_signature

    frame = pd.DataFrame(example.astype(np.float64), columns=list(FEATURE_NAMES))
    mlflow.sklearn.save_model(
        pipeline,
        str(target),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(pipeline)),
        signature=infer_signature(frame, pipeline.predict(example)),
        input_example=frame,
        # Explicit requirements: inferring them re-imports the model in a subprocess, slowly.
        pip_requirements=[
            f"scikit-learn=={sklearn.__version__}",
            f"skops=={skops.__version__}",
            f"numpy=={np.__version__}",
            f"pandas=={pd.__version__}",
        ],
    )


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
    """Record one training run; return its id and the artifact URI of its model."""
    import mlflow

    with (
        mlflow.start_run(experiment_id=experiment_id(registry, experiment), tags=content.tags) as run,
        tempfile.TemporaryDirectory(prefix="training-run-") as scratch,
    ):
        folder = Path(scratch)
        mlflow.log_params(content.params)
        mlflow.log_metrics(content.metrics)
        _save_model(content.pipeline, folder / MODEL_ARTIFACT, content.example)
        mlflow.log_artifacts(str(folder / MODEL_ARTIFACT), artifact_path=MODEL_ARTIFACT)
        bundle = folder / BUNDLE_ARTIFACT
        bundle.mkdir()
        (bundle / "metrics.json").write_text(json.dumps(content.metrics, indent=2, sort_keys=True), encoding="utf-8")
        (bundle / "reference_profile.json").write_text(
            json.dumps(content.reference_profile, indent=1), encoding="utf-8"
        )
        np.save(bundle / "parity_sample.npy", content.parity_sample)
        mlflow.log_artifacts(str(bundle), artifact_path=BUNDLE_ARTIFACT)
        (folder / "confusion_matrix.json").write_text(json.dumps(content.confusion, indent=2), encoding="utf-8")
        _confusion_png(content.confusion, folder / "confusion_matrix.png")
        mlflow.log_artifact(str(folder / "confusion_matrix.json"))
        mlflow.log_artifact(str(folder / "confusion_matrix.png"))
        return LoggedRun(run.info.run_id, f"{run.info.artifact_uri.rstrip('/')}/{MODEL_ARTIFACT}")
