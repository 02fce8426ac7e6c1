"""Capture through real HTTP (moto's server on 127.0.0.1), a local folder, faults and fallbacks."""

from __future__ import annotations

import io
import json
import random
import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import botocore.exceptions
import numpy as np
import pytest
from botocore.exceptions import ReadTimeoutError

from credit_score.contract.capture import object_key
from credit_score.contract.decision import decide, label_code
from credit_score.contract.fields import FIELDS_BY_NAME
from credit_score.runtime.capture import (
    ATTEMPTS,
    FIREHOSE_MAX_BYTES,
    FIREHOSE_MAX_RECORDS,
    Capture,
    FirehoseSink,
    LocalSink,
    S3Sink,
    UnsafeKey,
    _chunks,
    build_capture,
    capture_records,
    checked_key,
)
from credit_score.runtime.errors import ConfigError
from credit_score.runtime.logs import Log
from credit_score.runtime.model import Prediction
from credit_score.runtime.payload import validate
from tests.support.bundles import synthetic_records
from tests.support.moto import aws_fixture, fake_aws_environment, moto_endpoint_fixture  # noqa: F401 - fixtures

WHEN = datetime(2025, 3, 7, 14, 5, 9, 123456, tzinfo=UTC)
LABELS = ("Poor", "Standard", "Good")


def records_for(count: int, seed: int = 1) -> list[dict]:
    batch = validate(synthetic_records(count, seed=seed))
    rng = np.random.default_rng(seed)
    margins = rng.normal(0, 2, size=(count, 2)).astype(np.float32)
    s1, s2 = 1 / (1 + np.exp(-margins[:, 0])), 1 / (1 + np.exp(-margins[:, 1]))
    probabilities = np.column_stack([1 - s1, s1 * (1 - s2), s1 * s2]).astype(np.float32)
    decision = decide(margins, (0.6, 0.39))
    prediction = Prediction(decision.codes, probabilities, decision)
    return capture_records(
        batch,
        prediction,
        labels=LABELS,
        model_name="credit-score-classifier",
        model_version="7",
        request_id="req-1",
        source="http_api",
        when=WHEN,
    )


def log_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_given_prediction_when_records_built_then_every_documented_field():
    records = records_for(3)
    assert len({r["inference_id"] for r in records}) == 3
    first = records[0]
    assert set(first) == {
        "request_id",
        "correlation_id",
        "inference_id",
        "timestamp",
        "model_name",
        "model_version",
        "event_source",
        "input",
        "prediction",
        "label",
        "probabilities",
        "reasons",
        "decision",
    }
    assert first["reasons"] is None  # not explained
    assert [label_code(r["decision"]) for r in records] == [r["prediction"] for r in records]
    assert first["decision"]["standard_or_better"]["cutoff"] == 0.6
    assert first["timestamp"] == "2025-03-07T14:05:09.123456Z"
    assert first["label"] == LABELS[first["prediction"]]
    assert list(first["probabilities"]) == list(LABELS)
    assert first["input"]["Occupation"] in FIELDS_BY_NAME["Occupation"].levels


def test_given_invocation_when_keyed_then_hive_partitions_and_request_id():
    assert object_key("credit-score-classifier", "7", WHEN, "req-1") == (
        "model=credit-score-classifier/version=7/year=2025/month=03/day=07/hour=14/20250307T140509123456Z-req-1.jsonl"
    )


HOSTILE_IDS = [
    "Root=1/../../x",
    "../../../../tmp/escape",
    "x" * 10_000,
    "Root=1-\u0661\u0662\U0001d7d2",
    "a\\b",
    "/abs",
    "",
]


@pytest.mark.parametrize("object_id", HOSTILE_IDS)
def test_given_client_shaped_object_id_when_keyed_then_refused(object_id):
    with pytest.raises(ValueError, match="object id must be a server token"):
        object_key("credit-score-classifier", "7", WHEN, object_id)


@pytest.mark.parametrize(("name", "version"), [("a/b", "7"), ("..", "7"), ("m", "7\n"), ("m", "a\\b"), ("", "7")])
def test_given_model_name_or_version_that_splits_a_segment_when_keyed_then_refused(name, version):
    with pytest.raises(ValueError, match="model name or version"):
        object_key(name, version, WHEN, "req-1")


@pytest.mark.parametrize(
    "key",
    ["../x.jsonl", "a/../../x.jsonl", "/etc/x.jsonl", "a\\..\\x.jsonl", "a/\x00.jsonl", "a//b.jsonl", "a/./b", ""],
)
def test_given_key_that_would_leave_the_prefix_when_checked_then_refused(key):
    with pytest.raises(UnsafeKey):
        checked_key(key)


@pytest.mark.parametrize("key", ["../outside.jsonl", "a/../../outside.jsonl", "/tmp/outside.jsonl"])
def test_given_escaping_key_when_captured_to_a_folder_then_nothing_outside_and_records_logged(tmp_path, key):
    folder = tmp_path / "capture"
    stream = io.StringIO()
    records = records_for(2)
    assert Capture(LocalSink(folder), log=Log("t", stream=stream)).write(records, key) == 2
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert [line["reason"] for line in log_lines(stream)] == ["UnsafeKey", "UnsafeKey"]
    assert [line["record"] for line in log_lines(stream)] == records


def test_given_symlink_leaving_the_folder_when_captured_then_refused(tmp_path):
    folder, outside = tmp_path / "capture", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (folder / "model=m").symlink_to(outside, target_is_directory=True)
    capture = Capture(LocalSink(folder), log=Log("t", stream=io.StringIO()))
    assert capture.write(records_for(1), "model=m/x.jsonl") == 1
    assert list(outside.iterdir()) == []


def test_given_escaping_key_when_captured_to_s3_then_no_object_and_records_logged(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="capture-escape", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    stream = io.StringIO()
    capture = build_capture("s3://capture-escape/predictions", log=Log("t", stream=stream))
    for key in ("../outside.jsonl", "a/../../b.jsonl", "/abs.jsonl", "a\\b.jsonl"):
        assert capture.write(records_for(1), key) == 1
    assert "Contents" not in s3.list_objects_v2(Bucket="capture-escape")
    assert {line["reason"] for line in log_lines(stream)} == {"UnsafeKey"}


def test_given_local_folder_when_captured_then_one_jsonl_file_per_invocation(tmp_path):
    capture = Capture(LocalSink(tmp_path), log=Log("t", stream=io.StringIO()))
    first, second = records_for(2), records_for(3, seed=2)
    assert capture.write(first, "a/b/one.jsonl") == 0
    assert capture.write(second, "a/b/two.jsonl") == 0
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["a/b/one.jsonl", "a/b/two.jsonl"]
    lines = (tmp_path / "a/b/two.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == second


def test_given_s3_uri_when_captured_then_encrypted_object_with_every_record(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="capture-aes", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    capture = build_capture("s3://capture-aes/predictions/", log=Log("t", stream=io.StringIO()))
    records = records_for(4)
    key = object_key("credit-score-classifier", "7", WHEN, "req-1")
    assert capture.write(records, key) == 0
    assert capture.write(records_for(1, seed=9), key.replace("req-1", "req-2")) == 0
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="capture-aes")["Contents"]]
    assert listed == [f"predictions/{key}", f"predictions/{key.replace('req-1', 'req-2')}"]
    stored = s3.get_object(Bucket="capture-aes", Key=f"predictions/{key}")
    assert stored["ServerSideEncryption"] == "AES256"
    assert stored["ContentType"] == "application/x-ndjson"
    assert [json.loads(line) for line in stored["Body"].read().decode().splitlines()] == records


def test_given_kms_key_when_captured_to_s3_then_kms_encryption_requested(aws):
    key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="capture-kms", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    capture = build_capture("s3://capture-kms", log=Log("t", stream=io.StringIO()), kms_key_id=key_id)
    assert capture.write(records_for(1), "k.jsonl") == 0
    head = s3.head_object(Bucket="capture-kms", Key="k.jsonl")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]


def test_given_firehose_uri_when_a_large_batch_is_captured_then_chunks_of_500_reach_the_stream(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="capture-stream", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    boto3.client("firehose").create_delivery_stream(
        DeliveryStreamName="predictions",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": "arn:aws:s3:::capture-stream",
        },
    )
    capture = build_capture(
        "firehose://predictions", log=Log("t", stream=io.StringIO()), budget_s=5.0
    )  # chunks, not time
    records = records_for(620)
    assert capture.write(records, "ignored-by-firehose") == 0
    objects = [
        s3.get_object(Bucket="capture-stream", Key=o["Key"])["Body"].read()
        for o in s3.list_objects_v2(Bucket="capture-stream")["Contents"]
    ]
    assert sorted(len(body.splitlines()) for body in objects) == [120, 500]
    delivered = [json.loads(line) for body in objects for line in body.splitlines()]
    assert sorted(r["inference_id"] for r in delivered) == sorted(r["inference_id"] for r in records)


class FlakyFirehose:
    """A Firehose fake that refuses some records, as the real service does under throttling."""

    def __init__(self, refuse_times: dict[int, int]):
        self.refuse_times = refuse_times  # record number -> how many calls refuse it
        self.calls: list[list[int]] = []

    def put_record_batch(self, DeliveryStreamName, Records):
        numbers = [json.loads(r["Data"])["n"] for r in Records]
        self.calls.append(numbers)
        results = []
        for n in numbers:
            if self.refuse_times.get(n, 0) > 0:
                self.refuse_times[n] -= 1
                results.append({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"})
            else:
                results.append({"RecordId": f"id-{n}"})
        return {"FailedPutCount": sum("ErrorCode" in r for r in results), "RequestResponses": results}


def test_given_firehose_refusing_some_records_when_captured_then_only_those_are_retried():
    fake = FlakyFirehose({1: 1, 3: 2})
    sink = FirehoseSink("s", client_factory=lambda *_: fake, sleep=lambda _: None)
    lines = [json.dumps({"n": n}).encode() + b"\n" for n in range(5)]
    assert sink.put("k", lines) == []
    assert fake.calls == [[0, 1, 2, 3, 4], [1, 3], [3]]


def test_given_firehose_refusing_a_record_every_time_when_captured_then_it_falls_back_alone():
    fake = FlakyFirehose({2: 99})
    stream = io.StringIO()
    sink = FirehoseSink("s", client_factory=lambda *_: fake, sleep=lambda _: None)
    capture = Capture(sink, log=Log("t", stream=stream))
    records = [{"n": n} for n in range(4)]
    assert capture.write(records, "k") == 1
    [line] = log_lines(stream)
    assert line["message"] == "capture_fallback"
    assert line["record"] == {"n": 2}
    assert len(fake.calls) == 3


def test_given_many_or_large_lines_when_chunked_then_firehose_limits_hold():
    small = [b"x" * 10] * (FIREHOSE_MAX_RECORDS * 2 + 1)
    assert [len(c) for c in _chunks(small)] == [500, 500, 1]
    large = [b"x" * (FIREHOSE_MAX_BYTES // 3)] * 7
    chunks = _chunks(large)
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert all(sum(len(large[i]) for i in chunk) <= FIREHOSE_MAX_BYTES for chunk in chunks)


class SlowDownHandler(BaseHTTPRequestHandler):
    """An S3 endpoint that always answers 503 SlowDown, counting the attempts."""

    attempts = 0

    def do_PUT(self):
        type(self).attempts += 1
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Reduce</Message></Error>'
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_down_endpoint(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowDownHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SlowDownHandler.attempts = 0
    fake_aws_environment(monkeypatch, f"http://127.0.0.1:{server.server_address[1]}")
    yield SlowDownHandler
    server.shutdown()


def test_given_s3_answering_slow_down_when_captured_then_bounded_retries_and_full_records_logged(slow_down_endpoint):
    stream = io.StringIO()
    capture = build_capture("s3://bucket/p", log=Log("t", stream=stream))
    records = records_for(3)
    assert capture.write(records, "k.jsonl") == 3
    assert slow_down_endpoint.attempts == ATTEMPTS, "our attempts only: botocore's own retries are off"
    lines = log_lines(stream)
    assert [line["message"] for line in lines] == ["capture_fallback"] * 3
    assert [line["record"] for line in lines] == records
    assert {line["reason"] for line in lines} == {"SlowDown"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_given_unreachable_s3_when_captured_then_every_record_falls_back(monkeypatch):
    fake_aws_environment(monkeypatch, f"http://127.0.0.1:{free_port()}")
    stream = io.StringIO()
    capture = build_capture("s3://bucket", log=Log("t", stream=stream))
    assert capture.write(records_for(2), "k.jsonl") == 2
    assert {line["reason"] for line in log_lines(stream)} == {"EndpointConnectionError"}


def test_given_unset_uri_when_built_then_capture_off_with_one_warning():
    stream = io.StringIO()
    assert build_capture(None, log=Log("t", stream=stream)) is None
    [line] = log_lines(stream)
    assert line["level"] == "WARNING"
    assert line["message"] == "capture_disabled"


@pytest.mark.parametrize(
    ("uri", "sink"),
    [
        ("/tmp/capture", LocalSink),
        ("file:///tmp/capture", LocalSink),
        ("s3://b/p", S3Sink),
        ("firehose://s", FirehoseSink),
    ],
)
def test_given_uri_when_built_then_matching_sink(uri, sink):
    capture = build_capture(uri, log=Log("t", stream=io.StringIO()))
    assert type(capture.sink) is sink


def test_given_local_uri_when_built_then_folder_from_the_uri():
    assert build_capture("file:///srv/capture", log=Log("t", stream=io.StringIO())).sink.folder == Path("/srv/capture")


@pytest.mark.parametrize("uri", ["s3://", "firehose://", "firehose://a/b", "gs://bucket/x", "kinesis://s"])
def test_given_malformed_uri_when_built_then_config_error_naming_the_key(uri):
    with pytest.raises(ConfigError) as caught:
        build_capture(uri, log=Log("t", stream=io.StringIO()))
    assert caught.value.reason.startswith("CAPTURE_URI")


def test_given_boto3_when_sink_built_then_no_client_until_first_write(monkeypatch):
    made = []
    sink = S3Sink("b", "p", client_factory=lambda service, timeout_s: made.append(service))
    assert made == []
    with pytest.raises(AttributeError):
        sink.put("k", [b"{}\n"])
    assert set(made) == {"s3"}, "built on the first write (the attempt clients), not before"


@pytest.mark.parametrize(("percent", "low", "high"), [(0, 0, 0), (100, 1000, 1000), (25, 200, 300)])
def test_given_sampling_percent_when_sampling_then_that_share_of_invocations(percent, low, high):
    capture = Capture(LocalSink(Path("/unused")), log=Log("t"), sampling_percent=percent, rng=random.Random(4))
    assert low <= sum(capture.sampled() for _ in range(1000)) <= high


class _LandsThenTimesOut:
    """A real moto client whose first PutObject is stored, then reported as a read timeout: the client
    gave up on a PUT that S3 completed, the case that used to store and log the same records."""

    def __init__(self, client) -> None:
        self.client = client
        self.calls: list[dict] = []

    def put_object(self, **params):
        self.calls.append(params)
        answer = self.client.put_object(**params)
        if len(self.calls) == 1:
            raise ReadTimeoutError(endpoint_url="http://s3")
        return answer


def test_given_a_put_that_landed_after_its_timeout_when_retried_then_412_counts_as_stored_once(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="capture-once", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    flaky = _LandsThenTimesOut(s3)
    stream = io.StringIO()
    capture = build_capture("s3://capture-once/p", log=Log("t", stream=stream), client_factory=lambda *_: flaky)
    records = records_for(3)
    assert capture.write(records, "k.jsonl") == 0
    assert stream.getvalue() == "", "stored, so not logged"
    assert [call["IfNoneMatch"] for call in flaky.calls] == ["*", "*"], "every PUT is conditional"
    [stored] = s3.list_objects_v2(Bucket="capture-once")["Contents"]
    body = s3.get_object(Bucket="capture-once", Key=stored["Key"])["Body"].read().decode()
    assert [json.loads(line) for line in body.splitlines()] == records
    assert capture.breaker.allow()


def test_given_an_existing_object_when_put_with_if_none_match_then_moto_answers_412_as_s3_does(aws):
    """moto (server mode) implements If-None-Match: * as S3 does: 412 PreconditionFailed, object kept."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="capture-412", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="capture-412", Key="k", Body=b"first", IfNoneMatch="*")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        s3.put_object(Bucket="capture-412", Key="k", Body=b"second", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    assert s3.get_object(Bucket="capture-412", Key="k")["Body"].read() == b"first"
