"""Registering a trained version and the champion gate that decides whether it is served.

Only calls that MLflow 2.x servers (DagsHub runs 2.7.1) also answer are used: registered models,
model versions created from a run's artifact URI, aliases and tags; no logged-model endpoints.
The gate loads the current champion's cascade from its run and scores it, with its own thresholds,
on the new run's evaluation rows, so the two macro-F1 figures compare like with like. (The step
test that refuses a non-monotone model runs before anything is logged: see ``train``.) A champion that cannot be
scored is kept (a broken comparison must not silently replace the served model);
``force`` overrides the gate.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_score.modelling.artifacts import BOOSTERS_DIR, CASCADE_FILE, Cascade, load_cascade
from credit_score.modelling.training.evaluate import classification_metrics

CHAMPION_ALIAS = "champion"


@dataclass(frozen=True)
class Decision:
    became_champion: bool
    message: str
    champion_version: str | None = None
    champion_macro_f1: float | None = None


def registered_model(client: Any, name: str) -> Any | None:
    """The registered model ``name``, or ``None`` when the registry has no such model."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    try:
        return client.get_registered_model(name)
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise


def current_champion(client: Any, name: str) -> Any | None:
    """The model version carrying the champion alias, or ``None`` (no such model or alias)."""
    model = registered_model(client, name)
    version = None if model is None else (model.aliases or {}).get(CHAMPION_ALIAS)
    return None if version is None else client.get_model_version(name, str(version))


def register_version(client: Any, name: str, source: str, run_id: str, tags: dict[str, str]) -> Any:
    """A new version of ``name`` (created first if absent) pointing at the run's ``model`` artifacts."""
    if registered_model(client, name) is None:
        client.create_registered_model(name, description="Credit score class (Poor, Standard, Good) of an applicant")
    return client.create_model_version(name, source=source, run_id=run_id, tags=tags)


def load_version_cascade(client: Any, version: Any) -> Cascade:
    """The cascade of a registered version, read from its run's boosters and ``cascade.json``."""
    import mlflow.artifacts

    artifact_uri = client.get_run(version.run_id).info.artifact_uri.rstrip("/")
    with tempfile.TemporaryDirectory(prefix="champion-") as scratch:
        for name in (BOOSTERS_DIR, CASCADE_FILE):
            mlflow.artifacts.download_artifacts(artifact_uri=f"{artifact_uri}/{name}", dst_path=scratch)
        return load_cascade(scratch)


def decide(
    client: Any,
    name: str,
    new_version: str,
    new_macro_f1: float,
    eval_features: np.ndarray,
    eval_labels: np.ndarray,
    force: bool = False,
) -> Decision:
    """Whether ``new_version`` takes the champion alias: it must beat the champion on the same rows."""
    champion = current_champion(client, name)
    rows = len(eval_labels)
    if champion is None:
        return Decision(True, f"version {new_version} is the first champion of '{name}' (macro-F1 {new_macro_f1:.4f})")
    if force:
        return Decision(
            True, f"version {new_version} replaces champion version {champion.version} (forced)", str(champion.version)
        )
    try:
        cascade = load_version_cascade(client, champion)
        probabilities, predicted = cascade.probabilities(eval_features), cascade.labels(eval_features)
        champion_f1 = classification_metrics(eval_labels, probabilities, predicted)["macro_f1"]
    except Exception as error:  # any failure to load or run the old model must keep it, not crash the gate
        return Decision(
            False,
            f"champion version {champion.version} kept: it could not be scored on this run's evaluation rows "
            f"({type(error).__name__}); use --force-champion to replace it",
            str(champion.version),
        )
    if new_macro_f1 > champion_f1:
        verdict = f"version {new_version} is the new champion: macro-F1 {new_macro_f1:.4f} beats"
    else:
        verdict = (
            f"champion version {champion.version} kept: version {new_version}'s macro-F1 {new_macro_f1:.4f} "
            "does not beat"
        )
    return Decision(
        new_macro_f1 > champion_f1,
        f"{verdict} version {champion.version}'s {champion_f1:.4f} on the same {rows} evaluation rows",
        str(champion.version),
        champion_f1,
    )


def apply(client: Any, name: str, version: str, decision: Decision) -> None:
    """Record the decision on the version, and move the alias when it won."""
    client.set_model_version_tag(name, version, "champion_decision", decision.message)
    if decision.became_champion:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
