"""The run layout's cascade files: what ``cascade.json`` says about monotonicity, and reading it back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from credit_score.modelling import artifacts
from credit_score.modelling.training.cascade import MONOTONE
from tests.support.registry_models import random_encoded_rows, train_cascade


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts.save_cascade(train_cascade(3), tmp_path_factory.mktemp("run") / "cascade")


def _rewrite(folder: Path, target: Path, change) -> Path:
    for name in (*artifacts.BOOSTER_FILES, artifacts.CASCADE_FILE):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (target / name).write_bytes((folder / name).read_bytes())
    document = json.loads((target / artifacts.CASCADE_FILE).read_text())
    change(document)
    (target / artifacts.CASCADE_FILE).write_text(json.dumps(document))
    return target


def test_given_saved_cascade_when_reading_its_description_then_each_monotone_feature_names_its_direction(
    saved: Path,
) -> None:
    document = json.loads((saved / artifacts.CASCADE_FILE).read_text())

    assert document["format"] == artifacts.CASCADE_FORMAT == 2
    assert document["monotone_features"]["Outstanding_Debt"] == "decreasing"
    assert document["monotone_features"]["Credit_History_Age"] == "increasing"
    assert artifacts.load_cascade(saved).monotone == MONOTONE


def test_given_format_1_cascade_when_loading_then_its_listed_features_are_all_decreasing(
    saved: Path, tmp_path: Path
) -> None:
    def as_format_1(document: dict) -> None:
        document.update(format=1, monotone_direction="decreasing", monotone_features=["Outstanding_Debt"])

    cascade = artifacts.load_cascade(_rewrite(saved, tmp_path, as_format_1))

    assert cascade.monotone == {"Outstanding_Debt": artifacts.DECREASING}
    rows = random_encoded_rows(50, seed=1)
    np.testing.assert_array_equal(cascade.margins(rows), artifacts.load_cascade(saved).margins(rows))


@pytest.mark.parametrize("listed", [{"Outstanding_Debt": "sideways"}, "Outstanding_Debt", 3])
def test_given_unreadable_monotone_features_when_loading_then_cascade_error(
    saved: Path, tmp_path: Path, listed: object
) -> None:
    with pytest.raises(artifacts.CascadeError, match=r"no readable cascade\.json"):
        artifacts.load_cascade(_rewrite(saved, tmp_path, lambda document: document.update(monotone_features=listed)))
