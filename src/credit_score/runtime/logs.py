"""Structured JSON log lines on stdout, one per call, cheap enough for every invocation.

Callers pass only identifiers and measurements (request id, model version, cold start, latency,
status, counts, error kinds). No payload or field value is ever logged, with one designed exception:
the ``capture_fallback`` line carries a full capture record when capture storage failed, so that no
record is lost (see ``capture.py``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

import orjson

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


class _UtcClock:
    """ISO-8601 UTC time with milliseconds; the seconds part is formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._prefix = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((now - second) * 1000):03d}Z"


def _encode(document: dict[str, Any]) -> str:
    """Compact JSON with orjson (see ``service._encode``); anything else JSON cannot hold as ``str``."""
    return orjson.dumps(document, default=str).decode()


class Log:
    """A JSON-lines logger; ``level`` is one of DEBUG, INFO, WARNING, ERROR."""

    def __init__(
        self, service: str, level: str = "INFO", stream: IO[str] | None = None, clock: Callable[[], str] | None = None
    ) -> None:
        self.service = service
        self.threshold = _LEVELS[level]
        self._stream = stream
        self._clock = clock or _UtcClock()

    def _emit(self, level: str, message: str, fields: dict[str, Any]) -> None:
        if _LEVELS[level] < self.threshold:
            return
        document = {"level": level, "timestamp": self._clock(), "service": self.service, "message": message}
        document.update((key, value) for key, value in fields.items() if value is not None)
        line = _encode(document)
        (self._stream or sys.stdout).write(line + "\n")

    def debug(self, message: str, **fields: Any) -> None:
        self._emit("DEBUG", message, fields)

    def info(self, message: str, **fields: Any) -> None:
        self._emit("INFO", message, fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._emit("WARNING", message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._emit("ERROR", message, fields)
