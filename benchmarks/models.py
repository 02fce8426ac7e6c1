"""The two models under comparison, built once and cached: our ONNX bundle and the old joblib XGBoost.

Our side uses ``model/`` when ``make demo`` has built it. Otherwise it is built the way production
builds it, from the shared rows: ``credit_score.modelling.training`` (cleaning, encoding, customer-grouped
80/20 split, ``fit_cascade`` with its defaults, the monotonicity step test), ``credit_score.modelling.conversion``
(ONNX and the parity check), the reason-code tables (``credit_score.modelling.explainer``, checked against
shap on 1,000 hold-out rows) and ``bundle.write_bundle``; only the registry hop is skipped. The old model is XGBoost
fitted on the same training rows. Both are scored on the same hold-out.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.data import CSV, ROOT, csv_digest
from credit_score.contract.bundle import BundleError, classes_metadata, load_bundle, write_bundle

CACHE = Path(tempfile.gettempdir()) / "credit-score-bench"
LAYOUT = "directional-1"  # part of the cache key: bumped when the bundle's contents change


@dataclass(frozen=True)
class Models:
    bundle: Path
    bundle_source: str
    old_model: Path
    quality: dict[str, Any]


def prepare(cache: Path = CACHE, *, use_demo_model: bool = True) -> Models:
    """Both models, trained on first use and cached under ``cache`` (keyed by the data's sha256)."""
    folder = cache / f"{csv_digest()[:16]}-{LAYOUT}"
    manifest = folder / "models.json"
    demo = ROOT / "model"
    if manifest.exists():
        cached = Models(
            **{**json.loads(manifest.read_text()), "bundle": folder / "bundle", "old_model": folder / "old.joblib"}
        )
        try:
            load_bundle(cached.bundle)
        except BundleError:
            pass
        else:
            return _with_demo(cached, demo) if use_demo_model else cached
    models = _build(folder)
    manifest.write_text(
        json.dumps({**asdict(models), "bundle": str(models.bundle), "old_model": str(models.old_model)})
    )
    return _with_demo(models, demo) if use_demo_model else models


def _with_demo(models: Models, demo: Path) -> Models:
    try:
        load_bundle(demo)
    except BundleError:
        return models
    return Models(demo, "model/ (built by make demo)", models.old_model, models.quality)


def _build(folder: Path) -> Models:
    from benchmarks.old_style import train as old_train
    from benchmarks.old_style.encoding import encode_matrix
    from credit_score.contract.bundle import EXPLAINER_FILE
    from credit_score.contract.fields import FEATURE_NAMES, schema
    from credit_score.contract.profile import reference_profile
    from credit_score.modelling import conversion, explainer
    from credit_score.modelling.training.cascade import ROUNDS, booster_params, fit_cascade, logged_params
    from credit_score.modelling.training.data import read_raw_csv, split, to_dataset
    from credit_score.modelling.training.evaluate import classification_metrics
    from credit_score.modelling.training.monotonicity import require_monotone, step_test

    dataset = to_dataset(read_raw_csv(CSV))
    training, evaluation = split(dataset, 0.2, 42)
    cascade = fit_cascade(training.features, training.labels, training.groups, seed=42)
    monotonicity = require_monotone(step_test(cascade, dataset.features))
    probabilities = cascade.probabilities(evaluation.features)
    model_bytes = conversion.to_onnx(cascade)
    parity = conversion.require_parity(conversion.check_parity(cascade, model_bytes, evaluation.features))
    now = datetime.now(UTC).isoformat()
    ours = classification_metrics(evaluation.labels, probabilities, cascade.labels(evaluation.features))
    metadata = {
        "model": {
            "name": "credit-score-classifier",
            "version": "bench",
            "alias": None,
            "run_id": "benchmark",
            "source": "benchmarks/models.py",
            "registry": "none",
        },
        "created_at": now,
        "downloaded_at": now,
        "classes": classes_metadata(),
        "input": {"name": "features", "feature_names": list(FEATURE_NAMES), "fields": schema()},
        "metrics": {**ours, "params": logged_params(booster_params(42), ROUNDS, cascade)},
        "reference_profile": reference_profile(training.fields, cascade.labels(training.features)),
        "parity": parity.as_metadata(),
        "monotone_features": cascade.monotone_directions(),
        "monotonicity": monotonicity.as_metadata(),
        "thresholds": {"t1": cascade.thresholds[0], "t2": cascade.thresholds[1]},
    }
    tables = explainer.build_tables(cascade.boosters)
    parity_rows = evaluation.features[: explainer.MIN_PARITY_ROWS]
    metadata["explainer"] = {
        "file": EXPLAINER_FILE,
        "parity": explainer.check_parity(explainer.load_tables(tables), cascade.boosters, parity_rows),
    }
    bundle = write_bundle(folder / "bundle", model_bytes, metadata, extra_files={EXPLAINER_FILE: tables}).path
    old = old_train.fit(encode_matrix(training.fields), training.labels)
    old_path = old_train.save(old, folder / "old.joblib")
    quality = {
        "rows": {"train": len(training), "evaluation": len(evaluation)},
        "ours": ours,
        "old": classification_metrics(evaluation.labels, old.predict_proba(encode_matrix(evaluation.fields))),
    }
    source = "built from the shared data: credit_score.modelling.training (fit_cascade defaults) + to_onnx"
    return Models(bundle, source, old_path, quality)
