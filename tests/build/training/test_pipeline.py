from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from credit_score.build.conversion import check_parity, require_parity, to_onnx
from credit_score.build.training import synthetic
from credit_score.build.training.data import to_dataset
from credit_score.build.training.pipeline import DEFAULTS, build_pipeline, logged_params
from credit_score.contract.fields import FEATURE_NAMES


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return synthetic.generate(1200, seed=21)


def test_given_defaults_when_building_then_soft_vote_is_the_last_step_with_chosen_parameters() -> None:
    pipeline = build_pipeline(seed=9)

    vote = pipeline.steps[-1][1]
    params = vote.get_params()
    for name, value in DEFAULTS.items():
        assert params[name] == value, name
    assert vote.voting == "soft"
    assert params["forest__random_state"] == params["boosting__random_state"] == 9


def test_given_overrides_when_building_then_they_replace_defaults_and_are_logged() -> None:
    pipeline = build_pipeline(forest__n_estimators=7, boosting__max_depth=2)

    params = logged_params(pipeline)

    assert params["forest__n_estimators"] == 7
    assert params["boosting__max_depth"] == 2
    assert params["classifier"] == "VotingClassifier"
    assert params["forest__min_samples_leaf"] == DEFAULTS["forest__min_samples_leaf"]


def test_given_column_missing_in_every_training_row_when_fitting_then_model_still_takes_47_columns(
    rows: pd.DataFrame,
) -> None:
    dataset = to_dataset(rows)
    features = dataset.features.copy()
    features[:, FEATURE_NAMES.index("Monthly_Balance")] = np.nan

    pipeline = build_pipeline(forest__n_estimators=5, boosting__n_estimators=5).fit(features, dataset.labels)

    assert pipeline.predict_proba(features[:3]).shape == (3, 3)
    assert pipeline.n_features_in_ == len(FEATURE_NAMES)


def test_given_fitted_pipeline_when_converted_to_onnx_then_parity_with_sklearn_including_missing_values(
    rows: pd.DataFrame,
) -> None:
    dataset = to_dataset(rows)
    pipeline = build_pipeline(forest__n_estimators=20, boosting__n_estimators=20).fit(dataset.features, dataset.labels)
    assert np.isnan(dataset.features).any()

    parity = require_parity(check_parity(pipeline, to_onnx(pipeline), dataset.features))

    assert parity.rows == len(dataset)
    assert parity.label_mismatches == 0
    assert list(pipeline.classes_) == [0, 1, 2]
