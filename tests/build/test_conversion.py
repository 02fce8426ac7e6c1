"""sklearn → ONNX conversion against the bundle contract, and the parity check that gates a build.

Models are trained on the real Kaggle-schema rows (read from ../shared, never copied here).
"""

from __future__ import annotations

import math

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

from credit_score.build.conversion import ConversionError, Parity, check_parity, require_parity, to_onnx
from credit_score.contract.fields import FEATURE_NAMES, FIELDS, clean_value, encode
from tests.support.paths import REAL_DATA
from tests.support.registry_models import random_encoded_rows, train_pipeline

DATA = REAL_DATA
CODES = {"Poor": 0, "Standard": 1, "Good": 2}
TRAIN_ROWS = 8000


@pytest.fixture(scope="module")
def real_data() -> tuple[np.ndarray, np.ndarray]:
    if not DATA.is_file():
        pytest.skip(f"real data not found at {DATA}")
    frame = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    records = [{f.name: clean_value(f, row[f.name]) for f in FIELDS} for row in frame.to_dict("records")]
    return encode(records), frame["Credit_Score"].map(CODES).to_numpy()


def _fit(classifier: object, data: tuple[np.ndarray, np.ndarray]) -> Pipeline:
    features, labels = data
    pipeline = Pipeline([("impute", SimpleImputer(strategy="median")), ("classify", classifier)])
    return pipeline.fit(features[:TRAIN_ROWS], labels[:TRAIN_ROWS])


@pytest.fixture(scope="module")
def forest(real_data) -> Pipeline:
    classifier = RandomForestClassifier(
        n_estimators=40, max_depth=16, min_samples_leaf=3, class_weight="balanced_subsample", random_state=0
    )
    return _fit(classifier, real_data)


def _io(model: onnx.ModelProto) -> dict[str, tuple[int, list[object]]]:
    def describe(value: onnx.ValueInfoProto) -> tuple[int, list[object]]:
        dims = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
        return value.type.tensor_type.elem_type, dims

    return {value.name: describe(value) for value in (*model.graph.input, *model.graph.output)}


def test_given_forest_when_converting_then_graph_follows_the_bundle_contract(forest) -> None:
    model = onnx.load_from_string(to_onnx(forest))
    onnx.checker.check_model(model)
    assert [value.name for value in model.graph.input] == ["features"]
    assert [value.name for value in model.graph.output] == ["label", "probabilities"]
    assert _io(model) == {
        "features": (onnx.TensorProto.FLOAT, [None, len(FEATURE_NAMES)]),
        "label": (onnx.TensorProto.INT64, [None]),
        "probabilities": (onnx.TensorProto.FLOAT, [None, 3]),
    }
    assert "ZipMap" not in {node.op_type for node in model.graph.node}


@pytest.mark.parametrize(
    "classifier",
    [
        pytest.param(None, id="random-forest"),
        pytest.param(GradientBoostingClassifier(n_estimators=30, max_depth=4, random_state=0), id="gradient-boosting"),
    ],
)
def test_given_supported_model_on_real_rows_when_checking_parity_then_identical_labels_within_1e6(
    classifier, forest, real_data
) -> None:
    pipeline = forest if classifier is None else _fit(classifier, real_data)
    held_out = real_data[0][TRAIN_ROWS:]
    parity = require_parity(check_parity(pipeline, to_onnx(pipeline), held_out))
    assert parity.rows == len(held_out) >= 1000
    assert parity.label_mismatches == 0
    assert parity.max_abs_prob_diff <= 1e-6


def test_given_rows_with_missing_values_when_checking_parity_then_imputation_matches(forest, real_data) -> None:
    rows = real_data[0][TRAIN_ROWS : TRAIN_ROWS + 1000].copy()
    rows[::3, :17] = np.nan
    parity = require_parity(check_parity(forest, to_onnx(forest), rows))
    assert parity.label_mismatches == 0


def test_given_histogram_boosting_when_converting_then_refused_with_the_estimator_named() -> None:
    features = random_encoded_rows(300, seed=3)
    pipeline = Pipeline([("impute", SimpleImputer()), ("classify", HistGradientBoostingClassifier(max_iter=5))]).fit(
        features, np.arange(300) % 3
    )
    with pytest.raises(ConversionError, match="HistGradientBoostingClassifier"):
        to_onnx(pipeline)


def test_given_string_classes_when_converting_then_refused_asking_for_codes() -> None:
    features = random_encoded_rows(90, seed=4)
    labels = np.array(["Poor", "Standard", "Good"] * 30)
    pipeline = Pipeline([("impute", SimpleImputer()), ("classify", RandomForestClassifier(3))]).fit(features, labels)
    with pytest.raises(ConversionError, match=r"codes \[0, 1, 2\]"):
        to_onnx(pipeline)


def test_given_model_fitted_on_other_columns_when_converting_then_refused() -> None:
    features = random_encoded_rows(90, seed=5)
    frame = pd.DataFrame(features, columns=[f"column_{i}" for i in range(features.shape[1])])
    pipeline = Pipeline([("impute", SimpleImputer()), ("classify", RandomForestClassifier(3))])
    pipeline.fit(frame, np.arange(90) % 3)
    with pytest.raises(ConversionError, match="other features"):
        to_onnx(pipeline)


def test_given_model_fitted_on_named_frame_when_converting_then_parity_holds() -> None:
    features = random_encoded_rows(300, seed=6)
    frame = pd.DataFrame(features, columns=list(FEATURE_NAMES))
    pipeline = Pipeline([("impute", SimpleImputer(keep_empty_features=True)), ("classify", RandomForestClassifier(5))])
    pipeline.fit(frame, np.arange(300) % 3)
    parity = require_parity(check_parity(pipeline, to_onnx(pipeline), random_encoded_rows(1000, seed=7)))
    assert parity.label_mismatches == 0


def test_given_onnx_of_another_model_when_checking_parity_then_mismatches_counted_and_refused() -> None:
    served, other = train_pipeline(seed=0), train_pipeline(seed=1)
    parity = check_parity(served, to_onnx(other), random_encoded_rows(1000, seed=8))
    assert parity.label_mismatches > 0
    assert parity.max_abs_prob_diff > 1e-4
    with pytest.raises(ConversionError, match=f"{parity.label_mismatches} label mismatches"):
        require_parity(parity)


class _LastOfTies:
    """scikit-learn's probabilities, but ties broken towards the highest code instead of the lowest."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def predict_proba(self, rows: np.ndarray) -> np.ndarray:
        return self.pipeline.predict_proba(rows)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        probabilities = self.predict_proba(rows)
        return probabilities.shape[1] - 1 - np.argmax(probabilities[:, ::-1], axis=1)


def test_given_labels_differing_only_on_exact_ties_when_checking_parity_then_ties_not_mismatches() -> None:
    pipeline = train_pipeline(seed=2, trees=2)  # two votes: ties are frequent
    rows = random_encoded_rows(1000, seed=9)
    tie_breaker = _LastOfTies(pipeline)
    parity = check_parity(tie_breaker, to_onnx(pipeline), rows)
    differing = int(np.count_nonzero(tie_breaker.predict(rows) != pipeline.predict(rows)))
    assert differing > 0
    assert parity.tied_labels > 0
    assert parity.label_mismatches == 0
    assert require_parity(parity) is parity


@pytest.mark.parametrize(
    ("parity", "accepted"),
    [
        (Parity(rows=1000, max_abs_prob_diff=5e-5, label_mismatches=0), True),
        (Parity(rows=1000, max_abs_prob_diff=2e-4, label_mismatches=0), False),
        (Parity(rows=1000, max_abs_prob_diff=0.0, label_mismatches=1), False),
        (Parity(rows=1000, max_abs_prob_diff=math.nan, label_mismatches=0), False),
    ],
)
def test_given_parity_figures_when_requiring_parity_then_only_exact_labels_within_tolerance_pass(
    parity: Parity, accepted: bool
) -> None:
    if accepted:
        assert require_parity(parity) is parity
    else:
        with pytest.raises(ConversionError, match="disagree"):
            require_parity(parity)
