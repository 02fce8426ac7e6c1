"""Reading the capture: windows, partition pruning (local and S3), Firehose layout, duplicates, bad lines."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from credit_score.monitoring import reader as reader_module
from credit_score.monitoring.reader import (
    FIREHOSE_DAY,
    FIREHOSE_HOUR,
    HIVE_DAY,
    HIVE_HOUR,
    CaptureError,
    CaptureReader,
    LocalStore,
    RecentIds,
    Window,
    iter_lines,
    open_store,
    partitions,
)
from tests.monitoring.conftest import MODEL, dated_records, lines, write_hive


def read_all(capture: CaptureReader) -> list[dict]:
    return [record for chunk in capture.chunks() for record in chunk]


def test_given_dates_when_parsed_then_until_day_is_inclusive():
    window = Window.parse("2025-05-02", "2025-05-03")

    assert window.since == datetime(2025, 5, 2, tzinfo=UTC)
    assert window.until == datetime(2025, 5, 4, tzinfo=UTC)
    assert window.contains("2025-05-03T23:59:59.999999Z")
    assert not window.contains("2025-05-04T00:00:00Z")
    assert not window.contains("2025-05-01T23:59:59Z")


def test_given_instants_when_parsed_then_utc_and_until_exclusive():
    window = Window.parse("2025-05-02T12:30:00+02:00", "2025-05-02T13:00:00Z")

    assert window.since == datetime(2025, 5, 2, 10, 30, tzinfo=UTC)
    assert window.contains("2025-05-02T10:30:00Z")
    assert window.contains("2025-05-02T12:59:59.5Z")
    assert not window.contains("2025-05-02T13:00:00Z")


@pytest.mark.parametrize(("since", "until"), [("2025-05-03", "2025-05-02"), ("May 2nd", "2025-05-03"), ("", "")])
def test_given_bad_bounds_when_parsed_then_value_error(since, until):
    with pytest.raises(ValueError, match="must"):
        Window.parse(since, until)


def test_given_whole_days_when_prefixed_then_one_prefix_per_day():
    window = Window.parse("2025-04-30", "2025-05-01")

    assert window.prefixes(HIVE_DAY, HIVE_HOUR) == ["year=2025/month=04/day=30/", "year=2025/month=05/day=01/"]


def test_given_partial_days_when_prefixed_then_hour_prefixes_at_the_edges():
    window = Window.parse("2025-05-01T22:15:00Z", "2025-05-03T01:00:00Z")

    assert window.prefixes(HIVE_DAY, HIVE_HOUR) == [
        "year=2025/month=05/day=01/hour=22/",
        "year=2025/month=05/day=01/hour=23/",
        "year=2025/month=05/day=02/",
        "year=2025/month=05/day=03/hour=00/",
    ]


def test_given_firehose_layout_when_prefixed_then_one_hour_of_arrival_slack_after_the_end():
    window = Window.parse("2025-05-02", "2025-05-02")

    prefixes = window.prefixes(FIREHOSE_DAY, FIREHOSE_HOUR, slack=reader_module.FIREHOSE_SLACK)

    assert prefixes == ["2025/05/02/", "2025/05/03/00/"]


def test_given_hive_capture_over_five_days_when_read_then_only_the_window_is_listed_and_read(tmp_path):
    written = write_hive(tmp_path, [1, 2, 3, 4, 5], per_file=4, files_per_day=3)
    write_hive(tmp_path, [2, 3], per_file=4, files_per_day=2, version="2")
    capture = CaptureReader(LocalStore(tmp_path), Window.parse("2025-05-02", "2025-05-03"), model_version="3")

    records = read_all(capture)

    assert len(records) == written[2] + written[3]
    assert {r["timestamp"][:10] for r in records} == {"2025-05-02", "2025-05-03"}
    assert {r["model_version"] for r in records} == {"3"}
    assert capture.counts.files == 6  # the version 2 folder and the other days were never opened
    assert capture.counts.outside_window == capture.counts.other_model == 0
    assert capture.counts.partitions == 2


def test_given_no_version_filter_when_read_then_every_version_of_the_window(tmp_path):
    write_hive(tmp_path, [2], per_file=4, files_per_day=2)
    write_hive(tmp_path, [2], per_file=4, files_per_day=1, version="2")

    capture = CaptureReader(LocalStore(tmp_path), Window.parse("2025-05-02", "2025-05-02"))

    assert len(read_all(capture)) == 12
    assert capture.counts.partitions == 2


def test_given_another_model_name_when_read_then_its_folder_is_skipped(tmp_path):
    write_hive(tmp_path, [2], per_file=4, files_per_day=2)

    capture = CaptureReader(LocalStore(tmp_path), Window.parse("2025-05-02", "2025-05-02"), model_name="other")

    assert read_all(capture) == []
    assert capture.counts.files == 0


def write_firehose(root: Path, hour_folder: str, name: str, records: list[dict], *, compress: bool = False) -> None:
    folder = root / hour_folder
    folder.mkdir(parents=True, exist_ok=True)
    data = lines(records)
    if compress:
        (folder / f"{name}.gz").write_bytes(gzip.compress(data))
    else:
        (folder / name).write_bytes(data)


def test_given_firehose_layout_when_read_then_hour_folders_gz_and_late_arrivals_are_handled(tmp_path):
    day = datetime(2025, 5, 2, 10, tzinfo=UTC)
    write_firehose(tmp_path, "2025/05/02/10", "capture-1-2025-05-02-10-00-00-a", dated_records(3, day, seed=1))
    late = datetime(2025, 5, 2, 23, 59, 59, tzinfo=UTC)
    write_firehose(
        tmp_path, "2025/05/02/23", "capture-1-2025-05-02-23-00-00-b", dated_records(5, late, seed=2), compress=True
    )
    write_firehose(tmp_path, "2025/05/03/00", "capture-1-2025-05-03-00-00-00-c", dated_records(2, late, seed=3))
    next_day = datetime(2025, 5, 3, 0, 10, tzinfo=UTC)
    write_firehose(tmp_path, "2025/05/03/00", "capture-1-2025-05-03-00-10-00-d", dated_records(4, next_day, seed=4))
    write_firehose(tmp_path, "2025/05/03/01", "capture-1-2025-05-03-01-00-00-e", dated_records(6, next_day, seed=5))
    write_firehose(tmp_path, "2025/05/01/23", "capture-1-2025-05-01-23-00-00-f", dated_records(7, day, seed=6))
    write_firehose(tmp_path, "errors/processing-failed/2025/05/02/10", "failed-1", dated_records(8, day, seed=7))

    capture = CaptureReader(LocalStore(tmp_path), Window.parse("2025-05-02", "2025-05-02"))
    records = read_all(capture)

    assert len(records) == 3 + 5 + 2  # the late arrivals of 23:59:59 are in the 00 folder of the next day
    assert capture.counts.outside_window == 4  # read from the slack hour, then dropped by timestamp
    assert capture.counts.files == 4  # neither 01:00 of the next day, nor the day before, nor errors/


def test_given_fallback_log_lines_and_copies_when_read_then_each_inference_counts_once(tmp_path):
    when = datetime(2025, 5, 2, 10, tzinfo=UTC)
    stored = dated_records(5, when, seed=1)
    fallback = [
        {"level": "WARNING", "message": "capture_fallback", "reason": "ReadTimeout", "key": "k", "record": record}
        for record in [*stored[:2], *dated_records(1, when, seed=2)]
    ]
    folder = tmp_path / f"model={MODEL}/version=3/year=2025/month=05/day=02/hour=10"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_bytes(lines(stored))
    (folder / "b.jsonl").write_bytes(lines(fallback))

    capture = CaptureReader(LocalStore(tmp_path), Window.parse("2025-05-02", "2025-05-02"))
    records = read_all(capture)

    assert len(records) == 6
    assert len({r["inference_id"] for r in records}) == 6
    assert capture.counts.duplicates == 2


def test_given_malformed_lines_when_read_then_counted_and_skipped(tmp_path):
    when = datetime(2025, 5, 2, 10, tzinfo=UTC)
    good = dated_records(2, when, seed=1)
    bad_prediction = dict(dated_records(1, when, seed=2)[0], prediction=7)
    boolean_prediction = dict(dated_records(1, when, seed=3)[0], prediction=True)
    list_prediction = dict(dated_records(1, when, seed=4)[0], prediction=[1])
    odd = [bad_prediction, boolean_prediction, list_prediction]
    text = lines(good) + b'not json\n{"input": 1}\n[]\n\n   \n' + lines(odd)
    folder = tmp_path / f"model={MODEL}/version=3/year=2025/month=05/day=02/hour=10"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_bytes(text)
    (folder / ".capture-tmp123").write_bytes(b"half a reco")  # LocalSink's temporary file: never read

    capture = CaptureReader(LocalStore(tmp_path), Window.parse("2025-05-02", "2025-05-02"))

    assert len(read_all(capture)) == 2
    assert capture.counts.malformed == 6
    assert capture.counts.lines == 8
    assert capture.counts.files == 1


def test_given_a_file_that_is_not_utf8_when_read_then_only_its_bad_lines_are_lost(tmp_path):
    when = datetime(2025, 5, 2, 10, tzinfo=UTC)
    folder = tmp_path / f"model={MODEL}/version=3/year=2025/month=05/day=02/hour=10"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_bytes(lines(dated_records(3, when, seed=1)) + b'{"input": "\xff\xfe"}\n')

    capture = CaptureReader(LocalStore(tmp_path), Window.parse("2025-05-02", "2025-05-02"))

    assert len(read_all(capture)) == 3
    assert capture.counts.malformed == 1


def test_given_large_objects_when_read_then_streamed_with_the_same_result(tmp_path, monkeypatch):
    write_hive(tmp_path, [2], per_file=40, files_per_day=3)
    window = Window.parse("2025-05-02", "2025-05-02")
    fetched = read_all(CaptureReader(LocalStore(tmp_path), window))

    monkeypatch.setattr(reader_module, "PREFETCH_MAX_BYTES", 10)
    streamed = read_all(CaptureReader(LocalStore(tmp_path), window, chunk_size=7))

    assert [r["inference_id"] for r in streamed] == [r["inference_id"] for r in fetched]


def test_given_lines_across_blocks_when_split_then_whole_lines():
    data = b"first line\nsecond, a longer line\n\nlast without newline"

    assert list(iter_lines(io.BytesIO(data), block=4)) == data.split(b"\n")


def test_given_an_endless_line_when_streamed_then_memory_stays_bounded(monkeypatch):
    monkeypatch.setattr(reader_module, "MAX_LINE_BYTES", 100)
    data = b"x" * 1_000 + b"\nshort\n"

    pieces = list(iter_lines(io.BytesIO(data), block=64))

    assert max(len(p) for p in pieces) <= 100 + 64
    assert pieces[-1] == b"short"


def test_given_a_capacity_when_ids_seen_then_exact_within_it_and_bounded_beyond():
    ids = RecentIds(capacity=3)

    assert [ids.seen(x) for x in ("a", "b", "a")] == [False, False, True]
    for x in ("c", "d", "e", "f", "g"):
        ids.seen(x)

    assert not ids.seen("a")  # two generations later, forgotten: memory stays bounded
    assert ids.seen("g")


def test_given_a_missing_folder_when_opened_then_capture_error(tmp_path):
    with pytest.raises(CaptureError, match="does not exist"):
        open_store(str(tmp_path / "nowhere"))


@pytest.mark.parametrize("uri", ["gs://bucket/prefix", "s3:///prefix"])
def test_given_an_unsupported_uri_when_opened_then_capture_error(uri):
    with pytest.raises(CaptureError, match="s3://bucket/prefix"):
        open_store(uri)


class Recorder:
    """The real boto3 client's own event hooks: every S3 call's parameters and every key a listing returned."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.listed: list[str] = []

    def factory(self, service: str):
        client = boto3.client(service)
        client.meta.events.register("before-parameter-build.s3", self._before)
        client.meta.events.register("after-call.s3.ListObjectsV2", self._after)
        return client

    def _before(self, params, model, **kwargs):
        self.calls.append((model.name, dict(params)))

    def _after(self, parsed, **kwargs):
        self.listed.extend(item["Key"] for item in parsed.get("Contents", ()))

    def of(self, operation: str) -> list[dict]:
        return [params for name, params in self.calls if name == operation]


@pytest.fixture
def bucket(aws, tmp_path) -> tuple[str, Path]:
    """The same Hive capture on disk and in a moto bucket under capture/: 12 objects a day for 5 days."""
    write_hive(tmp_path, [1, 2, 3, 4, 5], per_file=4, files_per_day=12)
    write_hive(tmp_path, [2, 3], per_file=4, files_per_day=2, version="2")
    s3 = boto3.client("s3")
    name = f"capture-{tmp_path.name.lower().replace('_', '-')}"[:63]
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for path in tmp_path.rglob("*.jsonl"):
        s3.put_object(Bucket=name, Key=f"capture/{path.relative_to(tmp_path).as_posix()}", Body=path.read_bytes())
    return name, tmp_path


def test_given_s3_capture_when_read_then_only_window_partitions_listed_paginated_and_fetched(bucket):
    name, local = bucket
    recorder = Recorder()
    store = open_store(f"s3://{name}/capture", client_factory=recorder.factory, page_size=7)
    window = Window.parse("2025-05-02", "2025-05-03")

    records = read_all(CaptureReader(store, window, model_version="3", workers=4))
    expected = read_all(CaptureReader(LocalStore(local), window, model_version="3"))

    assert sorted(r["inference_id"] for r in records) == sorted(r["inference_id"] for r in expected)
    assert len(records) == 2 * 12 * 4
    in_window = ("/year=2025/month=05/day=02/", "/year=2025/month=05/day=03/")
    assert recorder.listed, "listings returned keys"
    assert all("/version=3/" in key and any(day in key for day in in_window) for key in recorder.listed)
    fetched = [params["Key"] for params in recorder.of("GetObject")]
    assert sorted(fetched) == sorted(recorder.listed)  # every object of the window, once, nothing else
    object_listings = [p for p in recorder.of("ListObjectsV2") if "Delimiter" not in p]
    assert {p["Prefix"] for p in object_listings} == {
        f"capture/model={MODEL}/version=3/year=2025/month=05/day=02/",
        f"capture/model={MODEL}/version=3/year=2025/month=05/day=03/",
    }
    assert sum("ContinuationToken" in p for p in object_listings) == 2  # 12 keys a day at 7 a page: 2 pages each
    assert all(p["MaxKeys"] == 7 for p in recorder.of("ListObjectsV2"))


def test_given_s3_partitions_when_discovered_then_folder_listings_use_the_delimiter(bucket):
    name, _ = bucket
    recorder = Recorder()
    store = open_store(f"s3://{name}/capture", client_factory=recorder.factory)

    found = partitions(store, Window.parse("2025-05-02", "2025-05-02"))

    assert found == [
        f"model={MODEL}/version=2/year=2025/month=05/day=02/",
        f"model={MODEL}/version=3/year=2025/month=05/day=02/",
    ]
    assert all(p.get("Delimiter") == "/" for p in recorder.of("ListObjectsV2"))
    assert recorder.listed == []  # folder names only, never an object key


def test_given_a_missing_bucket_when_read_then_capture_error_with_the_code(aws):
    store = open_store("s3://no-such-bucket-here/capture")

    with pytest.raises(CaptureError, match="NoSuchBucket"):
        read_all(CaptureReader(store, Window.parse("2025-05-02", "2025-05-02")))
