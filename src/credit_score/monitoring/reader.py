"""Reading captured predictions: only the partitions of the window, streamed in bounded chunks.

Two key layouts under the capture prefix (an ``s3://bucket/prefix`` or a local folder), found by
listing one level at a time with a delimiter:

* the handler's Hive partitions ``model=NAME/version=V/year=YYYY/month=MM/day=DD/hour=HH/*.jsonl``
  (``credit_score.contract.capture.object_key``); ``model=`` and ``version=`` folders are filtered by name;
* Firehose's ``YYYY/MM/DD/HH/stream-…`` folders (several records per object, optionally ``.gz``).
  Firehose names the folder by arrival time, which can only be later than the record's own
  timestamp, so one more hour is read after the window's end.

Only the day prefixes inside the window are listed (hour prefixes for a partial first or last day);
ListObjectsV2 is paginated, and every record is still checked against the window by its timestamp.

Lines are JSON capture records; a ``capture_fallback`` log line (``{"message": "capture_fallback",
"record": {...}}``) counts as the record it carries, so exported fallback logs can be read too.
Malformed lines are counted, never echoed. Duplicates (the same ``inference_id``, e.g. a record both
stored and logged as fallback, then replayed) are dropped by :class:`RecentIds`: exact while the two
copies are less than ``dedup_window`` records apart in reading order (always within a file or an hour
partition of that size), memory bounded by two generations of 64-bit hashes.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from credit_score.contract import capture
from credit_score.contract.bundle import CLASSES

FIREHOSE_SLACK = timedelta(hours=1)
PREFETCH_MAX_BYTES = 8 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024  # a capture record is about 1 KB
_CODES = frozenset(code for code, _ in CLASSES)
_YEAR = re.compile(r"\d{4}")
_MAX_DEPTH = 4
_decode = json.JSONDecoder().decode  # json.loads minus its per-call type and encoding checks


class CaptureError(Exception):
    """The capture location cannot be listed or read (missing folder, bucket, permission)."""


@dataclass(frozen=True)
class Window:
    """``[since, until)`` in UTC, whole seconds."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.since >= self.until:
            raise ValueError("the window's start must be before its end")

    @classmethod
    def parse(cls, since: str, until: str) -> Window:
        """``YYYY-MM-DD`` (a whole day; ``until`` inclusive) or an ISO date-time (``until`` exclusive)."""
        return cls(parse_bound(since, end=False), parse_bound(until, end=True))

    @cached_property
    def low(self) -> str:
        return f"{self.since:%Y-%m-%dT%H:%M:%S}"

    @cached_property
    def high(self) -> str:
        return f"{self.until:%Y-%m-%dT%H:%M:%S}"

    def contains(self, timestamp: str) -> bool:
        """ISO UTC timestamps compare as text on their first 19 characters (to the second)."""
        second = timestamp[:19]
        return self.low <= second < self.high

    def days(self) -> list[date]:
        last = (self.until - timedelta(microseconds=1)).date()
        return [self.since.date() + timedelta(days=n) for n in range((last - self.since.date()).days + 1)]

    def prefixes(self, day_format: str, hour_format: str, *, slack: timedelta = timedelta(0)) -> list[str]:
        """One prefix per whole day of the window (plus ``slack``), one per hour of a partial day."""
        window = Window(self.since, self.until + slack) if slack else self
        prefixes = []
        for day in window.days():
            start = datetime.combine(day, time(), UTC)
            if window.since <= start and start + timedelta(days=1) <= window.until:
                prefixes.append(f"{start:{day_format}}")
                continue
            for hour in range(24):
                begin = start + timedelta(hours=hour)
                if begin < window.until and window.since < begin + timedelta(hours=1):
                    prefixes.append(f"{begin:{hour_format}}")
        return prefixes


def parse_bound(text: str, *, end: bool) -> datetime:
    """A day is its midnight, or the next midnight as an ``end``; an instant is cut to the second, in UTC."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("dates must look like 2024-05-01 or 2024-05-01T13:00:00Z") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=0)


HIVE_DAY, HIVE_HOUR = capture.HIVE_DAY, capture.HIVE_HOUR
FIREHOSE_DAY = "%Y/%m/%d/"
FIREHOSE_HOUR = "%Y/%m/%d/%H/"


@dataclass(frozen=True)
class Entry:
    key: str  # relative to the capture prefix
    size: int


class Store(Protocol):
    """A capture location: keys relative to its prefix, folders as ``a/b/``."""

    def list_dirs(self, prefix: str) -> list[str]: ...

    def list_files(self, prefix: str) -> Iterator[Entry]: ...

    def open(self, key: str) -> BinaryIO: ...

    def read(self, key: str) -> bytes: ...


class LocalStore:
    """The S3 layout in a local folder (``make demo``'s ./capture)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise CaptureError(f"capture folder {root} does not exist")
        self.root = root

    def list_dirs(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))

    def list_files(self, prefix: str) -> Iterator[Entry]:
        folder = self.root / prefix
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):  # LocalSink's temporary files
                yield Entry(path.relative_to(self.root).as_posix(), path.stat().st_size)

    def open(self, key: str) -> BinaryIO:
        return (self.root / key).open("rb")

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()


class S3Store:
    """A bucket prefix through ListObjectsV2 (paginated, ``page_size`` keys a page) and GetObject."""

    def __init__(self, bucket: str, prefix: str, client: Any, *, page_size: int = 1000) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.client = client
        self.page_size = page_size

    def _pages(self, prefix: str, **extra: Any) -> Iterator[dict[str, Any]]:
        request = {"Bucket": self.bucket, "Prefix": self.prefix + prefix, "MaxKeys": self.page_size, **extra}
        while True:
            page = self._call(self.client.list_objects_v2, **request)
            yield page
            if not page.get("IsTruncated"):
                return
            request["ContinuationToken"] = page["NextContinuationToken"]

    def list_dirs(self, prefix: str) -> list[str]:
        start = len(self.prefix + prefix)
        return [
            common["Prefix"][start:].rstrip("/")
            for page in self._pages(prefix, Delimiter="/")
            for common in page.get("CommonPrefixes", ())
        ]

    def list_files(self, prefix: str) -> Iterator[Entry]:
        start = len(self.prefix)
        for page in self._pages(prefix):
            for item in page.get("Contents", ()):
                key = item["Key"][start:]
                if not key.rsplit("/", 1)[-1].startswith("."):
                    yield Entry(key, int(item["Size"]))

    def open(self, key: str) -> BinaryIO:
        return self._call(self.client.get_object, Bucket=self.bucket, Key=self.prefix + key)["Body"]

    def read(self, key: str) -> bytes:
        return self.open(key).read()

    def _call(self, operation: Callable[..., Any], **request: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return operation(**request)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "error")
            raise CaptureError(f"s3://{self.bucket}/{request.get('Key') or request.get('Prefix')}: {code}") from None
        except BotoCoreError as error:
            raise CaptureError(f"s3://{self.bucket}: {type(error).__name__}") from None


def open_store(uri: str, *, client_factory: Callable[[str], Any] | None = None, page_size: int = 1000) -> Store:
    """``s3://bucket/prefix`` (credentials and endpoint from the environment), ``file://`` or a folder."""
    try:
        location = capture.parse_location(uri)
    except ValueError as error:
        raise CaptureError(f"the capture URI {error}") from None
    if location.scheme == "s3":
        return S3Store(location.bucket, location.prefix, (client_factory or s3_client)("s3"), page_size=page_size)
    if location.scheme != "file":
        raise CaptureError(
            "the capture URI must be s3://bucket/prefix or a local folder; read a Firehose's S3 destination"
        )
    return LocalStore(location.folder)  # type: ignore[arg-type]


def s3_client(service: str) -> Any:
    """A boto3 client with standard retries, credentials and endpoint from the environment."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)
    return boto3.client(service, config=config)


def partitions(
    store: Store, window: Window, *, model_name: str | None = None, model_version: str | None = None
) -> list[str]:
    """The prefixes of the window's partitions, found by listing folder names only (never objects)."""
    found: list[str] = []
    wanted = {"model": model_name, "version": model_version}

    def walk(prefix: str, depth: int) -> None:
        children = store.list_dirs(prefix)
        if any(child.startswith("year=") for child in children):
            found.extend(prefix + p for p in window.prefixes(HIVE_DAY, HIVE_HOUR))
        if any(_YEAR.fullmatch(child) for child in children):
            found.extend(prefix + p for p in window.prefixes(FIREHOSE_DAY, FIREHOSE_HOUR, slack=FIREHOSE_SLACK))
        if depth == _MAX_DEPTH:
            return
        for child in children:
            key, separator, value = child.partition("=")
            if separator and key in wanted and wanted[key] in (None, value):
                walk(f"{prefix}{child}/", depth + 1)

    walk("", 0)
    return found


class RecentIds:
    """Ids seen lately: two generations of ``capacity`` 64-bit hashes each."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("the deduplication window must hold at least one id")
        self.capacity = capacity
        self._current: set[int] = set()
        self._previous: set[int] = set()

    def seen(self, identifier: str) -> bool:
        """True when ``identifier`` was seen within the window; remembers it otherwise."""
        digest = hash(identifier)
        if digest in self._current or digest in self._previous:
            return True
        self._current.add(digest)
        if len(self._current) >= self.capacity:
            self._previous, self._current = self._current, set()
        return False


@dataclass
class ScanCounts:
    partitions: int = 0
    files: int = 0
    bytes: int = 0
    lines: int = 0
    records: int = 0
    malformed: int = 0
    outside_window: int = 0
    other_model: int = 0
    duplicates: int = 0


def _lines(data: bytes) -> list[str] | list[bytes]:
    """Decoded once per file; a file that is not UTF-8 is split as bytes and judged line by line."""
    try:
        return data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return data.split(b"\n")


def iter_lines(stream: BinaryIO, block: int = 1 << 20) -> Iterator[bytes]:
    """Lines of a stream, at most ``MAX_LINE_BYTES`` held: a longer one is cut and its pieces count as malformed."""
    pending = b""
    while chunk := stream.read(block):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        yield from lines
        if len(pending) > MAX_LINE_BYTES:
            yield pending[:1]  # one byte: never a valid record, so counted as malformed
            pending = b""
    if pending:
        yield pending


class CaptureReader:
    """Streams the window's valid, deduplicated records in chunks; ``counts`` says what was skipped."""

    def __init__(
        self,
        store: Store,
        window: Window,
        *,
        model_name: str | None = None,
        model_version: str | None = None,
        chunk_size: int = 2_000,
        workers: int = 8,
        dedup_window: int = 100_000,
    ) -> None:
        self.store = store
        self.window = window
        self.model_name = model_name
        self.model_version = model_version
        self.chunk_size = chunk_size
        self.workers = workers
        self.counts = ScanCounts()
        self._ids = RecentIds(dedup_window)

    def chunks(self) -> Iterator[list[dict[str, Any]]]:
        chunk: list[dict[str, Any]] = []
        for lines in self._files():
            for line in lines:
                record = self._record(line)
                if record is not None:
                    chunk.append(record)
                    if len(chunk) == self.chunk_size:
                        yield chunk
                        chunk = []
        if chunk:
            yield chunk

    def _entries(self) -> Iterator[Entry]:
        found = partitions(self.store, self.window, model_name=self.model_name, model_version=self.model_version)
        self.counts.partitions = len(found)
        for prefix in found:
            yield from self.store.list_files(prefix)

    def _files(self) -> Iterator[Iterable[str] | Iterable[bytes]]:
        """Each file's lines in listing order; small objects are fetched ahead on ``workers`` threads."""
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            ahead: deque[tuple[Entry, Future[bytes] | None]] = deque()
            entries = self._entries()
            while True:
                while len(ahead) < 2 * self.workers and (entry := next(entries, None)) is not None:
                    small = entry.size <= PREFETCH_MAX_BYTES and not entry.key.endswith(".gz")
                    ahead.append((entry, pool.submit(self.store.read, entry.key) if small else None))
                if not ahead:
                    return
                entry, future = ahead.popleft()
                self.counts.files += 1
                self.counts.bytes += entry.size
                if future is not None:
                    yield _lines(future.result())
                else:
                    yield from self._streamed(entry)

    def _streamed(self, entry: Entry) -> Iterator[Iterable[bytes]]:
        stream = self.store.open(entry.key)
        try:
            yield iter_lines(gzip.GzipFile(fileobj=stream) if entry.key.endswith(".gz") else stream)
        finally:
            stream.close()

    def _record(self, line: str | bytes) -> dict[str, Any] | None:
        """The record on ``line`` if it is valid, in the window, of the model asked for and new."""
        if not line.strip():
            return None
        counts = self.counts
        counts.lines += 1
        try:
            record = _decode(line if type(line) is str else line.decode("utf-8"))  # type: ignore[union-attr]
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            counts.malformed += 1
            return None
        record = capture.record_of(record)
        if (
            type(record) is not dict
            or type(record.get("input")) is not dict
            or type(record.get("timestamp")) is not str
            or type(record.get("prediction")) is not int
            or record["prediction"] not in _CODES
        ):
            counts.malformed += 1
            return None
        if not self.window.contains(record["timestamp"]):
            counts.outside_window += 1
            return None
        if (self.model_version is not None and str(record.get("model_version")) != self.model_version) or (
            self.model_name is not None and record.get("model_name") != self.model_name
        ):
            counts.other_model += 1
            return None
        identifier = record.get("inference_id")
        if isinstance(identifier, str) and self._ids.seen(identifier):
            counts.duplicates += 1
            return None
        counts.records += 1
        return record
