"""LightGBM cascade → one ONNX graph in the bundle contract, and the parity check that gates a build.

The cascade is trained on the real Kaggle-schema rows (read from ../shared, never copied here).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from credit_score.contract.fields import FEATURE_NAMES
from credit_score.modelling.artifacts import class_probabilities, sigmoid
from credit_score.modelling.conversion import ConversionError, Parity, check_parity, require_parity, to_onnx
from credit_score.modelling.training.cascade import fit_cascade
from credit_score.modelling.training.data import read_raw_csv, split, to_dataset
from tests.support.paths import REAL_DATA
from tests.support.registry_models import random_encoded_rows, train_cascade


@pytest.fixture(scope="module")
def real():
    if not REAL_DATA.is_file():
        pytest.skip(f"real data not found at {REAL_DATA}")
    return split(to_dataset(read_raw_csv(REAL_DATA)), 0.2, 42)


@pytest.fixture(scope="module")
def cascade(real):
    training, _ = real
    return fit_cascade(training.features, training.labels, training.groups, rounds=(120, 90))


def _io(model: onnx.ModelProto) -> dict[str, tuple[int, list[object]]]:
    def describe(value: onnx.ValueInfoProto) -> tuple[int, list[object]]:
        dims = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
        return value.type.tensor_type.elem_type, dims

    return {value.name: describe(value) for value in (*model.graph.input, *model.graph.output)}


def test_given_cascade_when_converting_then_graph_follows_the_bundle_contract() -> None:
    model = onnx.load_from_string(to_onnx(train_cascade(seed=3)))

    onnx.checker.check_model(model)
    assert _io(model) == {
        "features": (onnx.TensorProto.FLOAT, [None, len(FEATURE_NAMES)]),
        "label": (onnx.TensorProto.INT64, [None]),
        "probabilities": (onnx.TensorProto.FLOAT, [None, 3]),
        "margins": (onnx.TensorProto.FLOAT, [None, 2]),
    }
    assert {opset.domain: opset.version for opset in model.opset_import}[""] <= 15
    assert [node.op_type for node in model.graph.node].count("TreeEnsembleRegressor") == 2


def test_given_real_rows_when_checking_parity_then_identical_labels_probabilities_within_1e6(cascade, real) -> None:
    _, evaluation = real
    rows = evaluation.features
    assert np.isnan(rows).any(), "the held-out rows carry missing values"

    parity = require_parity(check_parity(cascade, to_onnx(cascade), rows))

    assert parity.rows == len(rows) >= 1000
    assert parity.label_mismatches == 0
    assert parity.max_abs_prob_diff <= 1e-6
    assert parity.max_abs_margin_diff <= 1e-4


def test_given_converted_graph_when_run_then_outputs_follow_the_class_formula_and_threshold_rule(cascade, real) -> None:
    _, evaluation = real
    session = ort.InferenceSession(to_onnx(cascade), providers=["CPUExecutionProvider"])

    labels, probabilities, margins = session.run(
        ["label", "probabilities", "margins"], {"features": evaluation.features}
    )

    np.testing.assert_allclose(margins, cascade.margins(evaluation.features), atol=1e-4)
    np.testing.assert_allclose(probabilities, class_probabilities(margins.astype(np.float64)), atol=1e-6)
    s1, s2 = sigmoid(margins[:, 0]), sigmoid(margins[:, 1])
    t1, t2 = cascade.thresholds
    clear = (np.abs(s1 - t1) > 1e-6) & (np.abs(s2 - t2) > 1e-6)
    expected = np.where(s1 < t1, 0, np.where(s2 >= t2, 2, 1))
    np.testing.assert_array_equal(labels[clear], expected[clear])
    assert set(labels.tolist()) == {0, 1, 2}


def test_given_cascade_for_other_columns_when_converting_then_refused() -> None:
    other = dataclasses.replace(train_cascade(seed=1), feature_names=("a", "b"))

    with pytest.raises(ConversionError, match="other features"):
        to_onnx(other)


def test_given_onnx_of_another_model_when_checking_parity_then_mismatches_counted_and_refused() -> None:
    served, other = train_cascade(seed=0), train_cascade(seed=1)
    rows = random_encoded_rows(1000, seed=5)

    parity = check_parity(served, to_onnx(other), rows)

    assert parity.label_mismatches > 0
    assert parity.max_abs_prob_diff > 1e-4
    with pytest.raises(ConversionError, match="label mismatches"):
        require_parity(parity)


def test_given_thresholds_that_differ_from_the_graphs_when_checking_parity_then_labels_disagree() -> None:
    served = train_cascade(seed=2)
    shifted = dataclasses.replace(served, thresholds=(0.3, 0.7))

    parity = check_parity(served, to_onnx(shifted), random_encoded_rows(1000, seed=6))

    assert parity.max_abs_prob_diff <= 1e-6  # same boosters ...
    assert parity.label_mismatches > 0  # ... but the label rule is part of the model


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
