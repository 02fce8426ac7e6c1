"""Capture after the answer, proven with the real runtime client, the Runtime and Extensions API
emulator and moto's S3 over HTTP: the answer is posted before the records reach S3, the invoke ends
only once they are stored (or logged), and nothing is lost or stored twice.

``python -m awslambdaric app.handler`` runs in a subprocess against the emulator; ``app`` registers
the flusher as an internal extension during init. S3 is ``benchmarks.local_aws`` in this process, so
its fault plan sees every PUT as it arrives.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.local_aws import INTERNAL_ERROR, UNAVAILABLE, Call, Fault, LocalAws, new_bucket, read_bucket
from tests.integration.test_runtime_api import START_TIMEOUT, runtime_client
from tests.support.bundles import synthetic_records, tiny_bundle  # noqa: F401 - fixture
from tests.support.runtime_api import RuntimeApi

pytestmark = pytest.mark.integration


class Puts:
    """A fault plan that notes when each S3 PUT arrives and answers it with ``fate(n)`` (n from 1)."""

    def __init__(self, fate=lambda n: None) -> None:
        self.fate = fate
        self.arrivals: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, call: Call) -> Fault | None:
        if call.service != "s3" or call.method != "PUT" or call.path.count("/") < 2:  # not CreateBucket
            return None
        with self.lock:
            self.arrivals.append(time.monotonic())
            return self.fate(len(self.arrivals))


@pytest.fixture
def aws_with(tmp_path: Path) -> Iterator:
    started: list[LocalAws] = []

    def start(plan: Puts) -> tuple[LocalAws, str]:
        aws = LocalAws(plan).start()
        started.append(aws)
        return aws, new_bucket(aws.client("s3"), "after-answer")

    yield start
    for aws in started:
        aws.stop()


def environment(aws: LocalAws, bucket: str, bundle: Path, **extra: str) -> dict[str, str]:
    return {
        **aws.environment(),
        "MODEL_DIR": str(bundle),
        "CAPTURE_URI": f"s3://{bucket}/capture",
        "LOG_LEVEL": "WARNING",
        # exact counts, on a shared machine: a budget no loaded scheduler overruns (its own tests are elsewhere)
        "CAPTURE_BUDGET_MS": "3000",
        **extra,
    }


def stored(aws: LocalAws, bucket: str) -> list[dict]:
    return [
        json.loads(line) for _, body in read_bucket(aws.client("s3"), bucket) for line in body.decode().splitlines()
    ]


def fallbacks(log: Path) -> list[dict]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "capture_fallback"]


def test_given_extensions_api_when_invoked_then_answer_first_and_records_stored_before_the_invoke_ends(
    tmp_path: Path,
    tiny_bundle: Path,  # noqa: F811 - the imported fixture
    aws_with,
) -> None:
    puts = Puts(lambda n: Fault(200, "", delay_s=0.05, forward=True))  # stored, answered 50 ms later
    aws, bucket = aws_with(puts)
    env = environment(aws, bucket, tiny_bundle)
    with RuntimeApi() as api, runtime_client(api, "app.handler", workdir=tmp_path, env=env) as (_, log):
        api.invoke({"data": synthetic_records(1, seed=0)}, timeout=START_TIMEOUT)  # cold start out of the way
        invocation = api.submit({"data": synthetic_records(3, seed=1)})
        invocation.wait_response(10)
        answered_before_end = not invocation.ended
        invocation.wait_end(10)
        records = stored(aws, bucket)
        assert [(ext.name, ext.events, ext.external) for ext in api.extensions.values()] == [
            ("credit-score-capture", ("INVOKE",), False)
        ], log.read_text()
    assert json.loads(invocation.json()["body"])["request_id"] == invocation.request_id
    assert answered_before_end, "the client waited for S3"
    assert invocation.responded_at < puts.arrivals[-1] < invocation.ended_at
    assert [r["request_id"] for r in records].count(invocation.request_id) == 3
    assert fallbacks(log) == []


def test_given_s3_down_when_invoked_then_every_record_in_a_fallback_line_before_the_invoke_ends(
    tmp_path: Path,
    tiny_bundle: Path,  # noqa: F811 - the imported fixture
    aws_with,
) -> None:
    aws, bucket = aws_with(Puts(lambda n: UNAVAILABLE))
    env = environment(aws, bucket, tiny_bundle)
    sent = 0
    with RuntimeApi() as api, runtime_client(api, "app.handler", workdir=tmp_path, env=env) as (_, log):
        for i in range(8):
            count = 1 + i % 3
            result = api.invoke({"data": synthetic_records(count, seed=i)}, timeout=START_TIMEOUT)
            assert result.json()["statusCode"] == 200
            sent += count
        logged = fallbacks(log)  # read while the runtime still runs: written before each invoke ended
    assert stored(aws, bucket) == []
    assert len(logged) == sent
    assert len({line["record"]["inference_id"] for line in logged}) == sent
    assert {line["reason"] for line in logged} == {"ServiceUnavailable", "circuit_open"}


def test_given_many_invocations_and_passing_faults_when_invoked_then_no_record_lost_or_duplicated(
    tmp_path: Path,
    tiny_bundle: Path,  # noqa: F811 - the imported fixture
    aws_with,
) -> None:
    puts = Puts(lambda n: INTERNAL_ERROR if n % 4 == 0 else None)  # the retry of each failed PUT succeeds
    aws, bucket = aws_with(puts)
    env = environment(aws, bucket, tiny_bundle)
    invocations = []
    with RuntimeApi() as api, runtime_client(api, "app.handler", workdir=tmp_path, env=env) as (_, log):
        api.wait_for_init(START_TIMEOUT)
        invocations = [api.submit({"data": synthetic_records(1 + i % 4, seed=i)}) for i in range(40)]
        for invocation in invocations:
            invocation.wait_end(START_TIMEOUT)
        logged = fallbacks(log)
    records = stored(aws, bucket)
    sent = sum(1 + i % 4 for i in range(40))
    assert logged == []
    assert len(records) == sent
    assert len({r["inference_id"] for r in records}) == sent
    assert {r["request_id"] for r in records} == {invocation.request_id for invocation in invocations}
    assert len(puts.arrivals) > 40, "some PUTs failed and were retried"


def test_given_no_extensions_api_when_initialised_then_capture_synchronous_and_stored_before_the_answer(
    tmp_path: Path,
    tiny_bundle: Path,  # noqa: F811 - the imported fixture
    aws_with,
) -> None:
    puts = Puts()
    aws, bucket = aws_with(puts)
    env = environment(aws, bucket, tiny_bundle)
    with (
        RuntimeApi(extensions_api=False) as api,
        runtime_client(api, "app.handler", workdir=tmp_path, env=env) as (_, log),
    ):
        invocation = api.invoke({"data": synthetic_records(2, seed=5)}, timeout=START_TIMEOUT)
        assert api.extensions == {}
    assert invocation.json()["statusCode"] == 200
    assert puts.arrivals[-1] < invocation.responded_at
    assert [r["request_id"] for r in stored(aws, bucket)] == [invocation.request_id] * 2
    assert "capture_synchronous" in log.read_text()


def test_given_a_payload_the_runtime_cannot_unmarshal_when_invoked_then_the_invoke_ends_without_waiting_for_capture(
    tmp_path: Path,
    tiny_bundle: Path,  # noqa: F811 - the imported fixture
    aws_with,
) -> None:
    aws, bucket = aws_with(Puts())
    env = environment(aws, bucket, tiny_bundle)
    with (
        RuntimeApi(timeout_seconds=60) as api,
        runtime_client(api, "app.handler", workdir=tmp_path, env=env) as (_, log),
    ):
        broken = api.submit(b"{not json")
        broken.wait_end(START_TIMEOUT / 2)  # the handler never ran; the extension must not hold on to the 60 s deadline
        after = api.invoke({"data": synthetic_records(2, seed=3)}, timeout=START_TIMEOUT)
        assert [(ext.name, ext.events) for ext in api.extensions.values()] == [("credit-score-capture", ("INVOKE",))]
    assert (broken.status, broken.error_type) == ("error", "Runtime.UnmarshalError")
    assert after.json()["statusCode"] == 200
    assert [r["request_id"] for r in stored(aws, bucket)] == [after.request_id] * 2
    assert fallbacks(log) == []


def test_given_s3_failing_mid_run_when_invoked_then_stored_plus_fallback_is_every_record_once(
    tmp_path: Path,
    tiny_bundle: Path,  # noqa: F811 - the imported fixture
    aws_with,
) -> None:
    aws, bucket = aws_with(Puts(lambda n: UNAVAILABLE if n > 10 else None))  # S3 dies after 10 PUTs
    env = environment(aws, bucket, tiny_bundle)
    with RuntimeApi() as api, runtime_client(api, "app.handler", workdir=tmp_path, env=env) as (_, log):
        api.wait_for_init(START_TIMEOUT)
        invocations = [api.submit({"data": synthetic_records(2, seed=i)}) for i in range(30)]
        for invocation in invocations:
            invocation.wait_end(START_TIMEOUT)
        logged = [line["record"] for line in fallbacks(log)]
    records = stored(aws, bucket)
    ids = [r["inference_id"] for r in records + logged]
    assert len(ids) == len(set(ids)) == 60
    assert {r["request_id"] for r in records} == {inv.request_id for inv in invocations[:10]}
    assert {r["request_id"] for r in logged} == {inv.request_id for inv in invocations[10:]}
