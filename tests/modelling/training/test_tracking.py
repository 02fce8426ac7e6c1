from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from credit_score.contract.fields import FEATURE_NAMES
from credit_score.modelling.registry import Registry
from credit_score.modelling.training.tracking import artifact_location, parity_rows
from credit_score.modelling.training.train import train


def test_given_registry_with_artifact_folder_when_choosing_location_then_kept() -> None:
    registry = Registry("sqlite:////data/mlflow.db", "file:///data/artifacts", "local")

    assert artifact_location(registry) == "file:///data/artifacts"


def test_given_bare_sqlite_uri_when_choosing_location_then_beside_the_database(tmp_path: Path) -> None:
    registry = Registry(f"sqlite:///{tmp_path}/store/mlflow.db", None, "mlflow")

    assert artifact_location(registry) == (tmp_path / "store" / "artifacts").as_uri()


def test_given_server_uri_when_choosing_location_then_left_to_the_server() -> None:
    assert artifact_location(Registry("http://127.0.0.1:5000", None, "mlflow")) is None


def test_given_sqlite_tracking_uri_when_training_then_no_artifacts_land_in_the_working_directory(
    registry_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    registry_env.chdir(workdir)
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    (tmp_path / "store").mkdir()

    result = train(synthetic_rows=1200, model_name="sqlite-uri", tracking_uri=uri, rounds=(5, 5))

    assert list(workdir.iterdir()) == []
    source = MlflowClient(uri, uri).get_model_version("sqlite-uri", result.version).source
    assert source.startswith((tmp_path / "store" / "artifacts").as_uri())


def test_given_rows_with_missing_values_when_sampling_for_parity_then_they_are_included_and_capped() -> None:
    rng = np.random.default_rng(0)
    features = rng.random((5000, len(FEATURE_NAMES))).astype(np.float32)
    features[rng.random(5000) < 0.02, 3] = np.nan

    sample = parity_rows(features, seed=1, rows=1000)

    assert sample.shape == (1000, len(FEATURE_NAMES))
    assert sample.dtype == np.float32
    assert np.isnan(sample).any(axis=1).sum() >= 80  # about all 100 incomplete rows, not 2% of 1000
    assert sample.flags["C_CONTIGUOUS"]


def test_given_rows_often_incomplete_when_sampling_for_parity_then_a_plain_random_draw() -> None:
    """Real rows have gaps in about 43 %: the reference reason mix is measured on these rows, so their
    share of gaps must be the population's, not the quarter the parity rule guarantees."""
    rng = np.random.default_rng(0)
    features = rng.random((10_000, len(FEATURE_NAMES))).astype(np.float32)
    features[rng.random(10_000) < 0.43, 0] = np.nan

    sample = parity_rows(features, seed=1, rows=2000)

    assert sample.shape == (2000, len(FEATURE_NAMES))
    assert abs(np.isnan(sample).any(axis=1).mean() - 0.43) < 0.03
    chosen = np.random.default_rng(1).permutation(len(features))[:2000]
    np.testing.assert_array_equal(sample, features[np.sort(chosen)])


def test_given_fewer_rows_than_wanted_when_sampling_for_parity_then_all_rows() -> None:
    features = np.arange(30 * len(FEATURE_NAMES), dtype=np.float32).reshape(30, -1)

    np.testing.assert_array_equal(parity_rows(features, seed=0), features)
