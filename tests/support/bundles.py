"""Real model bundles for tests and benchmarks, trained on synthetic applicants in about a second.

The class of each synthetic applicant follows a rule on real fields (credit mix, delays, debt,
interest), so a model trained here answers differently for different inputs, as the real one does.
``tiny_bundle`` is a session fixture: import it into a test module to use it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from credit_score.contract import fields as features
from credit_score.contract.bundle import (
    CLASSES,
    INPUT_NAME,
    LABEL_OUTPUT,
    PROBABILITIES_OUTPUT,
    Bundle,
    classes_metadata,
)
from credit_score.contract.bundle import write_bundle as _write_bundle
from credit_score.contract.profile import reference_profile

_NUMERIC_RANGES: dict[str, tuple[float, float]] = {
    "Age": (18, 70),
    "Annual_Income": (8_000, 180_000),
    "Monthly_Inhand_Salary": (600, 15_000),
    "Num_Bank_Accounts": (0, 11),
    "Num_Credit_Card": (0, 11),
    "Interest_Rate": (1, 34),
    "Num_of_Loan": (0, 9),
    "Delay_from_due_date": (-5, 67),
    "Num_of_Delayed_Payment": (0, 28),
    "Changed_Credit_Limit": (-6, 36),
    "Num_Credit_Inquiries": (0, 17),
    "Outstanding_Debt": (0, 5_000),
    "Credit_Utilization_Ratio": (20, 50),
    "Credit_History_Age": (1, 404),
    "Total_EMI_per_month": (0, 1_800),
    "Amount_invested_monthly": (0, 2_000),
    "Monthly_Balance": (0, 1_600),
}


def synthetic_record(rng: random.Random) -> dict[str, str]:
    """One valid applicant with every value as a string, as the seed's clients send them."""
    record: dict[str, str] = {}
    for field in features.NUMERIC_FIELDS:
        low, high = _NUMERIC_RANGES[field.name]
        value = rng.randint(int(low), int(high)) if field.integer else round(rng.uniform(low, high), 2)
        record[field.name] = str(value)
    for field in features.CATEGORICAL_FIELDS:
        record[field.name] = rng.choice(field.categories)
    return record


def synthetic_records(count: int, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [synthetic_record(rng) for _ in range(count)]


def rule_label(values: dict[str, float | str]) -> int:
    """The class code (0 Poor, 1 Standard, 2 Good) a lender's rule of thumb would give."""
    mix = {"Good": 2.0, "Standard": 0.0, "Bad": -2.0}.get(str(values["Credit_Mix"]), 0.0)
    score = (
        mix
        - float(values["Delay_from_due_date"]) / 20
        - float(values["Outstanding_Debt"]) / 2_000
        - float(values["Interest_Rate"]) / 15
        + float(values["Credit_History_Age"]) / 200
    )
    if score < -1.5:
        return 0
    if score < 0.5:
        return 1
    return 2


def train_onnx(matrix: np.ndarray, labels: np.ndarray, *, trees: int, depth: int, seed: int = 0) -> tuple[bytes, Any]:
    """Fit the monotone cascade (``trees`` rounds a booster, fixed thresholds); convert it as the downloader does."""
    from credit_score.modelling.artifacts import Cascade
    from credit_score.modelling.conversion import to_onnx
    from credit_score.modelling.training.cascade import MONOTONE, booster_params, fit_boosters

    depth = min(depth, 5)  # the explainer's tables bound the depth
    params = booster_params(seed, max_depth=depth, num_leaves=2 ** min(depth, 4), min_data_in_leaf=5, learning_rate=0.3)
    cascade = Cascade(fit_boosters(matrix, labels, params, (trees, trees)), (0.5, 0.5), MONOTONE)
    return to_onnx(cascade), cascade


def _parity(model_bytes: bytes, cascade: Any, matrix: np.ndarray) -> dict[str, Any]:
    import onnxruntime

    session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    onnx_labels, onnx_probabilities = session.run([LABEL_OUTPUT, PROBABILITIES_OUTPUT], {INPUT_NAME: matrix})
    return {
        "rows": len(matrix),
        "max_abs_prob_diff": float(np.abs(onnx_probabilities - cascade.probabilities(matrix)).max()),
        "label_mismatches": int((onnx_labels != cascade.labels(matrix)).sum()),
    }


def write_model_bundle(
    target: Path,
    parsed: Sequence[dict[str, float | str]],
    labels: Sequence[int],
    *,
    name: str,
    version: str,
    alias: str | None,
    trees: int,
    depth: int,
    source: str,
    seed: int = 0,
) -> Bundle:
    """Train on already-parsed records and write a verified bundle with the full metadata contract."""
    matrix = features.encode(parsed)
    y = np.asarray(labels, dtype=np.int64)
    model_bytes, cascade = train_onnx(matrix, y, trees=trees, depth=depth, seed=seed)
    now = datetime.now(UTC).isoformat()
    metadata = {
        "model": {
            "name": name,
            "version": version,
            "alias": alias,
            "run_id": f"run-{name}-{version}",
            "source": source,
            "registry": "tests",
        },
        "created_at": now,
        "downloaded_at": now,
        "classes": classes_metadata(),
        "input": {"name": INPUT_NAME, "feature_names": list(features.FEATURE_NAMES), "fields": features.schema()},
        "metrics": {"train_accuracy": float((cascade.labels(matrix) == y).mean()), "rows": len(y)},
        "reference_profile": reference_profile(
            features.encode_fields(parsed), cascade.labels(matrix), cascade.probabilities(matrix)
        ),
        "parity": _parity(model_bytes, cascade, matrix[:200]),
        "monotone_features": cascade.monotone_directions(),
        "thresholds": {"t1": cascade.thresholds[0], "t2": cascade.thresholds[1]},
    }
    return _write_bundle(target, model_bytes, metadata)


def build_tiny_bundle(
    target: Path, *, name: str = "credit-score-classifier", version: str = "7", alias: str | None = "champion"
) -> Bundle:
    """A 20-round, depth-5 monotone cascade on 1,500 synthetic applicants: real ONNX, tens of KB."""
    parsed = []
    for record in synthetic_records(1_500, seed=7):
        values, problems = features.parse_record(record)
        assert not problems
        parsed.append(values)
    labels = [rule_label(values) for values in parsed]
    assert {code for code, _ in CLASSES} == set(labels), "every class must be present"
    return write_model_bundle(
        target, parsed, labels, name=name, version=version, alias=alias, trees=20, depth=5, source="synthetic"
    )


_BUILT: dict[str, Path] = {}


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of one tiny bundle, built once per session whichever test modules import it."""
    if "tiny" not in _BUILT:
        _BUILT["tiny"] = build_tiny_bundle(tmp_path_factory.mktemp("bundle") / "model").path
    return _BUILT["tiny"]
