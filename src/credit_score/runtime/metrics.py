"""CloudWatch metrics as Embedded Metric Format lines on stdout: no API call on the request path.

One JSON line per invocation carries everything (latency, batch size, predictions of the first label,
capture failures); each further label of a batch adds one small line. Dimensions come from bounded
sets only: ``service``, ``model_version``, ``label`` (the model's classes) and ``problem`` (the
validation problem kinds and error codes of ``errors.py``).

No customer value is ever a metric value or a dimension: the inputs of a request (incomes, debts,
ages) stay in the capture, encrypted and with a lifecycle, where the drift job computes its feature
statistics; a log group is a second, less protected copy and gets none of them. There is no opt-in.

The directive part of each document (namespace, dimension sets, metric names and units) is fixed per
container, so it is serialised once and only the values are encoded per request; that keeps the cost
of metrics to a few microseconds, where Powertools' ``Metrics`` validates and rebuilds the whole
document on every flush (and importing it adds tens of milliseconds to a cold start). The documents
follow the same EMF specification; the tests read them back with CloudWatch's rules.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from credit_score.contract.emf import COUNT, MILLISECONDS, directive, head, line

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
    ) -> None:
        self.enabled = enabled
        self._stream = stream
        self._clock = clock
        self._service = service
        self._capture_enabled = capture_enabled
        self._templates: dict[str, str] = {}
        by_version = ["service", "model_version"]
        by_label = [*by_version, "label"]
        request_metrics = [("Latency", MILLISECONDS), ("BatchSize", COUNT)]
        if capture_enabled:
            request_metrics.append(("CaptureFailures", COUNT))
        predictions = directive(namespace, [by_version, by_label], [("Predictions", COUNT)])
        self._prediction_head = head([directive(namespace, [by_version], request_metrics), predictions])
        self._label_head = head([predictions])
        self._problem_head = head([directive(namespace, [[*by_version, "problem"]], [("ValidationErrors", COUNT)])])
        self._fault_head = head([directive(namespace, [["service"]], [("InternalErrors", COUNT)])])
        self._cold_head = head([directive(namespace, [["service"]], [("ColdStart", COUNT)])])
        self._late_head = head([directive(namespace, [by_version], [("CaptureFailures", COUNT)])])
        self._challenger_head = head([directive(namespace, [by_version], [("ChallengerFailures", COUNT)])])

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
        latency_ms: float,
        capture_failures: int = 0,
    ) -> None:
        """One document per invocation, plus one per extra label present in a batch."""
        if not self.enabled:
            return
        if len(codes) == 1:
            self._single(version, labels[codes[0]], latency_ms, capture_failures)
            return
        counts = [(label, codes.count(code)) for code, label in enumerate(labels)]
        present = [(label, count) for label, count in counts if count]
        values: dict[str, Any] = {
            "service": self._service,
            "model_version": version,
            "label": present[0][0],
            "Latency": round(latency_ms, 3),
            "BatchSize": len(codes),
            "Predictions": present[0][1],
        }
        if self._capture_enabled:
            values["CaptureFailures"] = capture_failures
        self._write(self._prediction_head, values)
        for label, count in present[1:]:
            self._write(
                self._label_head,
                {"service": self._service, "model_version": version, "label": label, "Predictions": count},
            )

    def _single(self, version: str, label: str, latency_ms: float, capture_failures: int) -> None:
        """The one-record document from a template: the hot path, formatted without building a dict."""
        template = self._templates.get(version)
        if template is None:
            template = self._templates[version] = self._single_template(version)
        fields: tuple[Any, ...] = (int(self._clock() * 1000), _encode(label), round(latency_ms, 3))
        if self._capture_enabled:
            fields = (*fields, capture_failures)
        (self._stream or sys.stdout).write(template % fields)

    def _single_template(self, version: str) -> str:
        constant = {"service": self._service, "model_version": version}
        head = self._prediction_head.replace("%", "%%")
        start = _encode(constant)[1:-1].replace("%", "%%")
        capture = ',"CaptureFailures":%d' if self._capture_enabled else ""
        values = ',"label":%s,"Latency":%r,"BatchSize":1,"Predictions":1'
        return '{"_aws":{"Timestamp":%d' + head + start + values + capture + "}\n"

    def rejection(self, *, version: str, problems: Mapping[str, int]) -> None:
        """A refused request: how many problems of each kind it had, one document per kind."""
        if not self.enabled:
            return
        for problem, count in problems.items():
            self._write(
                self._problem_head,
                {"service": self._service, "model_version": version, "problem": problem, "ValidationErrors": count},
            )

    def capture_failures(self, version: str, count: int) -> None:
        """Records that fell back after the answer, when the request's own document was long written."""
        if self.enabled:
            self._write(self._late_head, {"service": self._service, "model_version": version, "CaptureFailures": count})

    def challenger_failures(self, version: str, count: int) -> None:
        """Invocations the shadow challenger could not score (the answer was not affected)."""
        if self.enabled:
            self._write(
                self._challenger_head, {"service": self._service, "model_version": version, "ChallengerFailures": count}
            )

    def internal_error(self) -> None:
        if self.enabled:
            self._write(self._fault_head, {"service": self._service, "InternalErrors": 1})
