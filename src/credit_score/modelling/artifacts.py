"""The one home of a training run's artifact layout, and the ordinal cascade it stores.

Training writes, the downloader and the explainer read, and the registered pyfunc ships, the same
files::

    model/                              the registered MLflow pyfunc (21 raw fields in, see training/pyfunc.py)
    boosters/standard_or_better.txt     LightGBM text model: margin1, P(y >= Standard) = sigmoid(margin1)
    boosters/good_given_standard.txt    LightGBM text model: margin2, P(y = Good | y >= Standard) = sigmoid(margin2)
    cascade.json                        thresholds, feature names, monotone features, the class formula
    bundle/metrics.json                 evaluation metrics (flat names, see training/evaluate.py)
    bundle/reference_profile.json       training-data profile for drift (format in contract/profile.py)
    bundle/parity_sample.npy            float32 encoded rows (NaN kept) for the ONNX and explainer parity checks
    bundle/monotonicity.json            the step test's report (rows, checks, violations per feature step)
    bundle/fairness.json                fairness by age band of the evaluation rows (runs before it lack it)
    confusion_matrix.json, .png         evaluation rows: true classes (rows) by predicted (columns)

The class probabilities are ``P(Poor) = 1 - s1``, ``P(Standard) = s1 (1 - s2)``, ``P(Good) = s1 s2``:
a valid distribution for any margins, and each class moves the right way when both margins are
monotone. The label is not the argmax but the threshold rule of :meth:`Cascade.labels`, which
can only move toward a worse class when a margin falls.

Build time only (numpy, lightgbm and the contract); the registered pyfunc ships this module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from credit_score.contract.fields import FEATURE_NAMES

MODEL_ARTIFACT = "model"
BOOSTERS_DIR = "boosters"
STANDARD_OR_BETTER = "standard_or_better"
GOOD_GIVEN_STANDARD = "good_given_standard"
BOOSTER_NAMES: tuple[str, str] = (STANDARD_OR_BETTER, GOOD_GIVEN_STANDARD)
BOOSTER_FILES: tuple[str, str] = tuple(f"{BOOSTERS_DIR}/{name}.txt" for name in BOOSTER_NAMES)  # type: ignore[assignment]
CASCADE_FILE = "cascade.json"
RUN_BUNDLE_DIR = "bundle"
METRICS_FILE = f"{RUN_BUNDLE_DIR}/metrics.json"
REFERENCE_PROFILE_FILE = f"{RUN_BUNDLE_DIR}/reference_profile.json"
PARITY_SAMPLE_FILE = f"{RUN_BUNDLE_DIR}/parity_sample.npy"
MONOTONICITY_FILE = f"{RUN_BUNDLE_DIR}/monotonicity.json"
FAIRNESS_FILE = f"{RUN_BUNDLE_DIR}/fairness.json"  # by age band, evaluation rows (contract/fairness.py); optional
CONFUSION_JSON = "confusion_matrix.json"
CONFUSION_PNG = "confusion_matrix.png"
CASCADE_FORMAT = 2  # 2: monotone_features maps each feature to its direction; 1 listed names, all decreasing
DECREASING, INCREASING = -1, 1  # LightGBM's monotone constraint signs
DIRECTION_NAMES = {DECREASING: "decreasing", INCREASING: "increasing"}
CLASS_FORMULA = {
    "s1": f"sigmoid(margin of {STANDARD_OR_BETTER})",
    "s2": f"sigmoid(margin of {GOOD_GIVEN_STANDARD})",
    "Poor": "1 - s1",
    "Standard": "s1 * (1 - s2)",
    "Good": "s1 * s2",
    "label": "Poor if s1 < t1, else Good if s2 >= t2, else Standard",
}


class CascadeError(Exception):
    """The run's cascade files are missing, unreadable or built for another encoding."""


def sigmoid(margins: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow warnings for large margins."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(margins, dtype=np.float64)))


def class_probabilities(margins: np.ndarray) -> np.ndarray:
    """``(n, 2)`` margins → ``(n, 3)`` probabilities in code order (Poor, Standard, Good)."""
    s1, s2 = sigmoid(margins[:, 0]), sigmoid(margins[:, 1])
    return np.column_stack([1.0 - s1, s1 * (1.0 - s2), s1 * s2])


def threshold_labels(margins: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """The label rule: Poor if s1 < t1, else Good if s2 >= t2, else Standard (codes 0, 2, 1)."""
    s1, s2 = sigmoid(margins[:, 0]), sigmoid(margins[:, 1])
    return np.where(s1 < thresholds[0], 0, np.where(s2 >= thresholds[1], 2, 1)).astype(np.int64)


@dataclass(frozen=True)
class Cascade:
    """Two LightGBM boosters over the encoded columns (FEATURE_NAMES), their label thresholds and monotone features.

    ``monotone`` maps each constrained feature to its sign: :data:`DECREASING` (a higher value can
    only worsen the answer) or :data:`INCREASING` (only improve it).
    """

    boosters: tuple[Any, Any]
    thresholds: tuple[float, float]
    monotone: dict[str, int]
    feature_names: tuple[str, ...] = FEATURE_NAMES

    def margins(self, features: np.ndarray) -> np.ndarray:
        """``(n, 2)`` raw scores (margin1, margin2) in float64."""
        matrix = np.asarray(features, dtype=np.float64)
        return np.column_stack([booster.predict(matrix, raw_score=True) for booster in self.boosters])

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        return class_probabilities(self.margins(features))

    def labels(self, features: np.ndarray) -> np.ndarray:
        return threshold_labels(self.margins(features), self.thresholds)

    def monotone_directions(self) -> dict[str, str]:
        """``{feature: "decreasing" | "increasing"}``, as ``cascade.json`` and the bundle metadata show it."""
        return {name: DIRECTION_NAMES[sign] for name, sign in self.monotone.items()}

    def description(self) -> dict[str, Any]:
        """The ``cascade.json`` document (everything but the boosters)."""
        return {
            "format": CASCADE_FORMAT,
            "boosters": dict(zip(BOOSTER_NAMES, BOOSTER_FILES, strict=True)),
            "thresholds": {"t1": self.thresholds[0], "t2": self.thresholds[1]},
            "feature_names": list(self.feature_names),
            "monotone_features": self.monotone_directions(),
            "class_formula": CLASS_FORMULA,
        }


def save_cascade(cascade: Cascade, folder: str | os.PathLike[str]) -> Path:
    """Write the boosters and ``cascade.json`` into ``folder`` in the run layout; returns ``folder``."""
    root = Path(folder)
    (root / BOOSTERS_DIR).mkdir(parents=True, exist_ok=True)
    for booster, name in zip(cascade.boosters, BOOSTER_FILES, strict=True):
        booster.save_model(str(root / name))
    (root / CASCADE_FILE).write_text(json.dumps(cascade.description(), indent=2) + "\n", encoding="utf-8")
    return root


def load_cascade(run_artifacts_dir: str | os.PathLike[str]) -> Cascade:
    """Read the boosters and thresholds back from a run's downloaded artifacts (or a pyfunc's copy)."""
    import lightgbm

    root = Path(run_artifacts_dir)
    try:
        document = json.loads((root / CASCADE_FILE).read_text(encoding="utf-8"))
        thresholds = (float(document["thresholds"]["t1"]), float(document["thresholds"]["t2"]))
        feature_names = tuple(document["feature_names"])
        monotone = _monotone(document["monotone_features"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CascadeError(f"no readable {CASCADE_FILE} in the run artifacts ({type(error).__name__})") from None
    if feature_names != FEATURE_NAMES:
        raise CascadeError("the cascade was trained on another feature encoding than this code; retrain it")
    boosters = []
    for name in BOOSTER_FILES:
        try:
            booster = lightgbm.Booster(model_file=str(root / name))
        except (OSError, lightgbm.basic.LightGBMError) as error:
            raise CascadeError(f"cannot load {name} from the run artifacts ({type(error).__name__})") from None
        if booster.num_feature() != len(FEATURE_NAMES):
            raise CascadeError(f"{name} takes {booster.num_feature()} features, not {len(FEATURE_NAMES)}")
        boosters.append(booster)
    return Cascade((boosters[0], boosters[1]), thresholds, monotone, feature_names)


def _monotone(listed: Any) -> dict[str, int]:
    """``cascade.json``'s monotone features as signs; format 1 (runs already registered) listed names only."""
    if isinstance(listed, list):
        return {str(name): DECREASING for name in listed}
    if not isinstance(listed, dict):
        raise TypeError("monotone_features must be an object")
    signs = {value: sign for sign, value in DIRECTION_NAMES.items()}
    return {str(name): signs[direction] for name, direction in listed.items()}
