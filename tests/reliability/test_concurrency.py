"""Concurrent invocations: our capture stores every record exactly once; the old daily CSV loses them.

Ours writes one S3 object per invocation, so concurrency cannot merge or drop records. The old design
read the day's CSV, appended a line and wrote it back: when several invocations read before any of
them writes, all but the last write are lost. A barrier after the read makes that race certain.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from benchmarks.local_aws import LocalAws, new_bucket, read_bucket
from benchmarks.old_style.daily_csv import append_line, count_lines
from tests.reliability.conftest import Context, captured_stdout, handler_for, json_lines, settings_for
from tests.support.bundles import synthetic_records
from tests.support.paths import ROOT

INVOCATIONS = 50
RECORDS_PER_INVOCATION = 2


class Aws:
    def __init__(self, local: LocalAws) -> None:
        self.local = local
        self.s3 = local.client("s3", pool=INVOCATIONS)
        self.capture_bucket = new_bucket(self.s3, "capture-concurrency")
        self.old_bucket = new_bucket(self.s3, "old-daily-csv")


@pytest.fixture
def aws(monkeypatch):
    with LocalAws() as local:
        for key, value in local.environment().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield Aws(local)


def all_at_once(count: int, task: Callable[[int], Any]) -> list[Any]:
    """Run ``task(0..count-1)`` in ``count`` threads released together."""
    start = threading.Barrier(count)

    def run(index: int) -> Any:
        start.wait(timeout=30)
        return task(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count), timeout=120))


def stored(aws: Aws) -> tuple[int, list[dict]]:
    objects = list(read_bucket(aws.s3, aws.capture_bucket))
    return len(objects), [json.loads(line) for _, body in objects for line in body.decode().splitlines()]


def test_given_50_concurrent_invocations_in_threads_when_captured_then_every_record_stored_once(tiny_bundle, aws):
    # 50 PUTs at once on one loopback moto: a budget that queueing cannot overrun (the budget has its own tests)
    settings = settings_for(
        tiny_bundle, log_level="WARNING", capture_uri=f"s3://{aws.capture_bucket}/capture", capture_budget_ms=5000
    )
    with handler_for(settings) as handler, captured_stdout() as out:
        statuses = all_at_once(
            INVOCATIONS,
            lambda i: handler({"data": synthetic_records(RECORDS_PER_INVOCATION, seed=i)}, Context(f"thread-{i}"))[
                "statusCode"
            ],
        )
    objects, records = stored(aws)
    assert statuses == [200] * INVOCATIONS
    assert [line for line in json_lines(out) if line.get("message") == "capture_fallback"] == []
    assert objects == INVOCATIONS
    assert len(records) == INVOCATIONS * RECORDS_PER_INVOCATION
    assert len({record["inference_id"] for record in records}) == len(records)
    assert {record["request_id"] for record in records} == {f"thread-{i}" for i in range(INVOCATIONS)}


WORKER = """
import json, sys
import app
from tests.support.bundles import synthetic_records

class Context:
    def __init__(self, request_id):
        self.aws_request_id = request_id

worker, count = int(sys.argv[1]), int(sys.argv[2])
statuses = [
    app.handler({"data": synthetic_records(2, seed=worker * 100 + i)}, Context(f"proc-{worker}-{i}"))["statusCode"]
    for i in range(count)
]
sys.stderr.write(json.dumps(statuses) + "\\n")
"""


@pytest.mark.slow
def test_given_concurrent_containers_in_processes_when_captured_then_every_record_stored_once(
    tiny_bundle, aws, tmp_path
):
    processes, each = 4, 13
    script = tmp_path / "container.py"
    script.write_text(WORKER)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "MODEL_DIR": str(tiny_bundle),
        "CAPTURE_URI": f"s3://{aws.capture_bucket}/capture",
        "METRICS_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    running = [
        subprocess.Popen(
            [sys.executable, str(script), str(worker), str(each)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(processes)
    ]
    outputs = [process.communicate(timeout=120) for process in running]
    assert [process.returncode for process in running] == [0] * processes, outputs
    for out, err in outputs:
        assert json.loads(err.strip().splitlines()[-1]) == [200] * each
        assert "capture_fallback" not in out
    objects, records = stored(aws)
    assert objects == processes * each
    assert len(records) == processes * each * 2
    assert len({record["inference_id"] for record in records}) == len(records)


class ReadThenWait:
    """An S3 client whose reads all finish before any write starts: the race, made certain."""

    def __init__(self, client: Any, barrier: threading.Barrier) -> None:
        self.client = client
        self.barrier = barrier
        self.exceptions = client.exceptions

    def get_object(self, **request: Any) -> Any:
        try:
            return self.client.get_object(**request)
        finally:
            self.barrier.wait(timeout=60)

    def put_object(self, **request: Any) -> Any:
        return self.client.put_object(**request)


def test_given_old_daily_csv_when_50_invocations_read_before_writing_then_all_but_one_line_lost(aws):
    s3 = aws.s3
    racing = ReadThenWait(s3, threading.Barrier(INVOCATIONS))
    key = "predictions/2025-01-01.csv"
    all_at_once(INVOCATIONS, lambda i: append_line(racing, aws.old_bucket, key, f"2025-01-01T00:00:00,old-{i},1\n"))
    assert count_lines(s3, aws.old_bucket, key) == 1  # 49 of 50 predictions silently gone


def test_given_old_daily_csv_when_invoked_one_after_another_then_nothing_lost(aws):
    s3 = aws.s3
    key = "predictions/2025-01-03.csv"
    for i in range(5):
        append_line(s3, aws.old_bucket, key, f"2025-01-03T00:00:00,old-{i},1\n")
    assert count_lines(s3, aws.old_bucket, key) == 5
