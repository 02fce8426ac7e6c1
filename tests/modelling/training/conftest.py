"""Shared fixtures of the training tests: the real shared data set and a throw-away local registry."""

from __future__ import annotations

import pandas as pd
import pytest

from credit_score.modelling import registry as registries
from credit_score.modelling.training.data import read_raw_csv
from tests.support.mlflow_server import mlflow_server_fixture, registry_env_fixture  # noqa: F401 - fixtures
from tests.support.paths import REAL_DATA


@pytest.fixture(scope="session")
def real_frame() -> pd.DataFrame:
    if not REAL_DATA.is_file():
        pytest.skip(f"real data set not found at {REAL_DATA.resolve()} (../shared beside the repository)")
    return read_raw_csv(REAL_DATA)


@pytest.fixture
def local_registry(registry_env: pytest.MonkeyPatch) -> registries.Registry:
    """An empty sqlite registry in a temp dir, selected through the environment as ``make demo`` does."""
    return registries.local_registry()
