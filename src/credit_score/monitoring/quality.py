"""Data quality: refused requests per day and problem kind, from the handler's ``request`` log lines.

Refused requests never reach the capture (there is no prediction to keep), so the capture alone cannot
say that 22 % of a population was turned away. Each invocation writes one ``request`` log line with its
``status`` and, when refused, ``problems``: the count of each problem kind (``missing``, ``too_high``,
``not_a_number``, ...; never a value), and for a 422 ``problem_fields``: the count per field, named by
the contract's field names only (any other key is counted as ``_other``). ``--request-logs`` reads
those lines as CloudWatch Logs exports them (a file or an ``s3://`` object of JSON lines, each
optionally prefixed by the export's timestamp) and counts them per day. Counts only: nothing of a
line but its day, status, problem kinds and contract field names is kept; a field name the contract
does not know is counted as ``_other`` here too, so an odd line cannot carry a client's key into the report.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from credit_score.contract.fields import FIELD_NAMES, OTHER_FIELD
from credit_score.monitoring.outcomes import OutcomesError, fetch

__all__ = ["RequestLog", "read_request_logs"]

REQUEST_MESSAGE = "request"
_FIELDS = frozenset(FIELD_NAMES)


@dataclass
class RequestLog:
    """Requests and refusals per day; lines that are not request lines are skipped, unreadable ones counted."""

    requests: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    problems: dict[str, Counter[str]] = field(default_factory=dict)
    fields: dict[str, Counter[str]] = field(default_factory=dict)  # day -> contract field -> problems
    unreadable: int = 0

    def add_line(self, line: str) -> None:
        start = line.find("{")
        if start < 0:
            return
        try:
            document = json.loads(line[start:])
        except ValueError:
            self.unreadable += 1
            return
        if not isinstance(document, dict) or document.get("message") != REQUEST_MESSAGE:
            return
        timestamp, status = document.get("timestamp"), document.get("status")
        if not isinstance(timestamp, str) or type(status) is not int:
            self.unreadable += 1
            return
        day = timestamp[:10]
        self.requests[day] += 1
        if 400 <= status < 500:
            self.refused[day] += 1
            _add_counts(self.problems.setdefault(day, Counter()), document.get("problems"), str)
            _add_counts(self.fields.setdefault(day, Counter()), document.get("problem_fields"), _field_name)

    def section(self) -> dict[str, Any]:
        return {
            "by_day": {
                day: {
                    "requests": self.requests[day],
                    "refused": self.refused[day],
                    "refused_share": round(self.refused[day] / self.requests[day], 6),
                    "problems": dict(self.problems.get(day, Counter()).most_common()),
                    "fields": dict(self.fields.get(day, Counter()).most_common()),
                }
                for day in sorted(self.requests)
            },
            "requests": sum(self.requests.values()),
            "refused": sum(self.refused.values()),
            "fields": dict(sum(self.fields.values(), Counter()).most_common()),
            "unreadable_lines": self.unreadable,
        }


def read_request_logs(uri: str, *, since: str = "", until: str = "9999") -> RequestLog:
    """The request lines of ``uri`` (``.gz`` too) whose day is within ``[since, until)``."""
    data = fetch(uri, what="request logs")
    if uri.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            raise OutcomesError(f"request logs {uri}: not a gzip file") from None
    log = RequestLog()
    for line in data.decode("utf-8", errors="replace").splitlines():
        log.add_line(line)
    last = until[:10] if until[10:] in ("", "T00:00:00") else f"{until[:10]}~"  # an end instant is exclusive
    for day in [day for day in log.requests if not since[:10] <= day < last]:
        log.requests.pop(day)
        log.refused.pop(day, None)
        log.problems.pop(day, None)
        log.fields.pop(day, None)
    return log


def _field_name(name: str) -> str:
    return name if name in _FIELDS else OTHER_FIELD


def _add_counts(counter: Counter[str], counts: Any, name: Any) -> None:
    """Add a line's ``{key: count}`` (positive whole counts only) under ``name(key)``."""
    if isinstance(counts, dict):
        for key, count in counts.items():
            if type(count) is int and count > 0:
                counter[name(str(key))] += count
