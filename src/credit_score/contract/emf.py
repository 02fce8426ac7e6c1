"""CloudWatch Embedded Metric Format: the one writer of EMF documents, for the handler and the drift job.

A document is one JSON line: ``{"_aws": {"Timestamp": ms, "CloudWatchMetrics": [directive, ...]}, <dimension
and metric values>}``. A directive names the namespace, the dimension sets and the metrics with their units.
The directives of a given document shape never change within a process, so :func:`head` serialises them once
and :func:`line` only encodes the values: that keeps a metrics line to a few microseconds on the request path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

COUNT, MILLISECONDS, NO_UNIT = "Count", "Milliseconds", "None"  # CloudWatch unit names
MAX_VALUES = 100  # values one metric may carry in one document

_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def directive(namespace: str, dimension_sets: Sequence[Sequence[str]], metrics: Sequence[tuple[str, str]]) -> dict:
    """One ``CloudWatchMetrics`` entry: ``metrics`` as (name, unit) pairs."""
    return {
        "Namespace": namespace,
        "Dimensions": [list(dimensions) for dimensions in dimension_sets],
        "Metrics": [{"Name": name, "Unit": unit} for name, unit in metrics],
    }


def head(directives: Sequence[Mapping[str, Any]]) -> str:
    """The fixed part of a document after its timestamp: ``,"CloudWatchMetrics":[...]},``."""
    return ',"CloudWatchMetrics":' + _encode(list(directives)) + "},"


def line(timestamp_ms: int, fixed: str, values: Mapping[str, Any]) -> str:
    """A whole document (with its newline) from a :func:`head` and the dimension and metric values."""
    return f'{{"_aws":{{"Timestamp":{timestamp_ms}{fixed}{_encode(dict(values))[1:]}\n'
