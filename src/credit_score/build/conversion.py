"""scikit-learn pipeline → ONNX in the bundle's contract, and the parity check that decides if it ships.

The served model is the ONNX one, so a conversion that changes a prediction must stop the build:
:func:`check_parity` runs both models on the same rows and :func:`require_parity` refuses any
label mismatch or a probability gap above ``MAX_ABS_PROB_DIFF``. The one allowance: an exact tie
between two classes may be broken either way (float32 sums order them), and is counted apart. Build time only (skl2onnx,
scikit-learn); the Lambda image never imports this module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from credit_score.contract.bundle import CLASSES, INPUT_NAME, LABEL_OUTPUT, PROBABILITIES_OUTPUT
from credit_score.contract.fields import FEATURE_NAMES

MAX_ABS_PROB_DIFF = 1e-4
TARGET_OPSET = 17  # onnxruntime 1.31 runs it; ai.onnx.ml follows skl2onnx's matching default


class ConversionError(Exception):
    """The model cannot be converted to the bundle's ONNX contract, or the result disagrees with it."""


@dataclass(frozen=True)
class Parity:
    """How closely ONNX Runtime reproduces scikit-learn; stored in the bundle's metadata."""

    rows: int
    max_abs_prob_diff: float
    label_mismatches: int
    tied_labels: int = 0

    def as_metadata(self) -> dict[str, Any]:
        return asdict(self)


def to_onnx(pipeline: Any) -> bytes:
    """Convert a fitted classifier pipeline (47 encoded columns in, codes 0/1/2 out) to ONNX bytes.

    The graph gets the contract's names: input ``features`` float32 [None, 47], outputs ``label``
    int64 [None] and ``probabilities`` float32 [None, 3], without ZipMap.
    """
    from skl2onnx import to_onnx as skl2onnx_to_onnx

    _check_classes(pipeline)
    _check_feature_names(pipeline)
    classifier = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    sample = np.zeros((1, len(FEATURE_NAMES)), dtype=np.float32)
    try:
        model = skl2onnx_to_onnx(
            pipeline,
            sample,
            options={id(classifier): {"zipmap": False}},
            target_opset=TARGET_OPSET,
        )
    except Exception as error:  # skl2onnx raises many types for unsupported estimators
        reason = str(error).splitlines()[0] if str(error) else ""
        raise ConversionError(
            f"skl2onnx cannot convert {type(classifier).__name__} ({type(error).__name__}: {reason[:200]}); "
            "register a RandomForest, GradientBoosting or a soft vote of them instead"
        ) from None
    _rename_graph_io(model)
    _drop_unused_initializers(model.graph)
    return model.SerializeToString()


def check_parity(pipeline: Any, onnx_bytes: bytes, rows: np.ndarray, tolerance: float = MAX_ABS_PROB_DIFF) -> Parity:
    """Compare ONNX Runtime against scikit-learn on ``rows`` (encoded float32, NaN for missing).

    A differing label counts as a tie, not a mismatch, when scikit-learn rates the ONNX label within
    ``tolerance`` of its own pick: two classes with equal votes, ordered differently by float32 sums.
    """
    import onnxruntime as ort

    matrix = np.ascontiguousarray(rows, dtype=np.float32)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    try:
        labels, probabilities = session.run([LABEL_OUTPUT, PROBABILITIES_OUTPUT], {INPUT_NAME: matrix})
    except Exception as error:  # onnxruntime raises its own exception types
        raise ConversionError(f"ONNX model does not run on the parity rows ({type(error).__name__})") from None
    features = _sklearn_input(pipeline, matrix)
    expected_probabilities = np.asarray(pipeline.predict_proba(features), dtype=np.float64)
    expected_labels = np.asarray(pipeline.predict(features)).ravel()
    if probabilities.shape != expected_probabilities.shape:
        raise ConversionError(
            f"ONNX probabilities have shape {probabilities.shape}, scikit-learn {expected_probabilities.shape}"
        )
    labels = np.asarray(labels).ravel()
    differing = np.flatnonzero(labels != expected_labels)
    known = (labels[differing] >= 0) & (labels[differing] < expected_probabilities.shape[1])
    rated = expected_probabilities[differing[known], labels[differing[known]]]
    tied = int(np.count_nonzero(expected_probabilities[differing[known]].max(axis=1) - rated <= tolerance))
    difference = np.abs(probabilities.astype(np.float64) - expected_probabilities)
    return Parity(
        rows=len(matrix),
        max_abs_prob_diff=float(difference.max(initial=0.0)),  # NaN propagates, and require_parity refuses it
        label_mismatches=len(differing) - tied,
        tied_labels=tied,
    )


def require_parity(parity: Parity, tolerance: float = MAX_ABS_PROB_DIFF) -> Parity:
    """Refuse a conversion that changes any label or moves a probability by more than ``tolerance``."""
    if parity.label_mismatches or not parity.max_abs_prob_diff <= tolerance:
        raise ConversionError(
            f"ONNX and scikit-learn disagree on {parity.rows} parity rows: {parity.label_mismatches} label "
            f"mismatches, max |Δp| {parity.max_abs_prob_diff:.3g} (allowed 0 and {tolerance:g})"
        )
    return parity


def _check_classes(pipeline: Any) -> None:
    classes = [int(code) if isinstance(code, (int, np.integer)) else code for code in getattr(pipeline, "classes_", [])]
    expected = [code for code, _ in CLASSES]
    if classes != expected:
        raise ConversionError(f"model classes must be the codes {expected} (Poor, Standard, Good), got {classes}")


def _check_feature_names(pipeline: Any) -> None:
    names = getattr(pipeline, "feature_names_in_", None)
    width = getattr(pipeline, "n_features_in_", len(FEATURE_NAMES))
    if (names is not None and tuple(names) != FEATURE_NAMES) or width != len(FEATURE_NAMES):
        raise ConversionError("model was trained on other features than features.FEATURE_NAMES; retrain it")


def _sklearn_input(pipeline: Any, matrix: np.ndarray) -> Any:
    """Name the columns when the model was fitted on a DataFrame, so scikit-learn checks them."""
    if getattr(pipeline, "feature_names_in_", None) is None:
        return matrix
    import pandas as pd

    return pd.DataFrame(matrix, columns=list(FEATURE_NAMES))


def _rename_graph_io(model: Any) -> None:
    """Give the graph the contract's input and output names, whatever skl2onnx called them."""
    graph = model.graph
    if len(graph.input) != 1 or len(graph.output) != 2:
        raise ConversionError(
            f"converted graph has {len(graph.input)} inputs and {len(graph.output)} outputs, expected 1 and 2"
        )
    renames = {
        graph.input[0].name: INPUT_NAME,
        graph.output[0].name: LABEL_OUTPUT,
        graph.output[1].name: PROBABILITIES_OUTPUT,
    }
    for value in (*graph.input, *graph.output):
        value.name = renames.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]


def _drop_unused_initializers(graph: Any) -> None:
    """skl2onnx leaves constants no node reads (a voting model's ``classes_ind``); ONNX Runtime warns on each load."""
    used = {name for node in graph.node for name in node.input}
    kept = [initializer for initializer in graph.initializer if initializer.name in used]
    if len(kept) != len(graph.initializer):
        del graph.initializer[:]
        graph.initializer.extend(kept)
