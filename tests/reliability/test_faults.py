"""S3 failing under the capture: every request still answered 200, every record stored or logged once.

moto serves S3 over HTTP on 127.0.0.1 behind a fault-injecting middleware (``benchmarks.local_aws``).
Each invocation's request id picks its fate, so the expected outcome is exact: S3 healthy, failing
on fewer attempts than the capture client makes (botocore's standard retries recover), or on every
attempt (the records go to ``capture_fallback`` log lines). Faults rotate through 500 InternalError, 503
ServiceUnavailable, 503 SlowDown and an answer slower than the client's read timeout.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from pathlib import Path

from benchmarks.local_aws import INTERNAL_ERROR, SLOW_DOWN, UNAVAILABLE, Call, Fault, LocalAws, new_bucket, read_bucket
from credit_score.runtime import capture
from tests.reliability.conftest import Context, captured_stdout, handler_for, json_lines, settings_for
from tests.support.bundles import synthetic_records

BUDGET_MS = 750  # a read timeout of 0.3 s, and room for a second attempt after a slow first one
READ_TIMEOUT_S = capture.client_options(BUDGET_MS / 1000)["read_timeout"]
SLOW = Fault(503, "SlowAnswer", delay_s=READ_TIMEOUT_S + 0.3)
KINDS = (INTERNAL_ERROR, UNAVAILABLE, SLOW_DOWN, SLOW)
ATTEMPTS = capture.ATTEMPTS
FAILED_ATTEMPTS = tuple(range(ATTEMPTS + 1))  # the last: every attempt botocore makes fails
RECORDS_PER_INVOCATION = 3
INVOCATION = re.compile(r"-inv(\d{3})x\.jsonl")


class FaultPlan:
    """Fails the first ``n`` PUTs of invocation ``inv{i:03d}x``, with n = FAILED_ATTEMPTS[i % len(...)]."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, call: Call) -> Fault | None:
        found = INVOCATION.search(call.path)
        if call.service != "s3" or call.method != "PUT" or found is None:
            return None
        invocation = int(found.group(1))
        with self.lock:
            self.attempts[invocation] += 1
            attempt = self.attempts[invocation]
        if attempt <= FAILED_ATTEMPTS[invocation % len(FAILED_ATTEMPTS)]:
            return KINDS[(invocation + attempt) % len(KINDS)]
        return None


def aws_environment(monkeypatch, aws: LocalAws) -> None:
    for key, value in aws.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def stored_records(aws: LocalAws, bucket: str) -> list[dict]:
    return [
        json.loads(line) for _, body in read_bucket(aws.client("s3"), bucket) for line in body.decode().splitlines()
    ]


def test_given_s3_failing_on_a_share_of_calls_when_invoked_then_all_200_and_every_record_once(
    tiny_bundle: Path, monkeypatch
):
    plan = FaultPlan()
    cycle = len(FAILED_ATTEMPTS)
    invocations = 2 * max(cycle, len(KINDS))
    with LocalAws(plan) as aws:
        aws_environment(monkeypatch, aws)
        bucket = new_bucket(aws.client("s3"), "capture-faults")
        settings = settings_for(
            tiny_bundle, log_level="WARNING", capture_uri=f"s3://{bucket}/capture", capture_budget_ms=BUDGET_MS
        )
        with handler_for(settings) as handler, captured_stdout() as out:
            statuses = [
                handler({"data": synthetic_records(RECORDS_PER_INVOCATION, seed=i)}, Context(f"inv{i:03d}x"))[
                    "statusCode"
                ]
                for i in range(invocations)
            ]
        stored = stored_records(aws, bucket)
    fallback = [line["record"] for line in json_lines(out) if line.get("message") == "capture_fallback"]

    assert statuses == [200] * invocations
    sent = invocations * RECORDS_PER_INVOCATION
    assert len(stored) + len(fallback) == sent
    inference_ids = [record["inference_id"] for record in stored + fallback]
    assert len(set(inference_ids)) == sent, "a record was stored twice, or stored and logged"
    expected_fallback = {f"inv{i:03d}x" for i in range(invocations) if FAILED_ATTEMPTS[i % cycle] == ATTEMPTS}
    assert {record["request_id"] for record in fallback} == expected_fallback
    assert {record["request_id"] for record in stored} == {
        f"inv{i:03d}x" for i in range(invocations)
    } - expected_fallback
    assert {fault.code for fault in KINDS} <= {
        KINDS[(i + a) % len(KINDS)].code for i in range(invocations) for a in range(1, FAILED_ATTEMPTS[i % cycle] + 1)
    }


def test_given_s3_stores_then_answers_too_late_when_invoked_then_nothing_lost_and_copies_share_ids(
    tiny_bundle: Path, monkeypatch
):
    """An ambiguous timeout (stored, but the answer never arrived) makes capture at-least-once: the
    copy in the log is the very record in S3, same inference id, so downstream can drop it."""
    late = Fault(200, "", delay_s=READ_TIMEOUT_S + 0.3, forward=True)
    with LocalAws(lambda call: late if call.service == "s3" and call.method == "PUT" else None) as aws:
        aws_environment(monkeypatch, aws)
        bucket = new_bucket(aws.client("s3"), "capture-faults")
        settings = settings_for(
            tiny_bundle, log_level="WARNING", capture_uri=f"s3://{bucket}/capture", capture_budget_ms=BUDGET_MS
        )
        with handler_for(settings) as handler, captured_stdout() as out:
            response = handler({"data": synthetic_records(2, seed=9)}, Context("inv900x"))
        stored = stored_records(aws, bucket)
    fallback = [line["record"] for line in json_lines(out) if line.get("message") == "capture_fallback"]
    assert response["statusCode"] == 200
    assert {record["inference_id"] for record in fallback} == {record["inference_id"] for record in stored}
    assert len(fallback) == 2
