"""CloudWatch metrics as Embedded Metric Format lines on stdout: no API call on the request path.

One JSON line per invocation carries everything (latency, batch size, predictions of the first label,
the input features as metric *values*, capture failures); each further label of a batch adds one
small line. Dimensions come from bounded sets only: ``service``, ``model_version``, ``label`` (the
model's classes) and ``problem`` (the validation problem kinds and error codes of ``errors.py``).

The directive part of each document (namespace, dimension sets, metric names and units) is fixed per
container, so it is serialised once and only the values are encoded per request; that keeps the cost
of metrics to a few microseconds, where Powertools' ``Metrics`` validates and rebuilds the whole
document on every flush (and importing it adds tens of milliseconds to a cold start). The documents
follow the same EMF specification; the tests read them back with CloudWatch's rules. Feature values
follow the EMF limit of 100 values per metric: a larger batch contributes a uniform random sample of
100 records to the feature statistics (counts and predictions always cover every record).
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from credit_score.contract.emf import COUNT, MAX_VALUES, MILLISECONDS, NO_UNIT, directive, head, line
from credit_score.contract.fields import NUMERIC_FIELDS

FEATURE_PREFIX = "Input."
_FEATURE_METRICS = tuple(FEATURE_PREFIX + f.name for f in NUMERIC_FIELDS)

_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


class Metrics:
    """Writes EMF documents for one container; ``enabled=False`` makes every call a no-op."""

    def __init__(
        self,
        *,
        namespace: str,
        service: str,
        enabled: bool = True,
        capture_enabled: bool = False,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.enabled = enabled
        self._stream = stream
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 (sampling, not secrecy)
        self._service = service
        self._capture_enabled = capture_enabled
        self._templates: dict[str, str] = {}
        by_version = ["service", "model_version"]
        by_label = [*by_version, "label"]
        request_metrics = [("Latency", MILLISECONDS), ("BatchSize", COUNT)]
        if capture_enabled:
            request_metrics.append(("CaptureFailures", COUNT))
        features = [(name, NO_UNIT) for name in _FEATURE_METRICS]
        predictions = directive(namespace, [by_version, by_label], [("Predictions", COUNT)])
        self._prediction_head = head(
            [
                directive(namespace, [by_version], request_metrics),
                directive(namespace, [by_version], features),
                predictions,
            ]
        )
        self._label_head = head([predictions])
        self._problem_head = head([directive(namespace, [[*by_version, "problem"]], [("ValidationErrors", COUNT)])])
        self._fault_head = head([directive(namespace, [["service"]], [("InternalErrors", COUNT)])])
        self._cold_head = head([directive(namespace, [["service"]], [("ColdStart", COUNT)])])

    def _write(self, fixed: str, values: dict[str, Any]) -> None:
        (self._stream or sys.stdout).write(line(int(self._clock() * 1000), fixed, values))

    def cold_start(self) -> None:
        if self.enabled:
            self._write(self._cold_head, {"service": self._service, "ColdStart": 1})

    def predictions(
        self,
        *,
        version: str,
        labels: tuple[str, ...],
        codes: list[int],
        rows: list[list[float]],
        latency_ms: float,
        capture_failures: int = 0,
    ) -> None:
        """One document per invocation, plus one per extra label present in a batch."""
        if not self.enabled:
            return
        if len(rows) == 1:
            self._single(version, labels[codes[0]], rows[0], latency_ms, capture_failures)
            return
        counts = [(label, codes.count(code)) for code, label in enumerate(labels)]
        present = [(label, count) for label, count in counts if count]
        sample = rows if len(rows) <= MAX_VALUES else self._rng.sample(rows, MAX_VALUES)
        values: dict[str, Any] = {
            "service": self._service,
            "model_version": version,
            "label": present[0][0],
            "Latency": round(latency_ms, 3),
            "BatchSize": len(rows),
            "Predictions": present[0][1],
        }
        if self._capture_enabled:
            values["CaptureFailures"] = capture_failures
        values.update(zip(_FEATURE_METRICS, map(list, zip(*sample, strict=True)), strict=True))
        self._write(self._prediction_head, values)
        for label, count in present[1:]:
            self._write(
                self._label_head,
                {"service": self._service, "model_version": version, "label": label, "Predictions": count},
            )

    def _single(self, version: str, label: str, row: list[float], latency_ms: float, capture_failures: int) -> None:
        """The one-record document from a template: the hot path, formatted without building a dict."""
        template = self._templates.get(version)
        if template is None:
            template = self._templates[version] = self._single_template(version)
        fields = (int(self._clock() * 1000), _encode(label), round(latency_ms, 3), *row)
        if self._capture_enabled:
            fields = (*fields, capture_failures)
        (self._stream or sys.stdout).write(template % fields)

    def _single_template(self, version: str) -> str:
        constant = {"service": self._service, "model_version": version}
        head = self._prediction_head.replace("%", "%%")
        start = _encode(constant)[1:-1].replace("%", "%%")
        features = "".join(f',"{name}":%r' for name in _FEATURE_METRICS)
        capture = ',"CaptureFailures":%d' if self._capture_enabled else ""
        return (
            ('{"_aws":{"Timestamp":%d' + head + start + ',"label":%s,"Latency":%r,"BatchSize":1,"Predictions":1')
            + features
            + capture
            + "}\n"
        )

    def rejection(self, *, version: str, problems: Mapping[str, int]) -> None:
        """A refused request: how many problems of each kind it had, one document per kind."""
        if not self.enabled:
            return
        for problem, count in problems.items():
            self._write(
                self._problem_head,
                {"service": self._service, "model_version": version, "problem": problem, "ValidationErrors": count},
            )

    def internal_error(self) -> None:
        if self.enabled:
            self._write(self._fault_head, {"service": self._service, "InternalErrors": 1})
