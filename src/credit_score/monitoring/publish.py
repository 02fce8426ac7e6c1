"""Per-feature drift metrics for CloudWatch, from the drift job (never from the handler).

Metrics (dimensions ``model``, ``model_version``, and ``feature`` where per feature; ``feature`` is
one of the 21 input fields, ``prediction``, ``P(Poor)``, ``P(Good)`` or ``reason_mix``):

* ``DriftPSI`` — the PSI of the feature, of a class probability against the reference's deciles, or
  of the reason-code mix against the bundle's (no unit);
* ``DriftMissingShare`` / ``DriftUnknownShare`` — data-quality shares of the window (no unit);
* ``DriftLevel`` — 0 none, 1 warn, 2 alert (not sent when the data was insufficient): alarm on >= 2;
* ``DriftRecords`` — records compared (Count): alarm on a low value to notice a broken capture;
* ``EstimatedMacroF1``, ``EstimatedAUC``, ``EstimatedAccuracy`` — the label-free estimate of each
  model version's decisions in the window (``model_version`` is that version);
* ``RealizedMacroF1``, ``RealizedAUC``, ``RealizedAccuracy`` and ``LabelledDecisions`` (Count) — the
  same against outcomes, when ``--outcomes`` joined any: alarm on a fall;
* ``FairnessMinAIR`` (dimension ``outcome``: ``not_poor`` or ``good``) — the lowest adverse-impact
  ratio of an age band against the most favoured one: alarm below 0.8, the four-fifths screen.

``emf`` writes them as Embedded Metric Format lines on stdout (for a runner whose output CloudWatch
ingests); ``cloudwatch`` sends them with PutMetricData (credentials and endpoint from the environment).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from credit_score.contract import emf
from credit_score.monitoring.stats import SEVERITY

DEFAULT_NAMESPACE = "CreditScore"
_BATCH = 500  # PutMetricData takes up to 1,000 values per call


PERFORMANCE_METRICS = {"macro_f1": "MacroF1", "auc": "AUC", "accuracy": "Accuracy"}


def _points(document: dict[str, Any]) -> Iterator[tuple[str, str, float, dict[str, str]]]:
    """(metric, unit, value, extra dimensions) of one report."""
    probabilities = (document.get("probability_drift") or {}).get("classes") or []
    for entry in [*document["features"], document["prediction_mix"], *probabilities]:
        dimensions = {"feature": entry["name"]}
        if entry["psi"] is not None:
            yield "DriftPSI", "None", entry["psi"], dimensions
        for key, metric in (("missing_share", "DriftMissingShare"), ("unknown_share", "DriftUnknownShare")):
            if entry.get(key) is not None:
                yield metric, "None", entry[key], dimensions
    reasons = ((document.get("reason_mix") or {}).get("verdict") or {}).get("psi")
    if reasons is not None:
        yield "DriftPSI", "None", reasons, {"feature": "reason_mix"}
    level = SEVERITY[document["verdict"]]
    if level >= 0:
        yield "DriftLevel", "None", float(level), {}
    yield "DriftRecords", "Count", float(document["counts"]["compared"]), {}
    yield from _performance_points(document.get("performance") or {})
    for outcome, air in ((document.get("fairness") or {}).get("air") or {}).items():
        ratios = [ratio for ratio in (air.get("ratios") or {}).values() if ratio is not None]
        if ratios:
            yield "FairnessMinAIR", "None", float(min(ratios)), {"outcome": outcome}


def _performance_points(performance: dict[str, Any]) -> Iterator[tuple[str, str, float, dict[str, str]]]:
    """Estimated and realised figures per model version (the version replaces the run's dimension)."""
    for prefix, versions in (("Estimated", performance.get("estimated")), ("Realized", performance.get("realized"))):
        for version, figures in (versions or {}).items():
            dimensions = {"model_version": str(version)}
            for key, name in PERFORMANCE_METRICS.items():
                if figures.get(key) is not None:
                    yield f"{prefix}{name}", "None", float(figures[key]), dimensions
            if prefix == "Realized" and figures.get("n") is not None:
                yield "LabelledDecisions", "Count", float(figures["n"]), dimensions


def _model_dimensions(document: dict[str, Any]) -> dict[str, str]:
    reference = document["reference"]
    version = document["model_filter"].get("version") or reference.get("version") or "all"
    return {"model": str(reference.get("model") or "unknown"), "model_version": str(version)}


def emf_lines(document: dict[str, Any], *, namespace: str = DEFAULT_NAMESPACE, timestamp: datetime) -> list[str]:
    """One EMF document per dimension set: per feature, the run's totals, per version, per outcome."""
    base = _model_dimensions(document)
    groups: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for metric, unit, value, extra in _points(document):
        dimensions = {**base, **extra}
        key = tuple(sorted(extra.items()))
        group = groups.setdefault(key, {"dimensions": dimensions, "metrics": [], "values": {}})
        group["metrics"].append((metric, unit))
        group["values"][metric] = value
    milliseconds = int(timestamp.timestamp() * 1000)
    lines = []
    for group in groups.values():
        fixed = emf.head([emf.directive(namespace, [list(group["dimensions"])], group["metrics"])])
        lines.append(emf.line(milliseconds, fixed, {**group["dimensions"], **group["values"]}).rstrip("\n"))
    return lines


def metric_data(document: dict[str, Any], *, timestamp: datetime) -> list[dict[str, Any]]:
    """The report as PutMetricData entries."""
    base = _model_dimensions(document)
    return [
        {
            "MetricName": metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in {**base, **extra}.items()],
            "Timestamp": timestamp,
            "Value": value,
            "Unit": unit,
        }
        for metric, unit, value, extra in _points(document)
    ]


def put_metric_data(
    document: dict[str, Any],
    *,
    namespace: str = DEFAULT_NAMESPACE,
    timestamp: datetime,
    client_factory: Callable[[str], Any] | None = None,
) -> int:
    """Send the report's metrics; returns how many values were sent."""
    if client_factory is None:
        import boto3

        client_factory = boto3.client
    client = client_factory("cloudwatch")
    data = metric_data(document, timestamp=timestamp)
    for start in range(0, len(data), _BATCH):
        client.put_metric_data(Namespace=namespace, MetricData=data[start : start + _BATCH])
    return len(data)
