"""Outcomes (the true ``Credit_Score`` that arrives months after a decision) joined to captured decisions.

An outcomes file is CSV (header row) or JSON Lines, local or ``s3://bucket/key`` (``.gz`` too). Each
row names a decision and its outcome:

* ``inference_id`` — the capture record's own id (one per prediction); or
* ``request_id`` — the id every answer carries (``X-Request-Id``, body, capture record), with an
  optional ``index`` (0-based position in a batch request; 0 when absent);
* ``Credit_Score`` — ``Poor``/``Standard``/``Good`` or the codes ``0``/``1``/``2``.

Nothing is dropped silently: rows without an id or with an unknown label are ``malformed``; an id given
twice with the same label is a ``duplicate`` (counted once), with different labels ``conflicting`` (left
out of the join: its truth is unknown); outcomes whose decision is not in the window's capture are
``unmatched``; a decision matched twice (captured twice under different ids) is ``matched_again``.
Counts only: no id or value is ever printed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from credit_score.contract import capture
from credit_score.contract.bundle import CLASSES

__all__ = ["OUTCOME", "Joined", "Outcomes", "OutcomesError", "fetch", "read_outcomes"]

OUTCOME = "Credit_Score"
INDEX = "index"
AGE = "Age"
MAX_OUTCOME_BYTES = 2 * 1024**3  # one object; beyond it, split the file
_CODES = {label: code for code, label in CLASSES} | {str(code): code for code, _ in CLASSES}
_PROBABILITY_KEYS = tuple(label for _, label in CLASSES)
Key = tuple[str, str, int]


class OutcomesError(ValueError):
    """The outcomes file cannot be read, or holds no usable row."""


def _code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in _CODES.values() else None
    if isinstance(value, float) and value.is_integer():
        return _code(int(value))
    return _CODES.get(value.strip()) if isinstance(value, str) else None


def _index(value: Any) -> int | None:
    if value is None or value == "":
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _key(row: Mapping[str, Any]) -> Key | None:
    inference = row.get(capture.INFERENCE_ID)
    if isinstance(inference, str) and inference.strip():
        return ("inference", inference.strip(), 0)
    request = row.get(capture.REQUEST_ID)
    index = _index(row.get(INDEX))
    if isinstance(request, str) and request.strip() and index is not None:
        return ("request", request.strip(), index)
    return None


@dataclass
class Outcomes:
    """The known outcomes by decision key, and what the file held besides."""

    labels: dict[Key, int] = field(default_factory=dict)
    rows: int = 0
    malformed: int = 0
    duplicates: int = 0
    conflicting: int = 0

    def add(self, row: Any) -> None:
        self.rows += 1
        key = _key(row) if isinstance(row, Mapping) else None
        code = _code(row.get(OUTCOME)) if key is not None else None
        if key is None or code is None:
            self.malformed += 1
            return
        known = self.labels.get(key)
        if known is None:
            self.labels[key] = code
        elif known == code:
            self.duplicates += 1
        else:
            self.conflicting += 1
            self.labels[key] = -1  # kept as a marker: the later copies count as conflicting too

    def counts(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "malformed": self.malformed,
            "duplicates": self.duplicates,
            "conflicting": self.conflicting,
        }


def _rows(text: str) -> Iterator[Any]:
    """JSON Lines when the first non-blank character opens an object, else CSV with a header."""
    if text.lstrip()[:1] == "{":
        for line in text.splitlines():
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    yield None
        return
    yield from csv.DictReader(io.StringIO(text))


def read_outcomes(uri: str, *, client_factory: Callable[[str], Any] | None = None) -> Outcomes:
    """Every outcome of ``uri`` (a file, ``file://`` or ``s3://bucket/key``); OutcomesError when unreadable."""
    data = fetch(uri, client_factory)
    if uri.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise OutcomesError(f"outcomes {uri}: not a gzip file ({type(error).__name__})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise OutcomesError(f"outcomes {uri}: not UTF-8 text") from None
    outcomes = Outcomes()
    try:
        for row in _rows(text):
            outcomes.add(row)
    except csv.Error as error:
        raise OutcomesError(f"outcomes {uri}: malformed CSV ({error})") from None
    if not outcomes.labels:
        raise OutcomesError(
            f"outcomes {uri}: no usable row (each needs {capture.REQUEST_ID} or {capture.INFERENCE_ID} "
            f"and {OUTCOME} as Poor/Standard/Good or 0/1/2)"
        )
    return outcomes


def fetch(uri: str, client_factory: Callable[[str], Any] | None = None, *, what: str = "outcomes") -> bytes:
    """The bytes of one local file or ``s3://bucket/key`` object (``what`` names it in errors)."""
    try:
        location = capture.parse_location(uri)
    except ValueError as error:
        raise OutcomesError(f"the {what} URI {error}") from None
    if location.scheme == "file":
        path = Path(location.folder or uri)
        try:
            if path.stat().st_size > MAX_OUTCOME_BYTES:
                raise OutcomesError(f"{what} {path} is larger than {MAX_OUTCOME_BYTES} bytes; split it")
            return path.read_bytes()
        except OSError as error:
            raise OutcomesError(f"{what} {path}: {error.strerror or type(error).__name__}") from None
    if location.scheme != "s3" or not location.prefix:
        raise OutcomesError(f"the {what} URI must be s3://bucket/key or a local file")
    from botocore.exceptions import BotoCoreError, ClientError

    from credit_score.monitoring.reader import s3_client

    try:
        body = (client_factory or s3_client)("s3").get_object(Bucket=location.bucket, Key=location.prefix)["Body"]
        data = body.read(MAX_OUTCOME_BYTES + 1)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise OutcomesError(f"{what} s3://{location.bucket}/{location.prefix}: {code}") from None
    except BotoCoreError as error:
        raise OutcomesError(f"{what} s3://{location.bucket}: {type(error).__name__}") from None
    if len(data) > MAX_OUTCOME_BYTES:
        raise OutcomesError(f"{what} object is larger than {MAX_OUTCOME_BYTES} bytes; split it")
    return data


@dataclass
class _Rows:
    """The joined decisions of one group: served label, probabilities, truth and age."""

    predicted: list[int] = field(default_factory=list)
    probabilities: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    ages: list[float] = field(default_factory=list)


@dataclass
class Joined:
    """Streams capture chunks against the outcomes; keeps only the matched decisions' numbers."""

    outcomes: Outcomes
    matched: int = 0
    matched_again: int = 0
    unusable: int = 0  # a matched record without three probabilities
    decisions: int = 0
    groups: dict[tuple[str, str], _Rows] = field(default_factory=lambda: defaultdict(_Rows))
    _used: set[Key] = field(default_factory=set)
    _request: tuple[str | None, int] = (None, -1)

    def add(self, records: Sequence[Mapping[str, Any]]) -> None:
        """One chunk of the reader's records (validated, deduplicated, in reading order)."""
        labels = self.outcomes.labels
        for record in records:
            self.decisions += 1
            request = record.get(capture.REQUEST_ID)
            position = self._request[1] + 1 if request == self._request[0] else 0
            self._request = (request, position)
            key = None
            inference = record.get(capture.INFERENCE_ID)
            if isinstance(inference, str) and ("inference", inference, 0) in labels:
                key = ("inference", inference, 0)
            elif isinstance(request, str) and ("request", request, position) in labels:
                key = ("request", request, position)
            if key is None or labels[key] < 0:
                continue
            if key in self._used:
                self.matched_again += 1
                continue
            self._used.add(key)
            probabilities = record.get(capture.PROBABILITIES)
            try:
                vector = [float(probabilities[label]) for label in _PROBABILITY_KEYS]  # type: ignore[index]
            except (TypeError, KeyError, ValueError):
                self.unusable += 1
                continue
            self.matched += 1
            rows = self.groups[(str(record.get(capture.MODEL_VERSION)), record[capture.TIMESTAMP][:7])]
            rows.predicted.append(record[capture.PREDICTION])
            rows.probabilities.append(vector)
            rows.labels.append(labels[key])
            rows.ages.append(_age(record[capture.INPUT].get(AGE)))

    def counts(self) -> dict[str, int]:
        usable = sum(1 for code in self.outcomes.labels.values() if code >= 0)
        return {
            **self.outcomes.counts(),
            "decisions_in_window": self.decisions,
            "matched": self.matched,
            "unmatched": usable - len(self._used),
            "matched_again": self.matched_again,
            "unusable_records": self.unusable,
        }

    def arrays(self, version: str | None = None, month: str | None = None) -> dict[str, np.ndarray]:
        """The matched decisions of a version and/or month as arrays (all of them when both are None)."""
        chosen = [
            rows
            for (v, m), rows in sorted(self.groups.items())
            if (version is None or v == version) and (month is None or m == month)
        ]
        return {
            "predicted": np.array([c for rows in chosen for c in rows.predicted], np.int64),
            "probabilities": np.array([p for rows in chosen for p in rows.probabilities], np.float64).reshape(-1, 3),
            "labels": np.array([c for rows in chosen for c in rows.labels], np.int64),
            "ages": np.array([a for rows in chosen for a in rows.ages], np.float64),
        }

    def decision_groups(self) -> list[tuple[str, str]]:
        """The (model version, month) pairs with matched decisions."""
        return sorted(self.groups)


def _age(value: Any) -> float:
    """The captured (normalised) age; NaN when absent or not a number."""
    try:
        return float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        return float("nan")
