"""The LightGBM cascade → one ONNX graph in the bundle's contract, and the parity check that decides if it ships.

Each booster is converted by onnxmltools (its LightGBM converter needs target opset <= 15) and
its tree ensemble re-emitted as a regressor without post-transform, so the graph exposes the raw
margins; a few arithmetic nodes then apply the class formula and the threshold label rule of
``credit_score.modelling.artifacts``. Graph I/O: input ``features`` float32 [None, 18]; outputs
``label`` int64 [None], ``probabilities`` float32 [None, 3] (Poor, Standard, Good) and
``margins`` float32 [None, 2] (margin1, margin2), the last for the explainer's parity checks.

The served model is the ONNX one, so a conversion that changes a prediction must stop the build:
:func:`check_parity` runs both on the same rows and :func:`require_parity` refuses any label
mismatch or a probability gap above ``MAX_ABS_PROB_DIFF``. The one allowance: a row whose s1 or
s2 lies within the tolerance of its threshold may be labelled either way (float32 against
float64), and is counted apart. Build time only; the Lambda image never imports this module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from credit_score.contract.bundle import INPUT_NAME, LABEL_OUTPUT, PROBABILITIES_OUTPUT
from credit_score.contract.fields import FEATURE_NAMES
from credit_score.modelling.artifacts import Cascade, class_probabilities, sigmoid, threshold_labels

MARGINS_OUTPUT = "margins"
MAX_ABS_PROB_DIFF = 1e-4
TARGET_OPSET = 15  # the highest onnxmltools' LightGBM converter supports
ML_OPSET = 1  # TreeEnsembleRegressor as onnxmltools emits it
IR_VERSION = 8  # what opset 15 needs; onnxruntime 1.31 reads up to 13
_TREE_ATTRIBUTES = {
    "class_ids": "target_ids",
    "class_nodeids": "target_nodeids",
    "class_treeids": "target_treeids",
    "class_weights": "target_weights",
}
_CLASSIFIER_ONLY = {"classlabels_int64s", "classlabels_strings", "post_transform"}


class ConversionError(Exception):
    """The model cannot be converted to the bundle's ONNX contract, or the result disagrees with it."""


@dataclass(frozen=True)
class Parity:
    """How closely ONNX Runtime reproduces the LightGBM cascade; stored in the bundle's metadata."""

    rows: int
    max_abs_prob_diff: float
    label_mismatches: int
    tied_labels: int = 0
    max_abs_margin_diff: float = 0.0

    def as_metadata(self) -> dict[str, Any]:
        return asdict(self)


def _margin_node(booster: Any, prefix: str) -> Any:
    """The booster's trees as a TreeEnsembleRegressor node ``features`` → ``{prefix}margin`` [N, 1]."""
    from onnx import helper
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    try:
        converted = convert_lightgbm(
            booster,
            initial_types=[(INPUT_NAME, FloatTensorType([None, len(FEATURE_NAMES)]))],
            target_opset=TARGET_OPSET,
            zipmap=False,
        )
    except Exception as error:  # onnxmltools raises many types for unsupported models
        which = prefix.rstrip("_")
        raise ConversionError(f"onnxmltools cannot convert the {which} booster ({type(error).__name__})") from None
    trees = [node for node in converted.graph.node if node.op_type == "TreeEnsembleClassifier"]
    if len(trees) != 1:
        raise ConversionError(f"the {prefix.rstrip('_')} booster is not a binary LightGBM classifier")
    node = helper.make_node(
        "TreeEnsembleRegressor",
        [INPUT_NAME],
        [f"{prefix}margin"],
        name=f"{prefix}trees",
        domain="ai.onnx.ml",
        n_targets=1,
        post_transform="NONE",
        aggregate_function="SUM",
    )
    for attribute in trees[0].attribute:
        if attribute.name not in _CLASSIFIER_ONLY:
            copied = node.attribute.add()
            copied.CopyFrom(attribute)
            copied.name = _TREE_ATTRIBUTES.get(attribute.name, attribute.name)
    return node


def to_onnx(cascade: Cascade) -> bytes:
    """One graph: both margins, the class probabilities and the threshold label (see the module doc)."""
    from onnx import TensorProto, checker, helper

    if cascade.feature_names != FEATURE_NAMES:
        raise ConversionError("model was trained on other features than features.FEATURE_NAMES; retrain it")
    t1, t2 = cascade.thresholds

    def constant(name: str, value: float | int, kind: int) -> Any:
        return helper.make_tensor(name, kind, [], [value])

    nodes = [
        _margin_node(cascade.boosters[0], "standard_or_better_"),
        _margin_node(cascade.boosters[1], "good_given_standard_"),
        helper.make_node(
            "Concat", ["standard_or_better_margin", "good_given_standard_margin"], [MARGINS_OUTPUT], axis=1
        ),
        helper.make_node("Sigmoid", ["standard_or_better_margin"], ["s1"]),
        helper.make_node("Sigmoid", ["good_given_standard_margin"], ["s2"]),
        helper.make_node("Sub", ["one", "s1"], ["p_poor"]),
        helper.make_node("Sub", ["one", "s2"], ["not_s2"]),
        helper.make_node("Mul", ["s1", "not_s2"], ["p_standard"]),
        helper.make_node("Mul", ["s1", "s2"], ["p_good"]),
        helper.make_node("Concat", ["p_poor", "p_standard", "p_good"], [PROBABILITIES_OUTPUT], axis=1),
        helper.make_node("Less", ["s1", "t1"], ["is_poor"]),
        helper.make_node("GreaterOrEqual", ["s2", "t2"], ["is_good"]),
        helper.make_node("Where", ["is_good", "code_good", "code_standard"], ["upper_code"]),
        helper.make_node("Where", ["is_poor", "code_poor", "upper_code"], ["code_column"]),
        helper.make_node("Reshape", ["code_column", "flat"], [LABEL_OUTPUT]),
    ]
    initializers = [
        constant("one", 1.0, TensorProto.FLOAT),
        constant("t1", t1, TensorProto.FLOAT),
        constant("t2", t2, TensorProto.FLOAT),
        constant("code_poor", 0, TensorProto.INT64),
        constant("code_standard", 1, TensorProto.INT64),
        constant("code_good", 2, TensorProto.INT64),
        helper.make_tensor("flat", TensorProto.INT64, [1], [-1]),
    ]
    graph = helper.make_graph(
        nodes,
        "credit_score_cascade",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, len(FEATURE_NAMES)])],
        [
            helper.make_tensor_value_info(LABEL_OUTPUT, TensorProto.INT64, [None]),
            helper.make_tensor_value_info(PROBABILITIES_OUTPUT, TensorProto.FLOAT, [None, 3]),
            helper.make_tensor_value_info(MARGINS_OUTPUT, TensorProto.FLOAT, [None, 2]),
        ],
        initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", TARGET_OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="credit-score",
    )
    model.ir_version = IR_VERSION
    try:
        checker.check_model(model)
    except Exception as error:  # onnx raises ValidationError and friends
        raise ConversionError(f"the composed ONNX graph is invalid ({type(error).__name__})") from None
    return model.SerializeToString()


def run_graph(onnx_bytes: bytes, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The graph's labels, probabilities and margins for ``rows`` (encoded float32, NaN for missing)."""
    import onnxruntime as ort

    matrix = np.ascontiguousarray(rows, dtype=np.float32)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    try:
        labels, probabilities, margins = session.run(
            [LABEL_OUTPUT, PROBABILITIES_OUTPUT, MARGINS_OUTPUT], {INPUT_NAME: matrix}
        )
    except Exception as error:  # onnxruntime raises its own exception types
        raise ConversionError(f"ONNX model does not run on the parity rows ({type(error).__name__})") from None
    return labels, probabilities, margins


def check_parity(cascade: Cascade, onnx_bytes: bytes, rows: np.ndarray, tolerance: float = MAX_ABS_PROB_DIFF) -> Parity:
    """Compare ONNX Runtime against LightGBM on ``rows`` (encoded float32, NaN for missing)."""
    matrix = np.ascontiguousarray(rows, dtype=np.float32)
    labels, probabilities, margins = run_graph(onnx_bytes, matrix)
    expected_margins = cascade.margins(matrix)
    expected = class_probabilities(expected_margins)
    if probabilities.shape != expected.shape or margins.shape != expected_margins.shape:
        raise ConversionError(f"ONNX probabilities have shape {probabilities.shape}, LightGBM {expected.shape}")
    differing = np.asarray(labels).ravel() != threshold_labels(expected_margins, cascade.thresholds)
    near = (np.abs(sigmoid(expected_margins[:, 0]) - cascade.thresholds[0]) <= tolerance) | (
        np.abs(sigmoid(expected_margins[:, 1]) - cascade.thresholds[1]) <= tolerance
    )
    tied = int(np.count_nonzero(differing & near))
    return Parity(
        rows=len(matrix),
        max_abs_prob_diff=float(np.abs(probabilities.astype(np.float64) - expected).max(initial=0.0)),
        label_mismatches=int(np.count_nonzero(differing)) - tied,
        tied_labels=tied,
        max_abs_margin_diff=float(np.abs(margins.astype(np.float64) - expected_margins).max(initial=0.0)),
    )


def require_parity(parity: Parity, tolerance: float = MAX_ABS_PROB_DIFF) -> Parity:
    """Refuse a conversion that changes any label or moves a probability by more than ``tolerance``."""
    if parity.label_mismatches or not parity.max_abs_prob_diff <= tolerance:
        raise ConversionError(
            f"ONNX and LightGBM disagree on {parity.rows} parity rows: {parity.label_mismatches} label "
            f"mismatches, max |Δp| {parity.max_abs_prob_diff:.3g} (allowed 0 and {tolerance:g})"
        )
    return parity
