"""Where the MLflow registry is, from the environment; shared by training and the downloader.

Precedence: explicit arguments, then ``MLFLOW_TRACKING_URI`` (credentials in
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, read by MLflow itself), then
``DAGSHUB_REPO`` with ``DAGSHUB_USER_TOKEN`` (on ``DAGSHUB_CLIENT_HOST``, default dagshub.com),
then the local registry under ``LOCAL_REGISTRY_DIR`` (default ``.mlflow``) that ``make demo``
fills. Credentials are never logged or returned.

:func:`resolve` decides without any network call; :func:`connect` configures MLflow for the
process; :func:`check` reaches it once, before any long work (training fits for minutes), and turns
what goes wrong into one actionable line (:func:`explain`, shared with the downloader). MLflow's own
retry defaults wait minutes on a registry that is down: :data:`MLFLOW_DEFAULTS` (applied by
:func:`apply_client_defaults`, unless the environment says otherwise) are the build's limits.

DagsHub is reached through the ``dagshub`` package with the app token only: its
``UserAPI.get_user_from_token`` validates the token with one ``GET /api/v1/user`` and never starts
the browser OAuth flow (``dagshub.auth.get_token`` would, when no token is cached). MLflow then
authenticates with HTTP basic auth (user name + token), as ``dagshub.init`` sets it up, but
without ``init``'s repository creation.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
DAGSHUB_REPO = "DAGSHUB_REPO"
DAGSHUB_USER_TOKEN = "DAGSHUB_USER_TOKEN"  # noqa: S105 - a variable name, not a secret
LOCAL_REGISTRY_DIR = "LOCAL_REGISTRY_DIR"
MODEL_NAME = "MODEL_NAME"
MLFLOW_TRACKING_USERNAME = "MLFLOW_TRACKING_USERNAME"
MLFLOW_TRACKING_PASSWORD = "MLFLOW_TRACKING_PASSWORD"  # noqa: S105 - a variable name, not a secret
DAGSHUB_CLIENT_HOST = "DAGSHUB_CLIENT_HOST"  # the dagshub package's own variable, for self-hosted DagsHub
DEFAULT_DAGSHUB_HOST = "https://dagshub.com"

DEFAULT_MODEL_NAME = "credit-score-classifier"
DEFAULT_LOCAL_REGISTRY_DIR = ".mlflow"
CHAMPION_ALIAS = "champion"

# A build should fail in seconds when the registry is down, not after MLflow's default minutes of
# retries, and should make no call beyond the registry (MLflow 3 sends usage telemetry otherwise).
MLFLOW_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


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


# The tracking-store schemes MLflow's clients accept (SQLAlchemy dialects may add a driver: postgresql+psycopg2).
TRACKING_SCHEMES = ("http", "https", "file", "sqlite", "postgresql", "mysql", "mssql", "databricks", "databricks-uc")


def check_scheme(uri: str) -> str:
    """``uri`` if MLflow can use it as a tracking URI (a known scheme, or a plain path); RegistryError otherwise.

    MLflow reports an unknown scheme deep in a stack trace, after minutes of training; this says it first.
    """
    scheme = urlsplit(uri).scheme.lower().partition("+")[0]
    if len(scheme) > 1 and scheme not in TRACKING_SCHEMES:  # one letter: a Windows drive, i.e. a path
        known = ", ".join(f"{name}://" for name in TRACKING_SCHEMES)
        raise RegistryError(f"unsupported tracking URI scheme '{scheme}://'; use one of {known} or a folder path")
    return uri


def resolve(tracking_uri: str | None = None, environ: os._Environ[str] | dict[str, str] | None = None) -> Registry:
    """Decide which registry to use without contacting it."""
    env = os.environ if environ is None else environ
    uri = tracking_uri or env.get(MLFLOW_TRACKING_URI)
    if uri:
        return Registry(check_scheme(uri), None, "mlflow")
    repo = env.get(DAGSHUB_REPO)
    if repo:
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            raise RegistryError(f"{DAGSHUB_REPO} must look like 'owner/name'")
        if not env.get(DAGSHUB_USER_TOKEN):
            raise RegistryError(f"{DAGSHUB_REPO} is set but {DAGSHUB_USER_TOKEN} is not; set the token to authenticate")
        return Registry(f"{_dagshub_host(env)}/{owner}/{name}.mlflow", None, "dagshub")
    return local_registry(env.get(LOCAL_REGISTRY_DIR))


def connect(tracking_uri: str | None = None) -> Registry:
    """Point MLflow's tracking and registry clients at the resolved registry, credentials included.

    Credentials embedded in the URI move to ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` so that
    MLflow's own error messages, which quote request URLs, cannot leak them. The returned
    registry's ``tracking_uri`` is free of credentials.
    """
    import mlflow

    registry = resolve(tracking_uri)
    parts = urlsplit(registry.tracking_uri)
    if parts.username is not None or parts.password is not None:
        os.environ[MLFLOW_TRACKING_USERNAME] = unquote(parts.username or "")
        os.environ[MLFLOW_TRACKING_PASSWORD] = unquote(parts.password or "")
        registry = replace(registry, tracking_uri=redact(registry.tracking_uri))
    if registry.kind == "dagshub":
        token = os.environ[DAGSHUB_USER_TOKEN]
        os.environ[MLFLOW_TRACKING_USERNAME] = _dagshub_username(token, _dagshub_host(os.environ))
        os.environ[MLFLOW_TRACKING_PASSWORD] = token
    mlflow.set_tracking_uri(registry.tracking_uri)
    mlflow.set_registry_uri(registry.tracking_uri)
    return registry


def apply_client_defaults(environ: MutableMapping[str, str] | None = None) -> None:
    """The build's MLflow client limits (:data:`MLFLOW_DEFAULTS`) where the environment sets none."""
    env = os.environ if environ is None else environ
    for key, value in MLFLOW_DEFAULTS.items():
        env.setdefault(key, value)


def check(registry: Registry, model_name: str) -> None:
    """Reach the registry as a writer would, before anything slow; :class:`RegistryError` in one line.

    Two calls: listing registered models (is it there, does it take our credentials) and reading the
    champion alias of ``model_name`` (does the server know aliases, MLflow >= 2.3). A model or alias
    that does not exist yet is fine: the first training creates both.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(registry.tracking_uri, registry.tracking_uri)
    try:
        client.search_registered_models(max_results=1)
        client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException as error:
        if getattr(error, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return
        raise RegistryError(explain(error, registry, access="write")) from error  # cause shown only when asked


def explain(error: Exception, registry: Registry, not_found: str = "", *, access: str = "read") -> str:
    """One line for an MLflow client error; never its text, which may quote URLs and response bodies.

    ``not_found`` explains a missing resource; ``access`` is what the caller needs (``read`` to
    download, ``write`` to register), named in the 403 line.
    """
    where = registry.display_uri
    code = getattr(error, "error_code", "")
    if _caused_by_connection_failure(error):
        return (
            f"cannot reach the MLflow registry at {where}; check the URI, the network, "
            "or MLFLOW_HTTP_REQUEST_TIMEOUT / MLFLOW_HTTP_REQUEST_MAX_RETRIES"
        )
    if code == "UNAUTHENTICATED":
        return (
            f"the registry at {where} refused the credentials (HTTP 401); set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD (or DAGSHUB_USER_TOKEN)"
        )
    if code == "PERMISSION_DENIED":
        needs = "read access to the model" if access == "read" else "write access to register models"
        return f"the registry at {where} denied access (HTTP 403); the account needs {needs}"
    if code == "ENDPOINT_NOT_FOUND":
        if access == "write":
            return f"the registry at {where} is older than MLflow 2.3 (no model aliases); upgrade the server"
        return (
            f"the registry at {where} lacks an endpoint this client needs (aliases need MLflow server >= 2.3); "
            "select with --version N or --latest, or upgrade the server"
        )
    if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") and not_found:
        return not_found
    return f"the registry at {where} failed ({code or type(error).__name__}); retry, or run with --verbose"


def _caused_by_connection_failure(error: BaseException) -> bool:
    import requests

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _dagshub_host(env: os._Environ[str] | dict[str, str]) -> str:
    return (env.get(DAGSHUB_CLIENT_HOST) or DEFAULT_DAGSHUB_HOST).rstrip("/")


def _dagshub_username(token: str, host: str) -> str:
    """Validate the app token with DagsHub (one request, bearer auth, never OAuth) and return its user."""
    import httpx
    from dagshub.common.api import UserAPI
    from dagshub.common.api.user import UserNotFoundError

    try:
        return UserAPI.get_user_from_token(token, host=host).username
    except httpx.HTTPError as error:
        raise RegistryError(f"cannot reach DagsHub at {host} ({type(error).__name__}); check the network") from None
    except (RuntimeError, UserNotFoundError) as error:
        status = re.search(r"HTTP status (\d+)", str(error))
        code = f" (HTTP {status.group(1)})" if status else ""
        raise RegistryError(
            f"DagsHub refused {DAGSHUB_USER_TOKEN}{code}; create an app token in DagsHub settings and set it"
        ) from None
