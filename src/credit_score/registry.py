"""Where the MLflow registry is, from the environment; shared by training and the downloader.

Precedence: explicit arguments, then ``MLFLOW_TRACKING_URI`` (credentials in
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, read by MLflow itself), then
``DAGSHUB_REPO`` with ``DAGSHUB_USER_TOKEN``, then the local registry under ``LOCAL_REGISTRY_DIR``
(default ``.mlflow``) that ``make demo`` fills. Credentials are never logged or returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
DAGSHUB_REPO = "DAGSHUB_REPO"
DAGSHUB_USER_TOKEN = "DAGSHUB_USER_TOKEN"
LOCAL_REGISTRY_DIR = "LOCAL_REGISTRY_DIR"
MODEL_NAME = "MODEL_NAME"

DEFAULT_MODEL_NAME = "credit-score-classifier"
DEFAULT_LOCAL_REGISTRY_DIR = ".mlflow"


class RegistryError(Exception):
    """The registry cannot be reached, refuses our credentials, or lacks what was asked for."""


@dataclass(frozen=True)
class Registry:
    tracking_uri: str
    artifact_location: str | None
    kind: str  # "local", "mlflow" or "dagshub"

    @property
    def display_uri(self) -> str:
        return redact(self.tracking_uri)


def redact(uri: str) -> str:
    """The URI without any user:password part, safe to print and to store in metadata."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def local_registry(directory: str | os.PathLike[str] | None = None) -> Registry:
    root = Path(directory or os.environ.get(LOCAL_REGISTRY_DIR) or DEFAULT_LOCAL_REGISTRY_DIR).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return Registry(f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri(), "local")


def resolve(tracking_uri: str | None = None, environ: os._Environ[str] | dict[str, str] | None = None) -> Registry:
    """Decide which registry to use without contacting it."""
    env = os.environ if environ is None else environ
    uri = tracking_uri or env.get(MLFLOW_TRACKING_URI)
    if uri:
        return Registry(uri, None, "mlflow")
    repo = env.get(DAGSHUB_REPO)
    if repo:
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise RegistryError(f"{DAGSHUB_REPO} must look like 'owner/name'")
        if not env.get(DAGSHUB_USER_TOKEN):
            raise RegistryError(f"{DAGSHUB_REPO} is set but {DAGSHUB_USER_TOKEN} is not; set the token to authenticate")
        return Registry(f"https://dagshub.com/{owner}/{name}.mlflow", None, "dagshub")
    return local_registry(env.get(LOCAL_REGISTRY_DIR))
