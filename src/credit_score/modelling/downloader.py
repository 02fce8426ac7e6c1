"""Registry → verified ``model/`` bundle: select a version, convert it to ONNX, prove parity, write atomically.

Only MLflow 2.x REST endpoints are used (registered model, model version, alias lookup,
version search, run and artifact reads), so servers older than the 3.x client work; aliases need
an MLflow server >= 2.3 and an older server gets a message suggesting ``--version`` or ``--latest``.
The cascade arrives as plain run artifacts (the layout of ``credit_score.modelling.artifacts``) and is
loaded from a local folder, never through MLflow 3's logged-model endpoints.

Every failure becomes a :class:`DownloadError` (or the registry, conversion or bundle error
it wraps) whose message is one actionable line without credentials.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from credit_score.contract.bundle import EXPLAINER_FILE, INPUT_NAME, Bundle, classes_metadata, write_bundle
from credit_score.contract.fields import FEATURE_NAMES, schema
from credit_score.contract.known_answers import KNOWN_ANSWERS_FILE
from credit_score.modelling import artifacts, conversion, explainer, known_answers, model_card
from credit_score.modelling.artifacts import Cascade, CascadeError, load_cascade
from credit_score.modelling.registry import (
    DEFAULT_MODEL_NAME,
    MODEL_NAME,
    Registry,
    RegistryError,
    connect,
    explain,
    redact,
)

MODEL_ALIAS = "MODEL_ALIAS"
MODEL_VERSION = "MODEL_VERSION"
DEFAULT_ALIAS = "champion"
LATEST = "latest"
MIN_PARITY_ROWS = 1000


class DownloadError(Exception):
    """The selected model version cannot become a bundle; the message says what to change."""


@dataclass(frozen=True)
class Selection:
    """Which version of which registered model: exactly one of alias, version or latest."""

    name: str
    alias: str | None = None
    version: int | None = None
    latest: bool = False

    def describe(self) -> str:
        if self.alias:
            return f"alias {self.alias}"
        return "latest" if self.latest else "pinned"


def selection_from(
    environ: Mapping[str, str],
    *,
    name: str | None = None,
    alias: str | None = None,
    version: int | None = None,
    latest: bool = False,
) -> Selection:
    """Flags win over ``MODEL_NAME``/``MODEL_ALIAS``/``MODEL_VERSION``; the default is the ``champion`` alias."""
    model_name = name or environ.get(MODEL_NAME) or DEFAULT_MODEL_NAME
    if alias or version is not None or latest:
        return Selection(model_name, alias, version, latest)
    env_alias, env_version = environ.get(MODEL_ALIAS), (environ.get(MODEL_VERSION) or "").strip()
    if env_alias and env_version:
        raise DownloadError(f"set only one of {MODEL_ALIAS} and {MODEL_VERSION}")
    if env_version.lower() == LATEST:
        return Selection(model_name, latest=True)
    if env_version:
        return Selection(model_name, version=parse_version(env_version, MODEL_VERSION))
    return Selection(model_name, alias=env_alias or DEFAULT_ALIAS)


def parse_version(text: str, source: str = "--version") -> int:
    if not text.isdigit() or int(text) < 1:
        raise DownloadError(f"{source} must be a positive version number or '{LATEST}'")
    return int(text)


@dataclass(frozen=True)
class Result:
    bundle: Bundle
    registry: Registry
    selection: Selection
    parity: conversion.Parity

    def summary(self, output: str) -> str:
        """The success line: which version landed where, from which registry, with what parity."""
        return (
            f"{output.rstrip('/')}/ ← {self.bundle.name} v{self.bundle.version} ({self.selection.describe()}) from "
            f"{self.registry.display_uri}: parity {self.parity.rows} rows, "
            f"max |Δp| {self.parity.max_abs_prob_diff:.2g}"
        )


def download(
    selection: Selection,
    output: str | os.PathLike[str],
    *,
    tracking_uri: str | None = None,
    parity_rows: int | None = None,
) -> Result:
    """Fetch the selected version and replace ``output`` with its verified ONNX bundle."""
    import mlflow

    if parity_rows is not None and parity_rows < MIN_PARITY_ROWS:
        raise DownloadError(f"parity needs at least {MIN_PARITY_ROWS} reference rows, got {parity_rows}")
    registry = connect(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=registry.tracking_uri, registry_uri=registry.tracking_uri)
    version = find_version(client, selection, registry)
    with tempfile.TemporaryDirectory(prefix="model-download-") as scratch:
        run_files = _download_run_files(client, version, Path(scratch), registry)
        cascade = _load_run_cascade(run_files, version)
        rows = parity_rows_for(_read_parity_sample(run_files), parity_rows)
        metrics = _read_json(run_files / artifacts.METRICS_FILE, version)
        profile = _read_json(run_files / artifacts.REFERENCE_PROFILE_FILE, version)
        monotonicity = _read_json(run_files / artifacts.MONOTONICITY_FILE, version)
        documentation = model_card.run_documentation(client, version, run_files / artifacts.FAIRNESS_FILE)
    onnx_bytes = conversion.to_onnx(cascade)
    parity = conversion.require_parity(conversion.check_parity(cascade, onnx_bytes, rows))
    tables, explainer_parity = explain_tables(cascade, rows)
    metadata = bundle_metadata(
        version,
        selection,
        registry,
        metrics=metrics,
        profile=profile,
        parity=parity,
        cascade=cascade,
        monotonicity=monotonicity,
    )
    metadata["explainer"] = {"file": EXPLAINER_FILE, "parity": explainer_parity}
    # The drift report's reference for the captured reason-code mix: the parity rows as the handler explains them.
    _, _, margins = conversion.run_graph(onnx_bytes, rows)
    served = explainer.load_tables(tables)
    metadata["reference_reasons"] = explainer.reason_mix(served, rows, margins, cascade.thresholds)
    try:  # the pre-traffic hook's reference answers (contract/known_answers.py)
        answers = known_answers.build(cascade, rows)
    except known_answers.KnownAnswersError as error:
        raise DownloadError(f"cannot build {KNOWN_ANSWERS_FILE}: {error}") from None
    metadata.update(documentation)  # fairness and training facts: the card's and the drift report's reference
    bundle = write_bundle(
        output,
        onnx_bytes,
        metadata,
        verify=lambda staged: _final_check(staged, cascade, rows),
        extra_files={EXPLAINER_FILE: tables, KNOWN_ANSWERS_FILE: answers, **model_card.card_files(metadata)},
    )
    return Result(bundle, registry, selection, parity)


def explain_tables(cascade: Cascade, rows: np.ndarray) -> tuple[bytes, dict[str, Any]]:
    """The reason-code tables of ``cascade`` and their parity against shap on ``rows``; DownloadError if off."""
    tables = explainer.build_tables(cascade.boosters)
    try:
        report = explainer.check_parity(explainer.load_tables(tables), cascade.boosters, rows)
    except explainer.ExplainerParityError as error:
        raise DownloadError(f"explainer parity failed: {error}") from None
    return tables, report


def find_version(client: Any, selection: Selection, registry: Registry) -> Any:
    """Resolve the selection to one READY model version, with a message naming what exists otherwise."""
    name = selection.name
    where = registry.display_uri
    missing = f"registered model '{name}' not found at {where}; register one or set --model-name"
    if registry.kind == "local":
        missing += " (local registry: run `make demo`, or set MLFLOW_TRACKING_URI or DAGSHUB_REPO)"
    with _registry_errors(registry, missing):
        registered = client.get_registered_model(name)
    if selection.alias:
        known = ", ".join(f"{alias}→v{number}" for alias, number in sorted(_aliases(registered).items())) or "none"
        with _registry_errors(registry, f"model '{name}' has no alias '{selection.alias}' (aliases: {known})"):
            version = client.get_model_version_by_alias(name, selection.alias)
    elif selection.latest:
        versions = _ready_versions(client, name, registry)
        if not versions:
            raise DownloadError(f"model '{name}' has no READY version at {where}; register one first")
        version = max(versions, key=lambda candidate: int(candidate.version))
    else:
        with _registry_errors(registry, f"model '{name}' has no version {selection.version} at {where}"):
            version = client.get_model_version(name, str(selection.version))
    if version.status != "READY":
        raise DownloadError(f"model '{name}' version {version.version} is {version.status}, not READY")
    return version


def parity_rows_for(sample: np.ndarray, limit: int | None) -> np.ndarray:
    """The run's reference rows (the first ``limit`` of them, if given), at least ``MIN_PARITY_ROWS``."""
    reference = sample if limit is None else sample[:limit]
    needed = limit or MIN_PARITY_ROWS
    if len(reference) < needed:
        raise DownloadError(
            f"the run's {artifacts.PARITY_SAMPLE_FILE} holds {len(reference)} rows, parity needs {needed}"
        )
    return np.ascontiguousarray(reference, dtype=np.float32)


def bundle_metadata(
    version: Any,
    selection: Selection,
    registry: Registry,
    *,
    metrics: dict[str, Any],
    profile: dict[str, Any],
    parity: conversion.Parity,
    cascade: Cascade,
    monotonicity: dict[str, Any],
) -> dict[str, Any]:
    created = datetime.fromtimestamp(int(version.creation_timestamp) / 1000, tz=UTC)
    return {
        "model": {
            "name": version.name,
            "version": str(version.version),
            "alias": selection.alias,
            "run_id": version.run_id,
            "source": redact(version.source),
            "registry": registry.display_uri,
        },
        "created_at": _iso(created),
        "downloaded_at": _iso(datetime.now(UTC)),
        "classes": classes_metadata(),
        "input": {"name": INPUT_NAME, "feature_names": list(FEATURE_NAMES), "fields": schema()},
        "metrics": metrics,
        "reference_profile": profile,
        "parity": parity.as_metadata(),
        "monotone_features": cascade.monotone_directions(),
        "monotonicity": monotonicity,
        "thresholds": {"t1": cascade.thresholds[0], "t2": cascade.thresholds[1]},
        "class_formula": artifacts.CLASS_FORMULA,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _aliases(registered: Any) -> dict[str, str]:
    aliases = getattr(registered, "aliases", None) or {}
    return {str(alias): str(number) for alias, number in dict(aliases).items()}


def _ready_versions(client: Any, name: str, registry: Registry) -> list[Any]:
    found: list[Any] = []
    token = None
    with _registry_errors(registry, f"cannot list the versions of model '{name}'"):
        while True:
            page = client.search_model_versions(f"name = '{name}'", page_token=token)
            found.extend(version for version in page if version.status == "READY")
            token = page.token
            if not token:
                return found


def _download_run_files(client: Any, version: Any, scratch: Path, registry: Registry) -> Path:
    """The run's boosters, ``cascade.json`` and ``bundle/`` files, read from the run's artifact URI.

    Not through ``runs:/``: MLflow 3 resolves it through logged-model search, an endpoint 2.x servers lack.
    """
    if not version.run_id:
        raise DownloadError(f"model '{version.name}' version {version.version} has no run; register it from a run")
    missing = (
        f"run {version.run_id} lacks the cascade artifacts (boosters/, cascade.json, bundle/); "
        "retrain with the current code"
    )
    with _registry_errors(registry, missing):
        artifact_uri = client.get_run(version.run_id).info.artifact_uri.rstrip("/")
    target = scratch / "run"
    for name in (artifacts.BOOSTERS_DIR, artifacts.CASCADE_FILE, artifacts.RUN_BUNDLE_DIR):
        _fetch(f"{artifact_uri}/{name}", target, registry, missing)
    return target


def _load_run_cascade(run_files: Path, version: Any) -> Cascade:
    try:
        return load_cascade(run_files)
    except CascadeError as error:
        raise DownloadError(f"model '{version.name}' version {version.version}: {error}") from None


def _fetch(artifact_uri: str, destination: Path, registry: Registry, missing: str) -> Path:
    import mlflow.artifacts

    try:
        with _registry_errors(registry, missing):
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=artifact_uri, dst_path=str(destination)))
    except OSError:
        raise DownloadError(missing) from None


def _read_parity_sample(run_files: Path) -> np.ndarray:
    path = run_files / artifacts.PARITY_SAMPLE_FILE
    try:
        sample = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DownloadError(
            f"cannot read the run's {artifacts.PARITY_SAMPLE_FILE} ({type(error).__name__}); "
            "retrain with the current code"
        ) from None
    if sample.ndim != 2 or sample.shape[1] != len(FEATURE_NAMES):
        raise DownloadError(f"{artifacts.PARITY_SAMPLE_FILE} must be a {len(FEATURE_NAMES)}-column matrix")
    return sample


def _read_json(path: Path, version: Any) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DownloadError(
            f"run {version.run_id} lacks a readable {artifacts.RUN_BUNDLE_DIR}/{path.name} ({type(error).__name__}); "
            "retrain with the current code"
        ) from None
    if not isinstance(document, dict):
        raise DownloadError(f"{artifacts.RUN_BUNDLE_DIR}/{path.name} of run {version.run_id} must be a JSON object")
    return document


def _final_check(bundle: Bundle, cascade: Cascade, rows: np.ndarray) -> None:
    """Run the model as staged on disk; on failure the previous bundle stays in place."""
    try:
        conversion.require_parity(conversion.check_parity(cascade, bundle.model_path.read_bytes(), rows))
    except conversion.ConversionError as error:
        raise DownloadError(f"the staged bundle failed its final check; the previous bundle is kept: {error}") from None


@contextmanager
def _registry_errors(registry: Registry, not_found: str) -> Iterator[None]:
    """Turn MLflow's exceptions into one actionable line; ``not_found`` explains a missing resource."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as error:
        raise RegistryError(explain(error, registry, not_found)) from error  # cause shown only with --verbose
