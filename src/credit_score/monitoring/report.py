"""The JSON summary of a drift run: the window, what was read, every comparison and the verdicts.

Aggregates only (bin shares, level shares, class counts per day): never a record or a customer value.
The HTML page (``html.py``) is drawn from this same document, so both always agree.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from credit_score.monitoring.reader import ScanCounts, Window
from credit_score.monitoring.stats import EPSILON, Drift, FeatureDrift, Thresholds

FORMAT_VERSION = 1
EXIT_CODES = {"none": 0, "warn": 1, "alert": 2, "insufficient_data": 3}
EXIT_ERROR = 4  # usage, I/O or capture errors: no verdict


def _feature(result: FeatureDrift) -> dict[str, Any]:
    entry = asdict(result)
    entry["bins"] = [asdict(b) for b in result.bins]
    return entry


def summary(
    drift: Drift,
    *,
    window: Window,
    scan: ScanCounts,
    thresholds: Thresholds,
    capture: str,
    reference: dict[str, Any],
    model_filter: dict[str, str | None],
    generated_at: datetime,
    performance: dict[str, Any] | None = None,
    fairness: dict[str, Any] | None = None,
    trend: dict[str, Any] | None = None,
    data_quality: dict[str, Any] | None = None,
    challenger: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report document; ``reference`` says where the profile came from (source, model, rows)."""
    return {
        "format_version": FORMAT_VERSION,
        "generated_at": generated_at.isoformat().replace("+00:00", "Z"),
        "verdict": drift.verdict,
        "exit_code": EXIT_CODES[drift.verdict],
        "window": {"since": window.low + "Z", "until": window.high + "Z", "until_exclusive": True},
        "capture": capture,
        "model_filter": model_filter,
        "reference": reference,
        "thresholds": {
            "warn": thresholds.warn,
            "alert": thresholds.alert,
            "min_rows": thresholds.min_rows,
            "alpha": thresholds.alpha,
            "epsilon": EPSILON,
        },
        "counts": {**asdict(scan), "compared": drift.rows},
        "versions": drift.versions,
        "features": [_feature(f) for f in drift.features],
        "prediction_mix": {**_feature(drift.prediction), "by_day": drift.by_day},
        # P(Poor) and P(Good) against the reference's deciles; no bins in an older profile: reference false
        "probability_drift": {
            "reference": bool(drift.probabilities),
            "classes": [_feature(f) for f in drift.probabilities],
        },
        "reason_mix": drift.reason_mix,
        "performance": performance or {"estimated": {}, "realized": None, "outcomes": None},
        "data_quality": data_quality or {"refusals": None, "missing_unknown": {}},
        "trend": trend or {"psi_by_day": {}, "probability_by_day": {}},
        "fairness": fairness or {"age_bands": {}, "air": {}, "flagged": [], "by_month": {}, "reference": None},
        "challenger": challenger,  # monitoring/challenger.py; None when no record carries a challenger
    }


def write_json(document: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    return write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", path)


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Written whole or not at all (temporary sibling, then rename): a half report is worse than none."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
