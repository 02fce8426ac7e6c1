"""The served model: a verified bundle run by ONNX Runtime, outputs mapped to class codes and labels.

Loading verifies the bundle (hashes, feature encoding, class codes) before ONNX Runtime sees it and
checks the ONNX signature once, so a wrong model fails at load rather than per request.

Threads: the session runs single-threaded, which is fastest for the one-record requests that
dominate (ORT would otherwise split one row's 200 trees across threads and pay the hand-off on every
call). A large batch is instead cut into ``threads`` slices that run concurrently on the same session
(ONNX Runtime releases the GIL and its sessions are thread-safe), so batches still use every core.
numpy and onnxruntime only: no scikit-learn, pandas or mlflow in the Lambda image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from credit_score.contract.bundle import (
    EXPLAINER_FILE,
    INPUT_NAME,
    MARGINS_OUTPUT,
    MODEL_FILE,
    PROBABILITIES_OUTPUT,
    Bundle,
    BundleError,
    load_bundle,
)
from credit_score.contract.decision import Cutoffs, Decision
from credit_score.contract.fields import FEATURE_NAMES
from credit_score.runtime.errors import ModelUnavailable
from credit_score.runtime.explainer import Explainer, ExplainerError

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

PARALLEL_MIN_ROWS = 128  # below this, slicing a batch costs more than it saves


@dataclass(frozen=True, slots=True)
class Prediction:
    """``codes`` (n,) int class codes, ``probabilities`` (n, classes) float32 and the ``decision`` that gave
    the codes (its printed numbers), row-aligned."""

    codes: np.ndarray
    probabilities: np.ndarray
    decision: Decision | None = None  # None only where a caller builds a Prediction without the model


def available_cores() -> int:
    """Cores this process may run on: the affinity mask where the OS has one (Linux), else the CPU count."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


class Model:
    """One ONNX Runtime session over a verified bundle; safe to share across invocations."""

    def __init__(
        self,
        bundle: Bundle,
        session: object,
        threads: int = 1,
        explainer: Explainer | None = None,
        cutoffs: Cutoffs | None = None,
    ) -> None:
        self.bundle = bundle
        self.explainer = explainer  # None for a bundle without reason-code tables: answers carry no reasons
        self.name = bundle.name
        self.version = bundle.version
        self.alias = bundle.alias
        self.labels = bundle.labels
        self.threads = threads
        self.cutoffs = cutoffs or Cutoffs.of(bundle.thresholds)  # the label rule's, printed in every answer
        self._run = session.run  # type: ignore[attr-defined]
        # The label comes from the margins through the contract's decision rule, not from the graph's own
        # label output, so that it follows from the numbers the answer prints (contract/decision.py).
        self._outputs = [PROBABILITIES_OUTPUT, MARGINS_OUTPUT]
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, threads: int = 0) -> Model:
        """Verify and load the bundle at ``path``; :class:`ModelUnavailable` says why it cannot be served.

        ``threads`` is how many slices a large batch runs in; 0 means one per available core.
        """
        try:
            bundle = load_bundle(path)
            cutoffs = Cutoffs.of(bundle.thresholds)  # checked at load, not on the first request
        except (BundleError, ValueError) as error:
            raise ModelUnavailable(str(error)) from None
        try:
            session = _session(str(bundle.model_path))
        except Exception as error:  # onnxruntime raises its own exception types for corrupt models
            raise ModelUnavailable(f"ONNX Runtime cannot load {MODEL_FILE}: {type(error).__name__}") from None
        _check_signature(session)
        explainer = None
        if bundle.has_file(EXPLAINER_FILE):
            try:
                explainer = Explainer.load(bundle.path / EXPLAINER_FILE)
            except ExplainerError as error:
                raise ModelUnavailable(f"{EXPLAINER_FILE}: {error}") from None
        return cls(bundle, session, threads or available_cores(), explainer, cutoffs)

    def predict(self, matrix: np.ndarray) -> Prediction:
        """Class codes, probabilities and decisions for rows encoded in FEATURE_NAMES order: one pass of the graph."""
        if self.threads < 2 or len(matrix) < PARALLEL_MIN_ROWS:
            probabilities, margins = self._run(self._outputs, {INPUT_NAME: matrix})
        else:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor  # 7 ms of import a single-record cold start skips

                self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="model")
            first, *rest = np.array_split(matrix, self.threads)
            futures = [self._pool.submit(self._run, self._outputs, {INPUT_NAME: part}) for part in rest]
            results = [self._run(self._outputs, {INPUT_NAME: first})] + [future.result() for future in futures]
            probabilities = np.concatenate([r[0] for r in results])
            margins = np.concatenate([r[1] for r in results])
        decision = self.cutoffs.decide(margins)
        return Prediction(decision.codes, probabilities, decision)


def _session(model_path: str) -> object:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])


def _check_signature(session: object) -> None:
    """The ONNX contract of bundle.py, checked once so a wrong model fails at load, not per request."""
    inputs = {i.name: i for i in session.get_inputs()}  # type: ignore[attr-defined]
    outputs = {o.name for o in session.get_outputs()}  # type: ignore[attr-defined]
    feature_input = inputs.get(INPUT_NAME)
    if feature_input is None or feature_input.type != "tensor(float)" or len(inputs) != 1:
        raise ModelUnavailable(f"model.onnx must take one float tensor named '{INPUT_NAME}'")
    if feature_input.shape[-1] != len(FEATURE_NAMES):
        raise ModelUnavailable(f"model.onnx must take {len(FEATURE_NAMES)} features")
    if not {PROBABILITIES_OUTPUT, MARGINS_OUTPUT} <= outputs:
        raise ModelUnavailable(f"model.onnx must output '{PROBABILITIES_OUTPUT}' and '{MARGINS_OUTPUT}'")
