"""The served model: verified before it runs, refused when tampered with, outputs mapped to classes."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from onnx import TensorProto, helper

from credit_score.contract import fields as features
from credit_score.contract.bundle import METADATA_FILE, MODEL_FILE, sha256_file
from credit_score.runtime.errors import ModelUnavailable
from credit_score.runtime.model import Model
from tests.support.bundles import rule_label, synthetic_records, tiny_bundle  # noqa: F401


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):  # noqa: F811
    target = tmp_path / "model"
    shutil.copytree(tiny_bundle, target)
    return target


def encoded(count: int, seed: int = 11):
    parsed = [features.parse_record(r)[0] for r in synthetic_records(count, seed=seed)]
    return parsed, features.encode(parsed)


def test_given_tiny_bundle_when_loaded_then_identity_from_metadata(tiny_bundle):  # noqa: F811
    model = Model.load(tiny_bundle)
    assert (model.name, model.version, model.alias) == ("credit-score-classifier", "7", "champion")
    assert model.labels == ("Poor", "Standard", "Good")


def _threshold_rule(probabilities: np.ndarray, bundle_path) -> np.ndarray:
    """The cascade's label rule from its probabilities: Poor if s1 < t1, else Good if s2 >= t2, else Standard."""
    thresholds = json.loads((bundle_path / "metadata.json").read_text())["thresholds"]
    s1 = 1.0 - probabilities[:, 0].astype(np.float64)
    s2 = probabilities[:, 2] / s1
    return np.where(s1 < thresholds["t1"], 0, np.where(s2 >= thresholds["t2"], 2, 1))


def test_given_rows_when_predicted_then_codes_and_probabilities_aligned(tiny_bundle):  # noqa: F811
    parsed, matrix = encoded(300)
    prediction = Model.load(tiny_bundle).predict(matrix)
    assert prediction.codes.shape == (300,)
    assert prediction.probabilities.shape == (300, 3)
    assert prediction.probabilities.dtype == np.float32
    np.testing.assert_allclose(prediction.probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(prediction.codes, _threshold_rule(prediction.probabilities, tiny_bundle))
    agreement = np.mean(prediction.codes == np.array([rule_label(values) for values in parsed]))
    assert agreement > 0.7, "the model must follow the features, not a constant"
    assert len(set(prediction.codes.tolist())) == 3


@pytest.mark.parametrize("rows", [1, 127, 128, 601])
def test_given_batch_sliced_across_threads_when_predicted_then_same_answers_in_order(tiny_bundle, rows):  # noqa: F811
    _, matrix = encoded(rows, seed=rows)
    one = Model.load(tiny_bundle, threads=1).predict(matrix)
    three = Model.load(tiny_bundle, threads=3).predict(matrix)
    np.testing.assert_array_equal(one.codes, three.codes)
    np.testing.assert_array_equal(one.probabilities, three.probabilities)


def test_given_no_thread_count_when_loaded_then_one_per_available_core(tiny_bundle):  # noqa: F811
    assert Model.load(tiny_bundle).threads == len(os.sched_getaffinity(0))


def test_given_tampered_model_when_loading_then_refused(bundle_copy):
    data = bytearray((bundle_copy / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bundle_copy / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelUnavailable) as caught:
        Model.load(bundle_copy)
    assert "sha256" in caught.value.reason


def test_given_missing_bundle_when_loading_then_refused_with_reason(tmp_path):
    with pytest.raises(ModelUnavailable) as caught:
        Model.load(tmp_path / "nowhere")
    assert "metadata.json" in caught.value.reason


def rehash(folder):
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["files"][MODEL_FILE]["sha256"] = sha256_file(folder / MODEL_FILE)
    (folder / METADATA_FILE).write_text(json.dumps(metadata))


def test_given_consistently_hashed_garbage_when_loading_then_onnx_runtime_refusal_reported(bundle_copy):
    (bundle_copy / MODEL_FILE).write_bytes(b"not an onnx model")
    rehash(bundle_copy)
    with pytest.raises(ModelUnavailable) as caught:
        Model.load(bundle_copy)
    assert "ONNX Runtime cannot load" in caught.value.reason


def test_given_model_of_another_signature_when_loading_then_refused(bundle_copy):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 47])
    y = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 47])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["probabilities"])], "other", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    (bundle_copy / MODEL_FILE).write_bytes(model.SerializeToString())
    rehash(bundle_copy)
    with pytest.raises(ModelUnavailable) as caught:
        Model.load(bundle_copy)
    assert "'features'" in caught.value.reason


def test_given_bundle_metadata_when_inspected_then_full_contract(tiny_bundle):  # noqa: F811
    metadata = json.loads((tiny_bundle / METADATA_FILE).read_text())
    assert set(metadata["model"]) == {"name", "version", "alias", "run_id", "source", "registry"}
    assert metadata["input"]["feature_names"] == list(features.FEATURE_NAMES)
    assert metadata["input"]["fields"] == features.schema()
    assert metadata["parity"]["label_mismatches"] == 0
    assert metadata["parity"]["max_abs_prob_diff"] < 1e-5
    assert set(metadata["reference_profile"]["numeric"]) == {f.name for f in features.NUMERIC_FIELDS}
    assert {"created_at", "downloaded_at", "classes", "metrics", "files", "format_version"} <= set(metadata)


def test_available_cores_without_an_affinity_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS and Windows have no ``os.sched_getaffinity``: the CPU count stands in for it."""
    from credit_score.runtime import model as model_module

    monkeypatch.delattr(model_module.os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(model_module.os, "cpu_count", lambda: 3)
    assert model_module.available_cores() == 3


def test_given_model_without_the_margins_output_when_loading_then_refused(bundle_copy):
    features_in = helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, len(features.FEATURE_NAMES)])
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
        helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 3]),
    ]
    nodes = [
        helper.make_node("Slice", ["features", "zero", "three", "one"], ["probabilities"]),
        helper.make_node("ReduceMax", ["features"], ["label_float"], axes=[1], keepdims=0),
        helper.make_node("Cast", ["label_float"], ["label"], to=TensorProto.INT64),
    ]
    constants = [helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in (("zero", 0), ("three", 3), ("one", 1))]
    graph = helper.make_graph(nodes, "no_margins", [features_in], outputs, constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    (bundle_copy / MODEL_FILE).write_bytes(model.SerializeToString())
    rehash(bundle_copy)
    with pytest.raises(ModelUnavailable) as caught:
        Model.load(bundle_copy)
    assert "'margins'" in caught.value.reason


@pytest.mark.parametrize(
    "thresholds", [None, {"t1": 0.5}, {"t1": 0.5, "t2": 1.5}, {"t1": "half", "t2": 0.5}, {"t1": 1e-9, "t2": 0.5}]
)
def test_given_bundle_without_usable_thresholds_when_loading_then_refused(bundle_copy, thresholds):
    metadata = json.loads((bundle_copy / METADATA_FILE).read_text())
    if thresholds is None:
        del metadata["thresholds"]
    else:
        metadata["thresholds"] = thresholds
    (bundle_copy / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ModelUnavailable) as caught:
        Model.load(bundle_copy)
    assert "thresholds" in caught.value.reason


def test_given_other_thresholds_in_the_metadata_when_predicting_then_they_decide_the_labels(bundle_copy):
    _, matrix = encoded(400, seed=3)
    served = Model.load(bundle_copy).predict(matrix)
    metadata = json.loads((bundle_copy / METADATA_FILE).read_text())
    metadata["thresholds"] = {"t1": 0.8, "t2": 0.2}
    (bundle_copy / METADATA_FILE).write_text(json.dumps(metadata))
    moved = Model.load(bundle_copy).predict(matrix)
    np.testing.assert_array_equal(moved.probabilities, served.probabilities)  # the same single pass of the graph
    assert moved.decision.cutoffs == (0.8, 0.2)
    np.testing.assert_array_equal(moved.codes, _threshold_rule(moved.probabilities, bundle_copy))
    assert not np.array_equal(moved.codes, served.codes)


def test_given_a_cutoff_between_a_rows_exact_p_and_its_printed_p_when_predicting_then_the_printed_numbers_decide(
    bundle_copy,
):
    """The graph's own label compares unrounded float32 numbers; the served label follows the printed ones."""
    import onnxruntime

    _, matrix = encoded(300, seed=17)
    printed = np.array(Model.load(bundle_copy).predict(matrix).decision.p)
    session = onnxruntime.InferenceSession(str(bundle_copy / MODEL_FILE), providers=["CPUExecutionProvider"])
    raw_margins = session.run(["margins"], {"features": matrix})[0].astype(np.float64)
    exact = 1.0 / (1.0 + np.exp(-raw_margins[:, 0]))
    row = int(np.argmax(printed[:, 0] - exact))  # the exact p furthest below its printed p
    assert printed[row, 0] - exact[row] > 2e-7
    cutoff = (exact[row] + printed[row, 0]) / 2  # prints as the row's printed p
    metadata = json.loads((bundle_copy / METADATA_FILE).read_text())
    metadata["thresholds"] = {"t1": cutoff, "t2": 0.5}
    (bundle_copy / METADATA_FILE).write_text(json.dumps(metadata))
    served = Model.load(bundle_copy).predict(matrix[row : row + 1])
    assert served.decision.p[0][0] == served.decision.cutoffs[0]  # printed p reaches the printed cut-off
    assert served.codes[0] != 0
    # the graph's own comparison of the unrounded numbers would have said Poor (with these thresholds)
    assert exact[row] < cutoff
