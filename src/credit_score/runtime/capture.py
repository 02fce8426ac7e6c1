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

Capture never fails a prediction, loses a record or stores one twice, and never holds an answer up
for long. Each invocation's store has one time budget (``CAPTURE_BUDGET_MS``; by default
:data:`AFTER_ANSWER_BUDGET_S` when it runs after the answer, :data:`BUDGET_S` when the caller waits
for it) and never runs past the Lambda's remaining time minus :data:`MARGIN_S`. A single attempt may
use all of what is left of it (its connect and read timeouts are that time), so storage that is slow
but within the budget stores every record, first time; another attempt follows a failure only while
at least :data:`MIN_ATTEMPT_S` is left, with what is left. botocore's own retries are off, and S3 is
not asked for ``100-continue`` (botocore waits a fixed second for it).

Retried PUTs are idempotent and detectable: the key is deterministic per invocation (server time
and Lambda request id) and every PUT is conditional, ``If-None-Match: *`` (S3 User Guide, "How to
prevent object overwrites with conditional writes"): S3 answers ``412 Precondition Failed`` when the
object exists, which can only be an earlier attempt of the same store that landed after its client
gave up, so the retry counts it as stored, not as a fallback; a ``409 ConditionalRequestConflict``
is retried like any failure.

After :data:`BREAKER_FAILURES` failed stores in a row (errors, or no answer within the whole budget;
never slowness within it) a circuit breaker sends records straight to the fallback for
:data:`BREAKER_OPEN_S` seconds, then lets one store probe the sink. Whatever is not stored is logged
as one ``capture_fallback`` line per record (the normalised record, never the raw request), so
stored + fallback = sent, and counted in CaptureFailures. A PUT that outlives the whole budget may
still land: that record is then stored and logged, under one ``inference_id``. In Lambda the store
runs after the answer (``flusher.py``); elsewhere before the handler returns.
boto3 is imported and its clients built on the first capture, once per container, outside the budget
(a retry with less time left uses one with shorter timeouts: a quarter, a sixteenth of the budget...).
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import tempfile
import threading
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
BUDGET_S = 0.3  # capture before the answer: what the caller may wait for it
AFTER_ANSWER_BUDGET_S = 2.0  # after the answer: billed time and the next invocation's wait, not the caller's
MARGIN_S = 0.2
ATTEMPTS = 3
MIN_ATTEMPT_S = 0.05  # no attempt is started with less time than this left
ALREADY_STORED = "PreconditionFailed"  # S3's answer to If-None-Match: * on a key that exists
BREAKER_FAILURES = 3
BREAKER_OPEN_S = 30.0
CIRCUIT_OPEN = "circuit_open"
OUT_OF_TIME = "budget_exhausted"


_UNSAFE_KEY = re.compile(r"\\|[\x00-\x1f\x7f]|(^|/)\.{1,2}(/|$)|^/|//")


class UnsafeKey(ValueError):
    """A capture key that would leave the sink's prefix; its records go to the fallback log."""


def checked_key(key: str) -> str:
    """``key`` when it is a relative, forward-slash path of plain segments, else :class:`UnsafeKey`."""
    if type(key) is not str or not key or _UNSAFE_KEY.search(key):
        raise UnsafeKey("capture key must be relative, with no '..', backslash or control character")
    return key


class Sink(Protocol):
    """Stores one invocation's lines within ``timeout_s``; returns the indexes of lines it could not store.

    ``ready`` does the one-off setup (building the AWS client) outside the time budget: a budget
    eaten by importing boto3 would time out a PUT that S3 then stores.
    """

    def ready(self) -> None: ...

    def put(self, key: str, lines: Sequence[bytes], timeout_s: float) -> list[int]: ...


def client_options(timeout_s: float) -> dict[str, Any]:
    """botocore settings for one attempt of at most ``timeout_s``, connecting included; no retries of its own."""
    connect = timeout_s / 4
    return {
        "retries": {"mode": "standard", "total_max_attempts": 1},
        "connect_timeout": connect,
        "read_timeout": timeout_s - connect,
    }


def default_client(service: str, timeout_s: float = BUDGET_S) -> Any:
    """A boto3 client for attempts of ``timeout_s``, without ``Expect: 100-continue``; honours AWS_ENDPOINT_URL."""
    import boto3
    from botocore.config import Config

    client = boto3.client(service, config=Config(**client_options(timeout_s)))
    client.meta.events.register_last(f"before-call.{service}", _no_expect)
    return client


class _Clients:
    """Clients for attempts of the whole budget, a quarter of it, a sixteenth..., down to one of at most
    :data:`MIN_ATTEMPT_S`, all built by :meth:`ready`, outside the budget: building one inside it (tens
    of milliseconds on a busy core) would hold a synchronous answer past its budget. An attempt takes
    the longest that fits the time left, so it never runs past the budget."""

    def __init__(self, service: str, factory: Callable[[str, float], Any], budget_s: float) -> None:
        self._service = service
        self._factory = factory
        timeouts = [budget_s]
        while timeouts[-1] > MIN_ATTEMPT_S:
            timeouts.append(timeouts[-1] / 4)
        self.timeouts = tuple(timeouts)
        self._clients: list[Any] = []

    def ready(self) -> None:
        if not self._clients:
            self._clients = [self._factory(self._service, timeout) for timeout in self.timeouts]

    def get(self, timeout_s: float) -> Any:
        """The client with the longest timeout not above ``timeout_s`` (the shortest, if none is)."""
        self.ready()
        for timeout, client in zip(self.timeouts, self._clients, strict=True):
            if timeout <= timeout_s + 1e-9:
                return client
        return self._clients[-1]


def _no_expect(params: dict[str, Any], **_: Any) -> None:
    """botocore waits a fixed second for a ``100 Continue`` that a hung endpoint never sends."""
    params["headers"].pop("Expect", None)


class LocalSink:
    """The S3 layout under a local folder: the default of ``make demo`` and of local runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def ready(self) -> None:
        """Nothing to set up."""

    def put(self, key: str, lines: Sequence[bytes], timeout_s: float = BUDGET_S) -> list[int]:
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
    """One object per invocation, written once: ``If-None-Match: *`` makes a retry of a PUT that landed
    late a detectable no-op (``412``), counted as stored."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        kms_key_id: str | None = None,
        client_factory: Callable[[str, float], Any] = default_client,
        budget_s: float = BUDGET_S,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._extra: dict[str, str] = {"ServerSideEncryption": "AES256"}
        if kms_key_id:
            self._extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
        self._clients = _Clients("s3", client_factory, budget_s)

    def ready(self) -> None:
        self._clients.ready()

    def put(self, key: str, lines: Sequence[bytes], timeout_s: float = BUDGET_S) -> list[int]:
        key = checked_key(key)
        client = self._clients.get(timeout_s)
        try:
            client.put_object(
                Bucket=self.bucket,
                Key=f"{self.prefix}/{key}" if self.prefix else key,
                Body=b"".join(lines),
                ContentType="application/x-ndjson",
                IfNoneMatch="*",
                **self._extra,
            )
        except Exception as error:
            if failure_reason(error) != ALREADY_STORED:
                raise
        return []


class FirehoseSink:
    def __init__(
        self,
        stream: str,
        *,
        client_factory: Callable[[str, float], Any] = default_client,
        sleep: Callable[[float], None] = time.sleep,
        budget_s: float = BUDGET_S,
    ) -> None:
        self.stream = stream
        self._clients = _Clients("firehose", client_factory, budget_s)
        self._client: Any = None
        self._sleep = sleep

    def ready(self) -> None:
        self._clients.ready()

    def put(self, key: str, lines: Sequence[bytes], timeout_s: float = BUDGET_S) -> list[int]:
        self._client = self._clients.get(timeout_s)
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
    reasons: Sequence[list[str]] | None = None,
) -> list[dict[str, Any]]:
    """One record per prediction: ids, time, model, normalised input, prediction, probabilities, reasons, decision."""
    timestamp = when.isoformat().replace("+00:00", "Z")
    decisions = None if prediction.decision is None else prediction.decision.blocks()
    records = []
    for index, (inputs, code, probabilities) in enumerate(
        zip(batch.records(), prediction.codes.tolist(), prediction.probabilities.tolist(), strict=True)
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
                reasons=None if reasons is None else reasons[index],
                decision=None if decisions is None else decisions[index],
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


class Breaker:
    """Closed until ``failures`` failed stores in a row; then open for ``open_s``; then one probe."""

    def __init__(
        self,
        failures: int = BREAKER_FAILURES,
        open_s: float = BREAKER_OPEN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.open_s = open_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failed = 0
        self._open_until: float | None = None
        self._probing = False

    def allow(self) -> bool:
        """Whether this store may reach the sink: always while closed, once per period while open."""
        with self._lock:
            if self._open_until is None:
                return True
            if self._probing or self._clock() < self._open_until:
                return False
            self._probing = True
            return True

    def record(self, ok: bool) -> None:
        with self._lock:
            self._probing = False
            if ok:
                self._failed, self._open_until = 0, None
                return
            self._failed += 1
            if self._open_until is not None or self._failed >= self.failures:
                self._open_until = self._clock() + self.open_s


class Capture:
    """Samples invocations, stores their records in ``sink`` within a budget, falls back to the log.

    ``defer``, when given, takes each store to run later (after the answer, see ``flusher.py``) and
    returns ``False`` when it cannot, in which case the store runs at once.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        log: Log,
        sampling_percent: float = 100.0,
        rng: random.Random | None = None,
        budget_s: float = BUDGET_S,
        breaker: Breaker | None = None,
        defer: Callable[[Callable[[], int]], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.sink = sink
        self.log = log
        self.sampling_percent = sampling_percent
        self.budget_s = budget_s
        self.breaker = breaker or Breaker()
        self.defer = defer
        self._rng = rng or random.Random()  # noqa: S311 (sampling, not secrecy)
        self._clock = clock

    def sampled(self) -> bool:
        return self.sampling_percent >= 100.0 or self._rng.random() * 100.0 < self.sampling_percent

    def write(
        self,
        records: list[dict[str, Any]],
        key: str,
        *,
        remaining_ms: int | None = None,
        late_fallbacks: Callable[[int], None] | None = None,
    ) -> int:
        """Store ``records`` under ``key``, now or deferred; returns how many went to the log now.

        ``remaining_ms`` is the Lambda's time left (``context.get_remaining_time_in_millis()``):
        no attempt may start that could end less than :data:`MARGIN_S` before it. A deferred store
        reports its fallbacks, if any, to ``late_fallbacks``.
        """
        until = None if remaining_ms is None else self._clock() + remaining_ms / 1000 - MARGIN_S
        if self.defer is not None and self.defer(functools.partial(self._late, records, key, until, late_fallbacks)):
            return 0
        return self.store(records, key, until=until)

    def _late(
        self, records: list[dict[str, Any]], key: str, until: float | None, report: Callable[[int], None] | None
    ) -> int:
        failures = self.store(records, key, until=until)
        if failures and report is not None:
            report(failures)
        return failures

    def store(self, records: list[dict[str, Any]], key: str, *, until: float | None = None) -> int:
        """Store within the budget (never past ``until``); returns how many records fell back."""
        lines = [json.dumps(record, separators=(",", ":")).encode() + b"\n" for record in records]
        failed, reason = self._attempts(key, lines, until)
        for index in failed:
            self.log.warning(FALLBACK_MESSAGE, reason=reason, key=key, record=records[index])
        return len(failed)

    def _attempts(self, key: str, lines: list[bytes], until: float | None) -> tuple[list[int], str]:
        everything = list(range(len(lines)))
        try:
            checked_key(key)  # a refused key is no fault of the sink's: no attempt, no breaker count
            self.sink.ready()
        except Exception as error:  # e.g. no region configured: the records still go somewhere
            return everything, failure_reason(error)
        now = self._clock()
        deadline = now + self.budget_s if until is None else min(now + self.budget_s, until)
        if deadline - now < MIN_ATTEMPT_S:
            return everything, OUT_OF_TIME
        if not self.breaker.allow():
            return everything, CIRCUIT_OPEN
        failed, reason = everything, OUT_OF_TIME
        for attempt in range(ATTEMPTS):
            # the first attempt takes the whole budget (the time left, if the Lambda's deadline is nearer),
            # a retry what is left: slow storage within the budget still stores, first time
            left = deadline - self._clock() if attempt else deadline - now
            if left < MIN_ATTEMPT_S:
                break
            try:
                failed, reason = self.sink.put(key, lines, left), "rejected_by_service"
                break
            except Exception as error:  # any storage fault: the prediction must still be answered
                failed, reason = everything, failure_reason(error)
        self.breaker.record(len(failed) < len(lines) or not lines)
        return failed, reason


def build_capture(
    uri: str | None,
    *,
    log: Log,
    sampling_percent: float = 100.0,
    kms_key_id: str | None = None,
    budget_s: float = BUDGET_S,
    client_factory: Callable[[str, float], Any] | None = None,
    defer: Callable[[Callable[[], int]], bool] | None = None,
) -> Capture | None:
    """The capture for ``CAPTURE_URI``; ``None`` (with one warning) when it is unset."""
    if not uri:
        log.warning("capture_disabled", reason="CAPTURE_URI is not set; predictions are not captured")
        return None
    try:
        location = parse_location(uri)
    except ValueError as error:
        raise ConfigError(f"CAPTURE_URI {error}") from None
    client_factory = client_factory or default_client
    if location.scheme == "file":
        sink: Sink = LocalSink(location.folder)  # type: ignore[arg-type]
    elif location.scheme == "s3":
        sink = S3Sink(
            location.bucket, location.prefix, kms_key_id=kms_key_id, client_factory=client_factory, budget_s=budget_s
        )
    else:
        sink = FirehoseSink(location.stream, client_factory=client_factory, budget_s=budget_s)
    return Capture(sink, log=log, sampling_percent=sampling_percent, budget_s=budget_s, defer=defer)
