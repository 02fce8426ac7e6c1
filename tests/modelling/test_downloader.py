"""Selecting a registered version and turning it into a verified bundle, against a real ``mlflow server``."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from mlflow import MlflowClient

from credit_score.contract.bundle import BundleError, classes_metadata, load_bundle
from credit_score.contract.fields import FEATURE_NAMES, encode, schema
from credit_score.contract.known_answers import KNOWN_ANSWERS_FILE
from credit_score.modelling import artifacts, conversion
from credit_score.modelling.downloader import (
    MIN_PARITY_ROWS,
    DownloadError,
    Selection,
    download,
    parity_rows_for,
    selection_from,
)
from credit_score.modelling.registry import RegistryError
from tests.support.mlflow_server import (  # noqa: F401 - fixtures mlflow_server, registry_env
    free_port,
    missing_endpoints,
    mlflow_server_fixture,
    proxy,
    registry_env_fixture,
    require_basic_auth,
)
from tests.support.registry_models import (
    METRICS,
    PARITY_ROWS,
    REFERENCE_PROFILE,
    RegisteredVersion,
    register_model,
    train_cascade,
)

# --- selection ------------------------------------------------------------------------------


def test_given_no_settings_when_selecting_then_champion_alias_of_default_model() -> None:
    assert selection_from({}) == Selection("credit-score-classifier", alias="champion")


def test_given_env_name_and_alias_when_selecting_then_used() -> None:
    assert selection_from({"MODEL_NAME": "m", "MODEL_ALIAS": "challenger"}) == Selection("m", alias="challenger")


@pytest.mark.parametrize(
    ("value", "expected"), [("7", Selection("m", version=7)), ("LATEST", Selection("m", latest=True))]
)
def test_given_env_version_when_selecting_then_number_or_latest(value: str, expected: Selection) -> None:
    assert selection_from({"MODEL_NAME": "m", "MODEL_VERSION": value}) == expected


def test_given_flags_and_env_when_selecting_then_flags_win() -> None:
    env = {"MODEL_NAME": "env-model", "MODEL_ALIAS": "challenger", "MODEL_VERSION": ""}
    assert selection_from(env, name="flag-model", latest=True) == Selection("flag-model", latest=True)
    assert selection_from(env, version=3) == Selection("env-model", version=3)


def test_given_env_alias_and_version_when_selecting_then_refused_as_ambiguous() -> None:
    with pytest.raises(DownloadError, match="only one of MODEL_ALIAS and MODEL_VERSION"):
        selection_from({"MODEL_ALIAS": "champion", "MODEL_VERSION": "2"})


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_given_malformed_env_version_when_selecting_then_refused(value: str) -> None:
    with pytest.raises(DownloadError, match="MODEL_VERSION must be"):
        selection_from({"MODEL_VERSION": value})


def test_given_sample_and_limit_when_choosing_parity_rows_then_first_rows_as_float32() -> None:
    sample = np.arange(1500 * len(FEATURE_NAMES), dtype=np.float64).reshape(1500, -1)
    rows = parity_rows_for(sample, 1200)
    assert rows.dtype == np.float32
    np.testing.assert_array_equal(rows, sample[:1200].astype(np.float32))
    assert len(parity_rows_for(sample, None)) == 1500


def test_given_too_few_reference_rows_when_choosing_parity_rows_then_refused() -> None:
    with pytest.raises(DownloadError, match=f"parity needs {MIN_PARITY_ROWS}"):
        parity_rows_for(np.zeros((MIN_PARITY_ROWS - 1, len(FEATURE_NAMES))), None)


# --- against a real MLflow server -----------------------------------------------------------

NAME = "downloader-test-model"


@pytest.fixture(scope="module")
def versions(mlflow_server: str) -> list[RegisteredVersion]:
    """v1 holds the champion alias; v2, newer, holds none."""
    return [register_model(mlflow_server, NAME, seed=0), register_model(mlflow_server, NAME, alias=None, seed=1)]


def _onnx_probabilities(bundle_path: Path, rows: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(bundle_path / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"features": rows.astype(np.float32)})[0]


@pytest.mark.integration
def test_given_champion_alias_when_downloading_then_bundle_describes_and_serves_that_version(
    registry_env, mlflow_server, versions, tmp_path
) -> None:
    before = datetime.now(UTC)
    result = download(Selection(NAME, alias="champion"), tmp_path / "model", tracking_uri=mlflow_server)

    bundle = load_bundle(tmp_path / "model")
    metadata = bundle.metadata
    registered = MlflowClient(mlflow_server, mlflow_server).get_model_version(NAME, "1")
    assert metadata["model"] == {
        "name": NAME,
        "version": "1",
        "alias": "champion",
        "run_id": versions[0].run_id,
        "source": versions[0].source,
        "registry": mlflow_server,
    }
    created = datetime.fromisoformat(metadata["created_at"])
    assert created == datetime.fromtimestamp(registered.creation_timestamp / 1000, UTC)
    assert before <= datetime.fromisoformat(metadata["downloaded_at"]) <= datetime.now(UTC)
    assert metadata["classes"] == classes_metadata()
    assert metadata["input"] == {"name": "features", "feature_names": list(FEATURE_NAMES), "fields": schema()}
    assert metadata["metrics"] == METRICS
    assert metadata["reference_profile"] == REFERENCE_PROFILE
    assert metadata["parity"]["rows"] == PARITY_ROWS
    assert metadata["parity"]["label_mismatches"] == 0
    assert metadata["parity"]["max_abs_prob_diff"] <= 1e-6
    assert result.parity.rows == metadata["parity"]["rows"]
    assert metadata["monotone_features"] == train_cascade(0).monotone_directions()
    assert metadata["monotone_features"]["Annual_Income"] == "increasing"
    assert metadata["thresholds"] == {"t1": 0.5, "t2": 0.5}
    reasons = metadata["reference_reasons"]  # the drift report's reference for the captured reason-code mix
    assert reasons["explained_records"] == PARITY_ROWS >= 1_000
    assert reasons["shares"]
    assert all(0 < share <= 1 for share in reasons["shares"].values())
    assert metadata["class_formula"] == artifacts.CLASS_FORMULA
    assert metadata["monotonicity"]["violations"] == {}

    cascade = artifacts.load_cascade(_download_run_dir(mlflow_server, versions[0].run_id, tmp_path))
    rows = np.random.default_rng(11).random((50, len(FEATURE_NAMES))).astype(np.float32) * 100
    np.testing.assert_allclose(_onnx_probabilities(bundle.path, rows), cascade.probabilities(rows), atol=1e-5)
    # the pre-traffic hook's reference: requests of the parity sample with the registry model's own answers
    assert bundle.has_file(KNOWN_ANSWERS_FILE)
    known = json.loads((bundle.path / KNOWN_ANSWERS_FILE).read_text(encoding="utf-8"))["answers"]
    stored = np.array([answer["probabilities"] for answer in known])
    np.testing.assert_array_equal(stored, cascade.probabilities(encode([a["data"] for a in known])))


def _download_run_dir(tracking_uri: str, run_id: str, tmp_path: Path) -> Path:
    """The run's boosters and cascade.json, fetched independently of the downloader."""
    import mlflow.artifacts

    target = tmp_path / "independent"
    for name in (artifacts.BOOSTERS_DIR, artifacts.CASCADE_FILE):
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=name, dst_path=str(target), tracking_uri=tracking_uri
        )
    return target


@pytest.mark.integration
def test_given_explicit_version_when_downloading_then_that_version_without_alias(
    registry_env, mlflow_server, versions, tmp_path
) -> None:
    download(Selection(NAME, version=2), tmp_path / "model", tracking_uri=mlflow_server)
    model = load_bundle(tmp_path / "model").metadata["model"]
    assert (model["version"], model["alias"], model["run_id"]) == ("2", None, versions[1].run_id)


@pytest.mark.integration
def test_given_latest_when_downloading_then_highest_version(registry_env, mlflow_server, versions, tmp_path) -> None:
    result = download(Selection(NAME, latest=True), tmp_path / "model", tracking_uri=mlflow_server)
    assert result.bundle.version == max(v.version for v in versions)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (
            Selection(NAME, alias="ghost"),
            r"model 'downloader-test-model' has no alias 'ghost' \(aliases: champion→v1\)",
        ),
        (Selection(NAME, version=99), "model 'downloader-test-model' has no version 99"),
        (Selection("no-such-model", alias="champion"), "registered model 'no-such-model' not found"),
        (Selection("no-such-model", latest=True), "registered model 'no-such-model' not found"),
    ],
)
def test_given_unknown_model_alias_or_version_when_downloading_then_refused_and_nothing_written(
    registry_env, mlflow_server, versions, tmp_path, selection: Selection, message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        download(selection, tmp_path / "model", tracking_uri=mlflow_server)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_given_unreachable_registry_when_downloading_then_refused_quickly(registry_env, tmp_path) -> None:
    registry_env.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    registry_env.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    closed = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(RegistryError, match=f"cannot reach the MLflow registry at {closed}"):
        download(Selection(NAME, alias="champion"), tmp_path / "model", tracking_uri=closed)
    assert time.monotonic() - started < 30


@pytest.mark.integration
def test_given_basic_auth_registry_when_downloading_then_uri_credentials_used_and_never_stored(
    registry_env, mlflow_server, versions, tmp_path
) -> None:
    with proxy(mlflow_server, require_basic_auth("ana", "pa55-word!")) as (uri, _):
        secured = uri.replace("http://", "http://ana:pa55-word%21@")
        download(Selection(NAME, alias="champion"), tmp_path / "model", tracking_uri=secured)
        with pytest.raises(RegistryError, match="HTTP 401") as refused:
            download(
                Selection(NAME, alias="champion"), tmp_path / "other", tracking_uri=secured.replace("pa55", "pa66")
            )
    assert "pa66" not in str(refused.value)
    written = (tmp_path / "model" / "metadata.json").read_text(encoding="utf-8")
    assert "pa55" not in written
    assert json.loads(written)["model"]["registry"] == uri


@pytest.mark.integration
def test_given_server_older_than_aliases_when_downloading_by_alias_then_refused_naming_minimum_version(
    registry_env, mlflow_server, versions, tmp_path
) -> None:
    with (
        proxy(mlflow_server, missing_endpoints("/registered-models/alias")) as (uri, _),
        pytest.raises(RegistryError, match=r"MLflow server >= 2\.3.*--version N or --latest"),
    ):
        download(Selection(NAME, alias="champion"), tmp_path / "model", tracking_uri=uri)


@pytest.mark.integration
def test_given_server_without_mlflow3_endpoints_when_downloading_by_version_then_bundle_written(
    registry_env, mlflow_server, versions, tmp_path
) -> None:
    """A 2.x server (no /api/3.0, no logged models) still serves everything the downloader needs."""
    with proxy(mlflow_server, missing_endpoints("/api/3.0/", "/logged-models", "/registered-models/alias")) as (
        uri,
        seen,
    ):
        download(Selection(NAME, version=1), tmp_path / "model", tracking_uri=uri)
    assert load_bundle(tmp_path / "model").version == "1"
    assert not [path for path in seen if "logged-models" in path]


@pytest.mark.integration
def test_given_tampered_model_file_when_loading_the_bundle_then_refused(
    registry_env, mlflow_server, versions, tmp_path
) -> None:
    download(Selection(NAME, alias="champion"), tmp_path / "model", tracking_uri=mlflow_server)
    model_file = tmp_path / "model" / "model.onnx"
    content = bytearray(model_file.read_bytes())
    content[len(content) // 2] ^= 0x01
    model_file.write_bytes(bytes(content))
    with pytest.raises(BundleError, match="does not match its sha256"):
        load_bundle(tmp_path / "model")


@pytest.mark.integration
def test_given_onnx_that_disagrees_when_downloading_then_refused_and_previous_bundle_intact(
    registry_env, mlflow_server, versions, tmp_path, monkeypatch
) -> None:
    download(Selection(NAME, version=1), tmp_path / "model", tracking_uri=mlflow_server)
    before = {path.name: path.read_bytes() for path in (tmp_path / "model").iterdir()}
    impostor = conversion.to_onnx(train_cascade(seed=42))
    monkeypatch.setattr(conversion, "to_onnx", lambda cascade: impostor)

    with pytest.raises(conversion.ConversionError, match="label mismatches"):
        download(Selection(NAME, version=2), tmp_path / "model", tracking_uri=mlflow_server)

    assert {path.name: path.read_bytes() for path in (tmp_path / "model").iterdir()} == before
    assert [path.name for path in tmp_path.iterdir()] == ["model"]  # no staging folder left behind


@pytest.mark.integration
def test_given_run_without_parity_sample_when_downloading_then_refused_naming_the_artifact(
    registry_env, mlflow_server, tmp_path
) -> None:
    register_model(mlflow_server, "no-parity-sample-model", log_parity_sample=False)
    with pytest.raises(DownloadError, match=r"bundle/parity_sample\.npy"):
        download(Selection("no-parity-sample-model", alias="champion"), tmp_path / "model", tracking_uri=mlflow_server)
    assert not (tmp_path / "model").exists()


@pytest.mark.integration
def test_given_more_parity_rows_than_logged_when_downloading_then_refused(
    registry_env, mlflow_server, versions, tmp_path
) -> None:
    with pytest.raises(DownloadError, match=f"holds {PARITY_ROWS} rows, parity needs 5000"):
        download(Selection(NAME, version=1), tmp_path / "model", tracking_uri=mlflow_server, parity_rows=5000)


@pytest.mark.integration
def test_given_parity_rows_limit_when_downloading_then_only_that_many_reference_rows(
    registry_env, mlflow_server, versions, tmp_path
) -> None:
    result = download(Selection(NAME, version=1), tmp_path / "model", tracking_uri=mlflow_server, parity_rows=1000)
    assert result.parity.rows == 1000


@pytest.mark.integration
def test_given_staged_bundle_failing_the_final_check_when_downloading_then_previous_bundle_kept(
    registry_env, mlflow_server, versions, tmp_path, monkeypatch
) -> None:
    """The last check runs the model file as staged; what fails it must never replace the bundle a build copies."""
    target = tmp_path / "model"
    download(Selection(NAME, version=1), target, tracking_uri=mlflow_server)
    real_check = conversion.check_parity
    checks: list[int] = []

    def second_check_fails(cascade, onnx_bytes, rows, tolerance=conversion.MAX_ABS_PROB_DIFF):
        checks.append(len(rows))
        parity = real_check(cascade, onnx_bytes, rows, tolerance)
        return parity if len(checks) == 1 else conversion.Parity(parity.rows, 1.0, parity.rows)

    monkeypatch.setattr(conversion, "check_parity", second_check_fails)
    with pytest.raises(DownloadError, match="final check; the previous bundle is kept"):
        download(Selection(NAME, version=2), target, tracking_uri=mlflow_server)
    assert checks == [PARITY_ROWS, PARITY_ROWS]
    assert load_bundle(target).version == "1"
    assert [path.name for path in tmp_path.iterdir()] == ["model"]
