"""The benchmark suite: our handler against the old design, in one run, on one machine.

    python -m benchmarks [--quick] [--cold-runs 10] [--output benchmarks/results]

Every figure comes from fresh worker processes (``benchmarks.worker``), one per measured container,
with AWS played by moto on 127.0.0.1 (``benchmarks.local_aws``): our capture writes one S3 object per
invocation there, the old design makes its 22 PutMetricData calls and its daily-CSV rewrite there.
Results go to ``latest.json`` and a Markdown table, ``latest.md``, stating the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import models as model_store
from benchmarks.data import CSV, ROOT, host, request_records
from benchmarks.local_aws import LocalAws
from benchmarks.report import markdown

RESULTS = ROOT / "benchmarks" / "results"
OURS_BUCKET = "bench-capture"
OLD_BUCKET = "bench-old-daily-csv"
BATCH_SIZES = (1, 10, 100, 1000)


def machine() -> dict[str, Any]:
    """The host, plus the versions the comparison depends on."""
    import onnxruntime
    import xgboost

    return {**host(), "os": platform.platform(), "onnxruntime": onnxruntime.__version__, "xgboost": xgboost.__version__}


class Runner:
    """Starts workers with the environment of one design and collects their JSON results."""

    def __init__(
        self,
        aws: LocalAws,
        models: model_store.Models,
        records: list[dict[str, str]],
        folder: Path,
        *,
        options: dict[str, Any],
    ) -> None:
        self.aws = aws
        self.options = options
        self.models = models
        self.records = records
        self.folder = folder
        self.runs = 0

    def environment(self, side: str, capture: bool) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CAPTURE_"))}
        env.update(self.aws.environment())
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
        env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
        if side == "ours":
            env["MODEL_DIR"] = str(self.models.bundle)
            if capture:
                env["CAPTURE_URI"] = f"s3://{OURS_BUCKET}/capture"
        else:
            env["OLD_MODEL_PATH"] = str(self.models.old_model)
            env["OLD_BUCKET"] = OLD_BUCKET
        return env

    def run(self, side: str, capture: bool, mode: str, **spec: Any) -> dict[str, Any]:
        self.runs += 1
        spec_path = self.folder / f"spec-{self.runs}.json"
        result_path = self.folder / f"result-{self.runs}.json"
        spec_path.write_text(
            json.dumps({"side": side, "mode": mode, "records": self.records, "options": self.options, **spec})
        )
        before = self.aws.counts()
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "benchmarks.worker", str(spec_path), str(result_path)],
            env=self.environment(side, capture),
            cwd=ROOT,
            check=True,
        )
        result = json.loads(result_path.read_text())
        result["process_ms"] = (time.perf_counter() - started) * 1e3
        result["moto_requests"] = dict(self.aws.counts() - before)
        return result


def summarise_cold(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("import_ms", "first_ms", "cold_ms", "process_ms", "peak_rss_mb")
    return {"runs": len(runs), **{key: statistics.median(run[key] for run in runs) for key in keys}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="benchmark app.handler against the old design")
    parser.add_argument("--quick", action="store_true", help="a smoke run with few iterations (not for the README)")
    parser.add_argument("--cold-runs", type=int, default=10, help="fresh processes per cold-start figure (>= 10)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder for latest.json and latest.md")
    parser.add_argument("--no-demo-model", action="store_true", help="ignore model/ and use the bench-built bundle")
    parser.add_argument(
        "--explain",
        action="store_true",
        help='our answers with reasons (the API default); without it every request says "explain": false, '
        "which is what the old design (no explanations) is compared with",
    )
    args = parser.parse_args(argv)
    began = time.perf_counter()

    print("preparing models (cached after the first run) ...", file=sys.stderr)
    models = model_store.prepare(use_demo_model=not args.no_demo_model)
    records = request_records(1000)
    cold_runs = 3 if args.quick else max(10, args.cold_runs)
    scale = 0.1 if args.quick else 1.0
    ours_off = {
        "single": int(3000 * scale),
        "warmup": 200,
        "batch_sizes": BATCH_SIZES,
        "batch_records": int(20000 * scale),
    }
    ours_s3 = {**ours_off, "single": int(500 * scale), "batch_records": int(1000 * scale)}
    old = {"single": int(100 * scale) or 5, "warmup": 5, "batch_sizes": BATCH_SIZES, "old_batch_limit": 100}

    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "explain": args.explain,
        "machine": machine(),
        "data": str(CSV.relative_to(ROOT.parent)),
        "bundle": {
            "source": models.bundle_source,
            "path": str(models.bundle),
            "onnx_mb": _mb(models.bundle / "model.onnx"),
        },
        "old_model": {"path": str(models.old_model), "joblib_mb": _mb(models.old_model)},
        "quality_on_holdout": models.quality,
    }
    with LocalAws() as aws, tempfile.TemporaryDirectory() as scratch:
        s3 = aws.client("s3")
        for bucket in (OURS_BUCKET, OLD_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        runner = Runner(aws, models, records, Path(scratch), options={"explain": args.explain})
        cold: dict[str, Any] = {}
        for label, side, capture in (
            ("ours_capture_off", "ours", False),
            ("ours_capture_s3", "ours", True),
            ("old", "old", True),
        ):
            print(f"cold starts: {label} x {cold_runs}", file=sys.stderr)
            cold[label] = summarise_cold([runner.run(side, capture, "cold") for _ in range(cold_runs)])
        results["cold_start"] = cold
        warm: dict[str, Any] = {}
        for label, side, capture, spec in (
            ("ours_capture_off", "ours", False, ours_off),
            ("ours_capture_s3", "ours", True, ours_s3),
            ("old", "old", True, old),
        ):
            print(f"warm: {label}", file=sys.stderr)
            warm[label] = runner.run(side, capture, "warm", **spec)
        results["warm"] = warm
    results["ratios"] = ratios(results)
    results["duration_s"] = round(time.perf_counter() - began, 1)
    results["machine"]["load_average_end"] = os.getloadavg()[0]

    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.output / "latest.md").write_text(table)
    print(table)
    return 0


def _mb(path: Path) -> float:
    return round(path.stat().st_size / 1e6, 2)


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    """Old divided by ours for times and calls, ours divided by old for throughput (bigger: ours better)."""
    cold, warm = results["cold_start"], results["warm"]
    ours, old = warm["ours_capture_s3"], warm["old"]
    out: dict[str, float | None] = {
        "cold_start": cold["old"]["cold_ms"] / cold["ours_capture_s3"]["cold_ms"],
        "single_p50_direct": old["single_direct"]["p50_ms"] / ours["single_direct"]["p50_ms"],
        "single_p99_direct": old["single_direct"]["p99_ms"] / ours["single_direct"]["p99_ms"],
        "single_p50_http_api": old["single_http_api"]["p50_ms"] / ours["single_http_api"]["p50_ms"],
        "single_p99_http_api": old["single_http_api"]["p99_ms"] / ours["single_http_api"]["p99_ms"],
        "peak_rss": old["peak_rss_mb"] / ours["peak_rss_mb"],
    }
    ours_calls = ours["single_direct"]["aws_calls_per_request"]
    out["aws_calls_per_request"] = old["single_direct"]["aws_calls_per_request"] / ours_calls if ours_calls else None
    for mine, theirs in zip(ours["batches"], old["batches"], strict=True):
        if theirs["records_per_s"]:
            out[f"throughput_{mine['size']}"] = mine["records_per_s"] / theirs["records_per_s"]
    return out
