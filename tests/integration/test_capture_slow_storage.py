"""Capture under slow storage, in Lambda mode: nothing lost, nothing spilled to the log, nothing twice.

AWS's runtime client (``python -m awslambdaric app.handler``) runs against the Runtime and Extensions
API emulator; S3 is moto in server mode behind a delaying proxy (``benchmarks.local_aws``: each object
PUT is stored at once and answered ``delay`` later, the case where a client that gives up early
retries a PUT that already landed). The budget is the default one, nothing set: a single attempt may
use all of it, so S3 at 150 ms and at 400 ms stores every record, first time, and logs none. With S3
hung, every record is logged, none is lost, and the answer never waits for it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.capture import delaying, hung_endpoint
from benchmarks.local_aws import LocalAws, new_bucket, read_bucket
from credit_score.runtime.capture import AFTER_ANSWER_BUDGET_S, BUDGET_S
from tests.integration.test_runtime_api import START_TIMEOUT, runtime_client
from tests.support.bundles import synthetic_records, tiny_bundle  # noqa: F401 - fixture
from tests.support.runtime_api import RuntimeApi

pytestmark = pytest.mark.integration

INVOCATIONS = 100


def environment(aws: LocalAws, bucket: str, bundle: Path, **extra: str) -> dict[str, str]:
    return {
        **aws.environment(),
        "MODEL_DIR": str(bundle),
        "CAPTURE_URI": f"s3://{bucket}/capture",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def stored_ids(aws: LocalAws, bucket: str) -> list[str]:
    return [
        json.loads(line)["inference_id"]
        for _, body in read_bucket(aws.client("s3"), bucket)
        for line in body.decode().splitlines()
    ]


def fallback_ids(log: Path) -> list[str]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line["record"]["inference_id"] for line in lines if line.get("message") == "capture_fallback"]


@pytest.mark.parametrize("delay_s", [0.15, 0.4])
def test_given_slow_s3_in_lambda_mode_when_invoked_100_times_then_100_stored_none_logged_none_twice(
    tmp_path: Path,
    tiny_bundle: Path,  # noqa: F811 - the imported fixture
    delay_s: float,
) -> None:
    with LocalAws(delaying(delay_s)) as aws:
        bucket = new_bucket(aws.client("s3"), "slow")
        env = environment(aws, bucket, tiny_bundle)
        with RuntimeApi() as api, runtime_client(api, "app.handler", workdir=tmp_path, env=env) as (_, log):
            api.invoke({"data": synthetic_records(1, seed=0)}, timeout=START_TIMEOUT)  # cold start
            invocations = [
                api.invoke({"data": synthetic_records(1, seed=i)}, timeout=START_TIMEOUT)
                for i in range(1, INVOCATIONS + 1)
            ]
            assert [ext.name for ext in api.extensions.values()] == ["credit-score-capture"]
            logged = fallback_ids(log)
        ids = stored_ids(aws, bucket)
    assert {inv.json()["statusCode"] for inv in invocations} == {200}
    assert logged == [], "slow storage within the budget must not spill records to the log"
    assert len(ids) == len(set(ids)) == INVOCATIONS + 1, "every record stored, once"
    waited = [inv.responded_at - inv.started_at for inv in invocations]
    after = [inv.ended_at - inv.responded_at for inv in invocations]
    assert max(waited) < delay_s, "the caller never waits for S3 in Lambda mode"
    assert min(after) >= delay_s, "the invoke lasts until the PUT is answered (stored before any freeze)"


@pytest.mark.parametrize(
    ("mode", "budget_s"), [("true", AFTER_ANSWER_BUDGET_S), ("false", BUDGET_S)], ids=["after_answer", "synchronous"]
)
def test_given_hung_s3_when_invoked_then_stored_plus_fallback_is_sent_and_the_answer_within_its_budget(
    tmp_path: Path,
    tiny_bundle: Path,  # noqa: F811 - the imported fixture
    mode: str,
    budget_s: float,
) -> None:
    with LocalAws() as aws, hung_endpoint() as hung:
        bucket = new_bucket(aws.client("s3"), "hung")
        env = environment(aws, bucket, tiny_bundle, AWS_ENDPOINT_URL=hung, CAPTURE_AFTER_ANSWER=mode)
        sent = 0
        with RuntimeApi() as api, runtime_client(api, "app.handler", workdir=tmp_path, env=env) as (_, log):
            api.invoke({"data": synthetic_records(1, seed=0)}, timeout=START_TIMEOUT)  # cold start (a record too)
            sent += 1
            invocations = []
            for i in range(1, 9):
                invocations.append(api.invoke({"data": synthetic_records(2, seed=i)}, timeout=START_TIMEOUT))
                sent += 2
            logged = fallback_ids(log)
        ids = stored_ids(aws, bucket)
    assert {inv.json()["statusCode"] for inv in invocations} == {200}
    assert ids == []
    assert len(logged) == len(set(logged)) == sent, "stored + fallback = sent, each once"
    waited = max(inv.responded_at - inv.started_at for inv in invocations)
    if mode == "true":
        assert waited < budget_s / 2, "after the answer: the caller never waits for the hung S3"
    # the answer is never held past the capture budget (plus the handler's own few milliseconds)
    assert waited < budget_s + 0.5
    assert max(inv.ended_at - inv.started_at for inv in invocations) < budget_s + 1.0
