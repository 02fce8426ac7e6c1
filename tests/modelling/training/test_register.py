from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from credit_score.modelling.registry import Registry
from credit_score.modelling.training import synthetic
from credit_score.modelling.training.register import CHAMPION_ALIAS, current_champion
from credit_score.modelling.training.train import train

WEAK = {"rounds": (1, 1), "booster_overrides": {"max_depth": 1, "num_leaves": 2}}
STRONG = {"rounds": (60, 60), "booster_overrides": {"learning_rate": 0.1}}


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return synthetic.generate(1500, seed=17)


@pytest.fixture
def client(local_registry: Registry) -> MlflowClient:
    return MlflowClient(local_registry.tracking_uri, local_registry.tracking_uri)


def champion_of(client: MlflowClient, name: str) -> str:
    return str(client.get_registered_model(name).aliases[CHAMPION_ALIAS])


def test_given_no_registered_model_when_looking_up_champion_then_none(client: MlflowClient) -> None:
    assert current_champion(client, "absent") is None


def test_given_weaker_champion_when_new_version_beats_it_on_same_rows_then_alias_moves(
    client: MlflowClient, rows: pd.DataFrame
) -> None:
    weak = train(rows, model_name="gate", **WEAK)

    strong = train(rows, model_name="gate", **STRONG)

    assert strong.metrics["macro_f1"] > weak.metrics["macro_f1"]
    assert strong.became_champion
    assert champion_of(client, "gate") == strong.version == "2"
    # Same data and seed, so the champion was scored on exactly the rows it was evaluated on before.
    assert strong.champion_macro_f1 == pytest.approx(weak.metrics["macro_f1"], abs=1e-6)
    assert "new champion" in strong.decision
    assert f"same {strong.metrics['eval_rows']} evaluation rows" in strong.decision


def test_given_stronger_champion_when_new_version_is_worse_then_champion_kept_and_decision_recorded(
    client: MlflowClient, rows: pd.DataFrame
) -> None:
    strong = train(rows, model_name="gate", **STRONG)

    weak = train(rows, model_name="gate", **WEAK)

    assert not weak.became_champion
    assert champion_of(client, "gate") == strong.version
    assert weak.champion_version == strong.version
    assert "kept" in weak.decision
    tags = client.get_model_version("gate", weak.version).tags
    assert tags["champion_decision"] == weak.decision


def test_given_equal_quality_when_gating_then_champion_kept_because_it_must_be_beaten(
    client: MlflowClient, rows: pd.DataFrame
) -> None:
    first = train(rows, model_name="gate", **STRONG)

    again = train(rows, model_name="gate", **STRONG)

    assert again.metrics["macro_f1"] == first.metrics["macro_f1"]
    assert not again.became_champion
    assert champion_of(client, "gate") == first.version


def test_given_force_when_new_version_is_worse_then_alias_moves_anyway(
    client: MlflowClient, rows: pd.DataFrame
) -> None:
    train(rows, model_name="gate", **STRONG)

    forced = train(rows, model_name="gate", **WEAK, force_champion=True)

    assert forced.became_champion
    assert champion_of(client, "gate") == forced.version
    assert "forced" in forced.decision


def test_given_champion_that_cannot_be_loaded_when_gating_then_kept_unless_forced(
    client: MlflowClient, rows: pd.DataFrame, tmp_path: Path
) -> None:
    client.create_registered_model("gate")
    broken = client.create_model_version("gate", source=(tmp_path / "no-such-model").as_uri())
    client.set_registered_model_alias("gate", CHAMPION_ALIAS, broken.version)

    refused = train(rows, model_name="gate", **STRONG)
    forced = train(rows, model_name="gate", **STRONG, force_champion=True)

    assert not refused.became_champion
    assert "could not be scored" in refused.decision
    assert "--force-champion" in refused.decision
    assert forced.became_champion
    assert champion_of(client, "gate") == forced.version
