"""The capture contract: what one captured prediction holds, where an invocation's records are stored,
and how a capture location is written. ``runtime.capture`` writes it; ``monitoring`` reads it back.

Record: one JSON object per prediction with the fields of :data:`RECORD_FIELDS` (``request_id`` the
server's id of the invocation, ``correlation_id`` the event source's own id when it had a safe one,
else ``null``; ``input`` the normalised 21 fields, ``probabilities`` by label, ``reasons`` the
answer's reason codes in order, ``null`` when it was not explained; ``decision`` the answer's decision
block, :mod:`credit_score.contract.decision`, added last so that records written before it, which lack
the key, still read as ``null``). A record that could not be
stored is logged as a ``capture_fallback`` line carrying it under ``record``; readers accept both
forms.

Key: ``model=NAME/version=V/year=YYYY/month=MM/day=DD/hour=HH/<UTC timestamp>-<object id>.jsonl``
(Hive partitions, for Athena's partition projection), below the location's prefix. Every part is the
server's: the model's name and version from the bundle, the clock, and an object id that is a
server-generated token (the Lambda request id); :func:`object_key` refuses anything else, so no
client string can shape a key.

Location (``CAPTURE_URI``): ``s3://bucket/prefix``, ``firehose://delivery-stream`` or a local folder
(``file://`` optional).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REQUEST_ID = "request_id"
CORRELATION_ID = "correlation_id"
INFERENCE_ID = "inference_id"
TIMESTAMP = "timestamp"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
EVENT_SOURCE = "event_source"
INPUT = "input"
PREDICTION = "prediction"
LABEL = "label"
PROBABILITIES = "probabilities"
CHALLENGER = "challenger"  # optional: the shadow challenger's figures for the same record (runtime/challenger.py)
REASONS = "reasons"  # the answer's reason codes, in order; present when the answer was explained
DECISION = "decision"  # the answer's decision block (cumulative probabilities and cut-offs); absent from older records
RECORD_FIELDS = (
    REQUEST_ID,
    CORRELATION_ID,
    INFERENCE_ID,
    TIMESTAMP,
    MODEL_NAME,
    MODEL_VERSION,
    EVENT_SOURCE,
    INPUT,
    PREDICTION,
    LABEL,
    PROBABILITIES,
    REASONS,
    DECISION,
)
FALLBACK_MESSAGE = "capture_fallback"
FALLBACK_RECORD = "record"

PARTITIONS = ("model", "version", "year", "month", "day", "hour")
HIVE_DAY = "year=%Y/month=%m/day=%d/"
HIVE_HOUR = "year=%Y/month=%m/day=%d/hour=%H/"
OBJECT_SUFFIX = ".jsonl"
OBJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")  # a uuid, or a test's short token
_UNSAFE_PART = re.compile(r"[/\\\x00-\x1f\x7f]|^\.{1,2}$")  # would split, climb or corrupt a key segment


def record_of(document: Any) -> Any:
    """The capture record in a line's document: the record itself, or the one a fallback line carries."""
    if type(document) is dict and INPUT not in document and type(document.get(FALLBACK_RECORD)) is dict:
        return document[FALLBACK_RECORD]
    return document


def partition_prefix(model_name: str, model_version: str, when: datetime) -> str:
    """The folder of one hour of one model version's records."""
    for part in (model_name, model_version):
        if type(part) is not str or not 0 < len(part) <= 128 or _UNSAFE_PART.search(part):
            raise ValueError("a model name or version in a capture key must be one path segment of 1 to 128 characters")
    return f"model={model_name}/version={model_version}/{when:{HIVE_HOUR}}"


def object_key(model_name: str, model_version: str, when: datetime, object_id: str) -> str:
    """Where one invocation's records go, partitioned for Athena; ``object_id`` is a server token."""
    if type(object_id) is not str or not OBJECT_ID.fullmatch(object_id):
        raise ValueError("a capture object id must be a server token: letters, digits and '-', at most 64")
    return f"{partition_prefix(model_name, model_version, when)}{when:%Y%m%dT%H%M%S%fZ}-{object_id}{OBJECT_SUFFIX}"


def projection_template(root: str) -> str:
    """Athena's ``storage.location.template`` for the key layout of :func:`object_key` under ``root``."""
    return root + "".join(f"{name}=${{{name}}}/" for name in PARTITIONS)


@dataclass(frozen=True)
class Location:
    """A parsed capture location: ``scheme`` is ``s3``, ``firehose`` or ``file``."""

    scheme: str
    bucket: str = ""
    prefix: str = ""
    stream: str = ""
    folder: Path | None = None


def parse_location(uri: str) -> Location:
    """Parse ``CAPTURE_URI``; :class:`ValueError` with the expected forms otherwise."""
    scheme, separator, rest = uri.partition("://")
    if not separator or scheme == "file":
        return Location("file", folder=Path(rest if separator else uri))
    if scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ValueError("must look like s3://bucket/prefix")
        return Location("s3", bucket=bucket, prefix=prefix.strip("/"))
    if scheme == "firehose":
        if not rest or "/" in rest:
            raise ValueError("must look like firehose://delivery-stream-name")
        return Location("firehose", stream=rest)
    raise ValueError("must be s3://bucket/prefix, firehose://stream or a local folder")


def capture_record(
    *,
    request_id: str,
    correlation_id: str | None = None,
    inference_id: str,
    timestamp: str,
    model_name: str,
    model_version: str,
    source: str,
    inputs: Mapping[str, Any],
    prediction: int,
    label: str,
    probabilities: Mapping[str, float],
    reasons: list[str] | None = None,
    decision: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """One captured prediction, with the fields in :data:`RECORD_FIELDS` order."""
    return {
        REQUEST_ID: request_id,
        CORRELATION_ID: correlation_id,
        INFERENCE_ID: inference_id,
        TIMESTAMP: timestamp,
        MODEL_NAME: model_name,
        MODEL_VERSION: model_version,
        EVENT_SOURCE: source,
        INPUT: inputs,
        PREDICTION: prediction,
        LABEL: label,
        PROBABILITIES: probabilities,
        REASONS: reasons,
        DECISION: decision,
    }
