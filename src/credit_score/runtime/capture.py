"""Capture of every prediction as JSON Lines, one new object per invocation, never read-modify-write.

``CAPTURE_URI`` picks the sink:

* ``s3://bucket/prefix`` — ``prefix/model=NAME/version=V/year=YYYY/month=MM/day=DD/hour=HH/
  <timestamp>-<Lambda request id>.jsonl`` (Hive partitions for Athena), server-side encrypted (``AES256``,
  or ``aws:kms`` with ``CAPTURE_KMS_KEY_ID``);
* ``firehose://stream`` — one PutRecordBatch per invocation (chunks of at most 500 records / 4 MiB),
  records the service refused are retried, and only those;
* a local folder (or ``file://`` URI) — the S3 layout on disk, each file written atomically;
* unset — capture off, said once in a warning.

Keys are built from server parts only (``contract.capture.object_key``), and each sink still refuses
a key that would leave its prefix (:class:`UnsafeKey`: ``..`` segments, a leading ``/``, backslashes,
control characters; the folder sink also resolves the target and checks it stays inside the folder).

Capture never fails a prediction. AWS calls use botocore's standard retry mode with few attempts and
short timeouts; whatever still fails is logged as one ``capture_fallback`` line per record (the
normalised record, never the raw request), so nothing is lost, and counted in CaptureFailures.
boto3 is imported and its client built on the first capture, once per container.
"""

from __future__ import annotations

import json
import os
import random
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from credit_score.contract.capture import FALLBACK_MESSAGE, capture_record, parse_location
from credit_score.runtime.errors import ConfigError
from credit_score.runtime.logs import Log
from credit_score.runtime.model import Prediction
from credit_score.runtime.payload import Batch

FIREHOSE_MAX_RECORDS = 500
FIREHOSE_MAX_BYTES = 4 * 1024 * 1024
FIREHOSE_ATTEMPTS = 3
CLIENT_OPTIONS: dict[str, Any] = {
    "retries": {"mode": "standard", "total_max_attempts": 2},
    "connect_timeout": 1,
    "read_timeout": 2,
}


_UNSAFE_KEY = re.compile(r"\\|[\x00-\x1f\x7f]|(^|/)\.{1,2}(/|$)|^/|//")


class UnsafeKey(ValueError):
    """A capture key that would leave the sink's prefix; its records go to the fallback log."""


def checked_key(key: str) -> str:
    """``key`` when it is a relative, forward-slash path of plain segments, else :class:`UnsafeKey`."""
    if type(key) is not str or not key or _UNSAFE_KEY.search(key):
        raise UnsafeKey("capture key must be relative, with no '..', backslash or control character")
    return key


class Sink(Protocol):
    """Stores one invocation's lines; returns the indexes of lines it could not store."""

    def put(self, key: str, lines: Sequence[bytes]) -> list[int]: ...


def default_client(service: str) -> Any:
    """A boto3 client with bounded retries and timeouts; endpoints honour AWS_ENDPOINT_URL."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(**CLIENT_OPTIONS))


class LocalSink:
    """The S3 layout under a local folder: the default of ``make demo`` and of local runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, key: str, lines: Sequence[bytes]) -> list[int]:
        root = self.folder.resolve()
        target = (root / checked_key(key)).resolve()
        if not target.is_relative_to(root) or target == root:
            raise UnsafeKey("capture key leaves the capture folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".capture-", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(b"".join(lines))
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return []


class S3Sink:
    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        kms_key_id: str | None = None,
        client_factory: Callable[[str], Any] = default_client,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._extra: dict[str, str] = {"ServerSideEncryption": "AES256"}
        if kms_key_id:
            self._extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
        self._client_factory = client_factory
        self._client: Any = None

    def put(self, key: str, lines: Sequence[bytes]) -> list[int]:
        key = checked_key(key)
        if self._client is None:
            self._client = self._client_factory("s3")
        self._client.put_object(
            Bucket=self.bucket,
            Key=f"{self.prefix}/{key}" if self.prefix else key,
            Body=b"".join(lines),
            ContentType="application/x-ndjson",
            **self._extra,
        )
        return []


class FirehoseSink:
    def __init__(
        self,
        stream: str,
        *,
        client_factory: Callable[[str], Any] = default_client,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.stream = stream
        self._client_factory = client_factory
        self._client: Any = None
        self._sleep = sleep

    def put(self, key: str, lines: Sequence[bytes]) -> list[int]:
        if self._client is None:
            self._client = self._client_factory("firehose")
        failed: list[int] = []
        for chunk in _chunks(lines):
            failed.extend(self._put_chunk(lines, chunk))
        return failed

    def _put_chunk(self, lines: Sequence[bytes], pending: list[int]) -> list[int]:
        """PutRecordBatch, then again for the records it refused, at most FIREHOSE_ATTEMPTS times."""
        for attempt in range(FIREHOSE_ATTEMPTS):
            if attempt:
                self._sleep(0.05 * 2**attempt)
            response = self._client.put_record_batch(
                DeliveryStreamName=self.stream, Records=[{"Data": lines[i]} for i in pending]
            )
            if not response.get("FailedPutCount"):
                return []
            results = response["RequestResponses"]
            pending = [i for i, result in zip(pending, results, strict=True) if result.get("ErrorCode")]
        return pending


def _chunks(lines: Sequence[bytes]) -> list[list[int]]:
    """Indexes grouped within Firehose's per-call limits (500 records, 4 MiB)."""
    chunks: list[list[int]] = [[]]
    size = 0
    for index, line in enumerate(lines):
        if len(chunks[-1]) == FIREHOSE_MAX_RECORDS or (chunks[-1] and size + len(line) > FIREHOSE_MAX_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(index)
        size += len(line)
    return chunks


def capture_records(
    batch: Batch,
    prediction: Prediction,
    *,
    labels: Sequence[str],
    model_name: str,
    model_version: str,
    request_id: str,
    source: str,
    when: datetime,
    correlation_id: str | None = None,
) -> list[dict[str, Any]]:
    """One record per prediction: ids, time, model, normalised input, prediction and probabilities."""
    timestamp = when.isoformat().replace("+00:00", "Z")
    records = []
    for inputs, code, probabilities in zip(
        batch.records(), prediction.codes.tolist(), prediction.probabilities.tolist(), strict=True
    ):
        records.append(
            capture_record(
                request_id=request_id,
                correlation_id=correlation_id,
                inference_id=str(uuid.uuid4()),
                timestamp=timestamp,
                model_name=model_name,
                model_version=model_version,
                source=source,
                inputs=inputs,
                prediction=code,
                label=labels[code],
                probabilities=dict(zip(labels, probabilities, strict=True)),
            )
        )
    return records


def failure_reason(error: BaseException) -> str:
    """A short, data-free reason: the AWS error code when there is one, else the exception type."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


class Capture:
    """Samples invocations, writes their records to ``sink``, falls back to the log on failure."""

    def __init__(self, sink: Sink, *, log: Log, sampling_percent: float = 100.0, rng: random.Random | None = None):
        self.sink = sink
        self.log = log
        self.sampling_percent = sampling_percent
        self._rng = rng or random.Random()  # noqa: S311 (sampling, not secrecy)

    def sampled(self) -> bool:
        return self.sampling_percent >= 100.0 or self._rng.random() * 100.0 < self.sampling_percent

    def write(self, records: list[dict[str, Any]], key: str) -> int:
        """Store ``records`` under ``key``; returns how many went to the log instead."""
        lines = [json.dumps(record, separators=(",", ":")).encode() + b"\n" for record in records]
        try:
            failed = self.sink.put(key, lines)
            reason = "rejected_by_service"
        except Exception as error:  # any storage fault: the prediction must still be answered
            failed, reason = list(range(len(records))), failure_reason(error)
        for index in failed:
            self.log.warning(FALLBACK_MESSAGE, reason=reason, key=key, record=records[index])
        return len(failed)


def build_capture(
    uri: str | None,
    *,
    log: Log,
    sampling_percent: float = 100.0,
    kms_key_id: str | None = None,
    client_factory: Callable[[str], Any] = default_client,
) -> Capture | None:
    """The capture for ``CAPTURE_URI``; ``None`` (with one warning) when it is unset."""
    if not uri:
        log.warning("capture_disabled", reason="CAPTURE_URI is not set; predictions are not captured")
        return None
    try:
        location = parse_location(uri)
    except ValueError as error:
        raise ConfigError(f"CAPTURE_URI {error}") from None
    if location.scheme == "file":
        sink: Sink = LocalSink(location.folder)  # type: ignore[arg-type]
    elif location.scheme == "s3":
        sink = S3Sink(location.bucket, location.prefix, kms_key_id=kms_key_id, client_factory=client_factory)
    else:
        sink = FirehoseSink(location.stream, client_factory=client_factory)
    return Capture(sink, log=log, sampling_percent=sampling_percent)
