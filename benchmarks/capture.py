"""Capture after the answer, synchronous capture and capture off, side by side in one run.

    python -m benchmarks.capture [--quick] [--model-dir model] [--output benchmarks/results/capture.json]

Each measured container is AWS's own runtime client (``python -m awslambdaric app.handler``) against
the Runtime and Extensions API emulator of ``tests/support/runtime_api.py``, so the figures include
what Lambda adds around the handler: the long poll, the response post, the extension's ``next``.
For every invocation the emulator notes when it was submitted, started, answered and ended:

* ``client_ms`` = answered - submitted: what the caller waits for (response latency);
* ``invoke_ms`` = ended - started: the invoke's full duration, what Lambda bills (REPORT Duration,
  which includes the time extensions take after the answer).

S3 is played five ways: moto over HTTP on 127.0.0.1 (healthy); moto behind a delaying proxy that
stores each PUT at once and answers it 150 ms, 400 ms or 1 s later (slow: the case where a client that
gives up too early retries a PUT that already landed); a socket that accepts connections and never
answers (hung); and a port nobody listens on (refusing). Logs (INFO) and EMF metrics are
on and go to a file, as to CloudWatch's pipe; their bytes per invocation feed ``benchmarks.cost``.
Every scenario also counts records: stored in S3 + logged as ``capture_fallback`` = sent, records
lost, records both stored and logged, and records stored twice.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.data import host
from benchmarks.local_aws import Call, Fault, LocalAws, new_bucket, read_bucket
from credit_score.runtime.capture import AFTER_ANSWER_BUDGET_S, BUDGET_S
from tests.support.runtime_api import RuntimeApi

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAYLOAD = json.loads((ROOT / "data.json").read_text())
MODES = {
    "off": {},
    "synchronous": {"CAPTURE_AFTER_ANSWER": "false"},
    "after_answer": {"CAPTURE_AFTER_ANSWER": "true"},
    "firehose_synchronous": {"CAPTURE_AFTER_ANSWER": "false"},
    "firehose_after_answer": {"CAPTURE_AFTER_ANSWER": "true"},
}
FAULT_MODES = ("synchronous", "after_answer")
SLOW_S3_DELAYS_S = (0.15, 0.4, 1.0)


def delaying(delay_s: float):
    """A fault plan: every object PUT is stored, then answered ``delay_s`` later (a slow S3)."""

    def plan(call: Call) -> Fault | None:
        if call.service == "s3" and call.method == "PUT" and call.path.count("/") >= 2:  # not CreateBucket
            return Fault(200, "", delay_s=delay_s, forward=True)
        return None

    return plan


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 3),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
        "max": round(ordered[-1], 3),
        "mean": round(statistics.fmean(ordered), 3),
    }


@contextlib.contextmanager
def hung_endpoint() -> Iterator[str]:
    """Accepts every connection, reads what is sent, never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()
        for connection in held:
            connection.close()


def refusing_endpoint() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"  # closed again: connections are refused


def container_env(aws: LocalAws, endpoint: str, uri: str | None, model_dir: Path, mode: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CAPTURE_"))}
    env.update(aws.environment())
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            "MODEL_DIR": str(model_dir),
            "LOG_LEVEL": "INFO",
            "METRICS_ENABLED": "true",
            "OMP_NUM_THREADS": "1",
            **MODES[mode],
        }
    )
    if uri is not None:
        env["CAPTURE_URI"] = uri
    return env


def capture_uri(aws: LocalAws, bucket: str, mode: str) -> str | None:
    """Where ``mode`` captures: nowhere, S3, or a Firehose stream that moto delivers to ``bucket``."""
    if mode == "off":
        return None
    if not mode.startswith("firehose"):
        return f"s3://{bucket}/capture"
    aws.client("firehose").create_delivery_stream(
        DeliveryStreamName=bucket,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/capture",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "capture/",
        },
    )
    return f"firehose://{bucket}"


def run_container(env: dict[str, str], invocations: int, warmup: int, folder: Path) -> dict[str, Any]:
    """One container: warm-up invocations, then ``invocations`` measured ones, one after the other."""
    log_path = folder / f"runtime-{time.monotonic_ns()}.log"
    with RuntimeApi(timeout_seconds=10) as api:
        env = {**env, "AWS_LAMBDA_RUNTIME_API": api.address}
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "awslambdaric", "app.handler"], cwd=ROOT, env=env, stdout=log, stderr=log
            )
        try:
            for _ in range(warmup):
                api.invoke(PAYLOAD, timeout=60)
            warm_bytes = log_path.stat().st_size
            measured = [api.invoke(PAYLOAD, timeout=60) for _ in range(invocations)]
            log_bytes = log_path.stat().st_size - warm_bytes
            registered = [ext.name for ext in api.extensions.values()]
        finally:
            process.kill()
            process.wait(10)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    statuses = {json.loads(inv.body)["statusCode"] for inv in measured}
    return {
        "invocations": invocations,
        "statuses": sorted(statuses),
        "extensions": registered,
        "client_ms": percentiles([(inv.responded_at - inv.submitted_at) * 1e3 for inv in measured]),
        "invoke_ms": percentiles([(inv.ended_at - inv.started_at) * 1e3 for inv in measured]),
        "billed_ms_mean": statistics.fmean(math.ceil((inv.ended_at - inv.started_at) * 1e3) for inv in measured),
        "log_bytes_per_invocation": round(log_bytes / invocations, 1),
        "fallback_lines": sum(1 for line in lines if line.get("message") == "capture_fallback"),
        "fallback_ids": [line["record"]["inference_id"] for line in lines if line.get("message") == "capture_fallback"],
        "fallback_reasons": sorted({line["reason"] for line in lines if line.get("message") == "capture_fallback"}),
    }


def stored_records(aws: LocalAws, bucket: str) -> tuple[int, list[str], int]:
    """(objects, inference ids of the records, bytes) in the bucket."""
    objects = size = 0
    ids: list[str] = []
    for _, body in read_bucket(aws.client("s3"), bucket):
        objects += 1
        ids += [json.loads(line)["inference_id"] for line in body.splitlines() if line]
        size += len(body)
    return objects, ids, size


def model_dir(given: Path | None, scratch: Path) -> tuple[Path, str]:
    if given is not None:
        return given, str(given)
    demo = ROOT / "model"
    if (demo / "metadata.json").exists():
        return demo, "model/ (make demo)"
    from tests.support.bundles import build_tiny_bundle

    return build_tiny_bundle(scratch / "model").path, "tiny synthetic bundle (tests.support.bundles)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="capture after the answer vs synchronous vs off")
    parser.add_argument("--quick", action="store_true", help="few invocations: a smoke run, not for the README")
    parser.add_argument("--model-dir", type=Path, default=None, help="bundle folder; default model/ or a tiny one")
    parser.add_argument("--output", type=Path, default=RESULTS / "capture.json")
    args = parser.parse_args(argv)
    invocations = 60 if args.quick else 1000
    faulty = 60 if args.quick else 400
    slow = 30 if args.quick else 100
    warmup = 20 if args.quick else 100
    began = time.perf_counter()
    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": host(),
        "payload": "data.json (one record, direct invocation)",
        "capture_budget_ms": {"synchronous": BUDGET_S * 1000, "after_answer": AFTER_ANSWER_BUDGET_S * 1000},
        "scenarios": {},
    }
    with tempfile.TemporaryDirectory() as scratch_name, LocalAws() as aws:
        scratch = Path(scratch_name)
        bundle, results["bundle"] = model_dir(args.model_dir, scratch)
        s3 = aws.client("s3")
        with hung_endpoint() as hung:
            endpoints = {"healthy": (aws.url, invocations, None)}
            for delay in SLOW_S3_DELAYS_S:
                endpoints[f"slow_{int(delay * 1000)}ms"] = (aws.url, slow, delay)
            endpoints["hung"] = (hung, faulty, None)
            endpoints["refusing"] = (refusing_endpoint(), faulty, None)
            for scenario, (endpoint, count, delay) in endpoints.items():
                figures: dict[str, Any] = {}
                for mode in MODES if scenario == "healthy" else FAULT_MODES:
                    bucket = new_bucket(s3, f"bench-{scenario.replace('_', '-')}-{mode.replace('_', '-')}")
                    print(f"{scenario} / {mode}: {count} invocations ...", file=sys.stderr)
                    env = container_env(aws, endpoint, capture_uri(aws, bucket, mode), bundle, mode)
                    # with S3 failing, only the cold start is left out: the failures before the breaker opens count
                    warm = warmup if scenario == "healthy" else 1
                    before = aws.counts()
                    aws.faults = delaying(delay) if delay else None
                    try:
                        figure = run_container(env, count, warm, scratch)
                    finally:
                        aws.faults = None
                    calls = aws.counts() - before
                    objects, ids, size = stored_records(aws, bucket)
                    fallback_ids = figure.pop("fallback_ids")
                    records = len(ids)
                    sent = (count + warm) if mode != "off" else 0
                    figure.update(
                        {
                            "aws_calls_per_invocation": {
                                service: round(n / (count + warm), 3) for service, n in sorted(calls.items())
                            },
                            "records_sent": sent,
                            "records_stored": records,
                            "stored_plus_fallback_equals_sent": records + figure["fallback_lines"] == sent,
                            "records_lost": sent - len(set(ids) | set(fallback_ids)),
                            # a PUT that lands after its client gave up and was logged too: same inference id
                            "records_stored_and_logged": len(set(ids) & set(fallback_ids)),
                            "records_stored_twice": len(ids) - len(set(ids)),
                            "s3_objects": objects,
                            "capture_bytes_per_record": round(size / records, 1) if records else None,
                        }
                    )
                    figures[mode] = figure
                results["scenarios"][scenario] = figures
    healthy = results["scenarios"]["healthy"]
    results["summary"] = {
        "after_answer_minus_off_client_p50_ms": round(
            healthy["after_answer"]["client_ms"]["p50"] - healthy["off"]["client_ms"]["p50"], 3
        ),
        "synchronous_minus_off_client_p50_ms": round(
            healthy["synchronous"]["client_ms"]["p50"] - healthy["off"]["client_ms"]["p50"], 3
        ),
        "hung_synchronous_client_p99_ms": results["scenarios"]["hung"]["synchronous"]["client_ms"]["p99"],
        "refusing_synchronous_client_p99_ms": results["scenarios"]["refusing"]["synchronous"]["client_ms"]["p99"],
        "hung_after_answer_invoke_p99_ms": results["scenarios"]["hung"]["after_answer"]["invoke_ms"]["p99"],
        "slow": {
            scenario: {
                mode: {
                    key: figures[mode][key]
                    for key in (
                        "records_sent",
                        "records_stored",
                        "fallback_lines",
                        "records_stored_and_logged",
                        "records_stored_twice",
                        "records_lost",
                    )
                }
                | {
                    "client_p99_ms": figures[mode]["client_ms"]["p99"],
                    "invoke_p50_ms": figures[mode]["invoke_ms"]["p50"],
                }
                for mode in figures
            }
            for scenario, figures in results["scenarios"].items()
            if scenario.startswith("slow_") or scenario == "hung"
        },
    }
    results["duration_s"] = round(time.perf_counter() - began, 1)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["summary"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
