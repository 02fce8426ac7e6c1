"""Per-feature drift metrics for CloudWatch, from the drift job (never from the handler).

Metrics (dimensions ``model``, ``model_version``, and ``feature`` where per feature; ``feature`` is
one of the 21 input fields or ``prediction``):

* ``DriftPSI`` — the PSI of the feature (no unit);
* ``DriftMissingShare`` / ``DriftUnknownShare`` — data-quality shares of the window (no unit);
* ``DriftLevel`` — 0 none, 1 warn, 2 alert (not sent when the data was insufficient): alarm on >= 2;
* ``DriftRecords`` — records compared (Count): alarm on a low value to notice a broken capture.

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


def _points(document: dict[str, Any]) -> Iterator[tuple[str, str, float, dict[str, str]]]:
    """(metric, unit, value, extra dimensions) of one report."""
    for entry in [*document["features"], document["prediction_mix"]]:
        dimensions = {"feature": entry["name"]}
        if entry["psi"] is not None:
            yield "DriftPSI", "None", entry["psi"], dimensions
        for key, metric in (("missing_share", "DriftMissingShare"), ("unknown_share", "DriftUnknownShare")):
            if entry.get(key) is not None:
                yield metric, "None", entry[key], dimensions
    level = SEVERITY[document["verdict"]]
    if level >= 0:
        yield "DriftLevel", "None", float(level), {}
    yield "DriftRecords", "Count", float(document["counts"]["compared"]), {}


def _model_dimensions(document: dict[str, Any]) -> dict[str, str]:
    reference = document["reference"]
    version = document["model_filter"].get("version") or reference.get("version") or "all"
    return {"model": str(reference.get("model") or "unknown"), "model_version": str(version)}


def emf_lines(document: dict[str, Any], *, namespace: str = DEFAULT_NAMESPACE, timestamp: datetime) -> list[str]:
    """One EMF document per dimension set: the run's totals, then one per feature."""
    base = _model_dimensions(document)
    groups: dict[str, dict[str, Any]] = {}
    for metric, unit, value, extra in _points(document):
        dimensions = {**base, **extra}
        key = extra.get("feature", "")
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
