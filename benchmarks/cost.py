"""What a million predictions cost, function-side, from measured durations, call counts and bytes.

    python -m benchmarks.cost [--capture benchmarks/results/capture.json] [--output benchmarks/results/cost.json]

Inputs, all measured on this machine except the prices:

* ours: ``capture.json`` (``python -m benchmarks.capture``): each design's mean *billed* duration
  (every invoke rounded up to 1 ms, post-answer extension time included), AWS calls per
  invocation, log bytes per invocation and capture bytes per record, for a one-record request;
  the EMF metrics our code declares, read from the documents :class:`Metrics` writes;
* the old design: ``latest.json`` (``python -m benchmarks``) for its warm duration and its AWS calls
  per request (22 PutMetricData, S3 GET + PUT of the daily CSV); its custom metrics (one per
  distinct field value, ``benchmarks/old_style/handler.py``) from the value frequencies of the
  shared data, spread evenly over the month;
* prices: AWS list prices, us-east-1, no free tier, as named constants below.

One prediction is one single-record request at 1,024 MB. S3 on loopback answers in a few ms where
real S3 takes 10-30 ms, so the synchronous designs' durations are lower bounds; the front door
(HTTP API) is shown apart. Custom metrics are billed per metric-month, prorated by the hour
(CloudWatch pricing), so they are a fixed monthly cost that 1 M and 100 M predictions share
differently.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.data import CSV, request_records
from benchmarks.old_style.encoding import CATEGORIES, NUMERIC_NAMES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# AWS list prices, us-east-1, on-demand, without free tier; read 2025-06 from the public pricing pages.
PRICES_AS_OF = "2025-06"
LAMBDA_PER_REQUEST = 0.20 / 1e6  # https://aws.amazon.com/lambda/pricing/
LAMBDA_PER_GB_S_X86 = 0.0000166667  # first 6 billion GB-s a month
LAMBDA_PER_GB_S_ARM = 0.0000133334
S3_PER_PUT = 0.005 / 1000  # https://aws.amazon.com/s3/pricing/ (S3 Standard, PUT/COPY/POST/LIST)
S3_PER_GET = 0.0004 / 1000
S3_PER_GB_MONTH = 0.023
FIREHOSE_PER_GB = 0.029  # https://aws.amazon.com/firehose/pricing/ (Direct PUT, first 500 TB a month)
FIREHOSE_RECORD_UNIT = 5 * 1024  # each record is billed rounded up to the next 5 KB
CLOUDWATCH_PER_PUT_METRIC_DATA = 0.01 / 1000  # https://aws.amazon.com/cloudwatch/pricing/
LOGS_PER_GB_INGESTED = 0.50  # Standard log class
CUSTOM_METRIC_TIERS = ((10_000, 0.30), (240_000, 0.10), (750_000, 0.05), (math.inf, 0.02))  # per metric-month
HTTP_API_PER_REQUEST = 1.00 / 1e6  # https://aws.amazon.com/api-gateway/pricing/ (first 300 M a month)
GB = 1024**3

# Assumptions, named.
MEMORY_GB = 1.0  # infra/template.yaml MemorySize: 1024
HOURS_PER_MONTH = 730
FIREHOSE_BUFFER_SECONDS = 300  # the delivery stream's buffering hints: an S3 object every 300 s or 128 MiB
FIREHOSE_BUFFER_BYTES = 128 * 1024**2
VALIDATION_PROBLEM_KINDS = 5  # ValidationErrors series seen in a month (one per problem kind that occurs)
VOLUMES = (1_000_000, 100_000_000)


def platform_log_bytes() -> int:
    """Lambda's own START, END and REPORT lines per invoke (text log format), which are ingested too."""
    request_id = str(uuid.uuid4())
    lines = [
        f"START RequestId: {request_id} Version: $LATEST\n",
        f"END RequestId: {request_id}\n",
        f"REPORT RequestId: {request_id}\tDuration: 5.12 ms\tBilled Duration: 6 ms\tMemory Size: 1024 MB\t"
        "Max Memory Used: 115 MB\t\n",
    ]
    return sum(len(line.encode()) for line in lines)


def our_metric_series() -> int:
    """Distinct (metric, dimension values) series our EMF documents create for one model version."""
    from credit_score.runtime.metrics import Metrics

    stream = io.StringIO()
    metrics = Metrics(namespace="CreditScore", service="credit-score", capture_enabled=True, stream=stream)
    labels = ("Poor", "Standard", "Good")
    metrics.predictions(version="7", labels=labels, codes=[0, 1, 2], latency_ms=1.0)
    metrics.cold_start()
    metrics.internal_error()
    series: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for line in stream.getvalue().splitlines():
        document = json.loads(line)
        for block in document["_aws"]["CloudWatchMetrics"]:
            for dimensions in block["Dimensions"]:
                key = tuple((name, str(document[name])) for name in dimensions)
                series.update((metric["Name"], key) for metric in block["Metrics"])
    return len(series) + VALIDATION_PROBLEM_KINDS


def custom_metrics_cost(metric_months: float) -> float:
    cost, left = 0.0, metric_months
    for size, price in CUSTOM_METRIC_TIERS:
        used = min(left, size)
        cost += used * price
        left -= used
        if left <= 0:
            break
    return cost


def old_metric_months(predictions: int, data: Path = CSV) -> float:
    """The old design's metric-months: one series per distinct (field, value), active in each hour it is sent.

    A value of frequency p, with predictions spread evenly over the month, is sent in an expected
    ``H * (1 - (1 - p) ** (N / H))`` of the H hours. Frequencies come from the shared data (10,000
    requests), which has far fewer distinct amounts than real traffic: a lower bound.
    """
    records = request_records(10_000, data)
    per_hour = predictions / HOURS_PER_MONTH
    hours = 0.0
    for name in NUMERIC_NAMES + tuple(name for name, _ in CATEGORIES):  # the old handler's FIELD_NAMES
        counts = Counter(str(record[name]) for record in records)
        for count in counts.values():
            p = count / len(records)
            hours += HOURS_PER_MONTH * (1 - (1 - p) ** per_hour)
    hours += 3 * HOURS_PER_MONTH  # the Prediction metric, one series per label
    return hours / HOURS_PER_MONTH


def design_costs(
    *,
    billed_ms: float,
    log_bytes: float,
    s3_puts: float = 0.0,
    s3_gets: float = 0.0,
    put_metric_data: float = 0.0,
    firehose_records: float = 0.0,
    capture_bytes: float = 0.0,
) -> dict[str, float]:
    """Variable cost of one prediction, by item."""
    firehose_units = (
        firehose_records * math.ceil(max(capture_bytes, 1) / FIREHOSE_RECORD_UNIT) if firehose_records else 0
    )
    return {
        "lambda_requests": LAMBDA_PER_REQUEST,
        "lambda_duration_x86": billed_ms / 1000 * MEMORY_GB * LAMBDA_PER_GB_S_X86,
        "lambda_duration_arm64": billed_ms / 1000 * MEMORY_GB * LAMBDA_PER_GB_S_ARM,
        "s3_requests": s3_puts * S3_PER_PUT + s3_gets * S3_PER_GET,
        "firehose_ingestion": firehose_units * FIREHOSE_RECORD_UNIT / GB * FIREHOSE_PER_GB,
        "put_metric_data": put_metric_data * CLOUDWATCH_PER_PUT_METRIC_DATA,
        "logs_ingestion": log_bytes / GB * LOGS_PER_GB_INGESTED,
    }


def firehose_delivery_puts(predictions: int, capture_bytes: float) -> float:
    """S3 objects Firehose writes in a month: one per buffer, by size or by time, whichever comes first."""
    by_size = predictions * capture_bytes / FIREHOSE_BUFFER_BYTES
    by_time = HOURS_PER_MONTH * 3600 / FIREHOSE_BUFFER_SECONDS
    return max(by_size, by_time) if predictions else 0.0


def month(
    variable: dict[str, float], predictions: int, *, metric_months: float, storage_bytes: float, fixed_puts: float
) -> dict[str, Any]:
    """A month at ``predictions``: total, per million, function-side (no front door), x86 and arm64."""
    common = sum(value for key, value in variable.items() if not key.startswith("lambda_duration"))
    metrics = custom_metrics_cost(metric_months)
    storage = predictions * storage_bytes / GB * S3_PER_GB_MONTH + fixed_puts * S3_PER_PUT
    totals = {}
    for arch in ("x86", "arm64"):
        total = predictions * (common + variable[f"lambda_duration_{arch}"]) + metrics + storage
        totals[arch] = {"month_usd": round(total, 2), "per_million_usd": round(total / predictions * 1e6, 3)}
    return {
        "predictions": predictions,
        "custom_metrics_usd": round(metrics, 2),
        "capture_storage_and_delivery_usd": round(storage, 2),
        **totals,
        "front_door_http_api_per_million_usd": HTTP_API_PER_REQUEST * 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="cost per million predictions, function-side")
    parser.add_argument("--capture", type=Path, default=RESULTS / "capture.json")
    parser.add_argument("--suite", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--output", type=Path, default=RESULTS / "cost.json")
    parser.add_argument("--data", type=Path, default=CSV, help="the shared data set (old design's value frequencies)")
    args = parser.parse_args(argv)
    measured = json.loads(args.capture.read_text())["scenarios"]["healthy"]
    old = json.loads(args.suite.read_text())["warm"]["old"]["single_direct"]
    platform = platform_log_bytes()
    ours_series = our_metric_series()
    record_bytes = next(m["capture_bytes_per_record"] for m in measured.values() if m["capture_bytes_per_record"])

    designs: dict[str, dict[str, Any]] = {}

    def ours(name: str, mode: str, sink: str) -> None:
        figure = measured[mode]
        calls = figure["aws_calls_per_invocation"]
        variable = design_costs(
            billed_ms=figure["billed_ms_mean"],
            log_bytes=figure["log_bytes_per_invocation"] + platform,
            s3_puts=calls.get("s3", 0.0),
            firehose_records=calls.get("firehose", 0.0),
            capture_bytes=record_bytes,
        )
        designs[name] = {
            "inputs": {
                "billed_ms_mean": round(figure["billed_ms_mean"], 3),
                "client_p50_ms": figure["client_ms"]["p50"],
                "log_bytes_per_invocation": round(figure["log_bytes_per_invocation"] + platform, 1),
                "aws_calls_per_invocation": calls,
                "capture_bytes_per_record": record_bytes if sink != "none" else 0,
                "custom_metric_series": ours_series,
            },
            "per_prediction_usd": variable,
            "months": [
                month(
                    variable,
                    volume,
                    metric_months=ours_series,
                    storage_bytes=record_bytes if sink != "none" else 0,
                    fixed_puts=firehose_delivery_puts(volume, record_bytes) if sink == "firehose" else 0,
                )
                for volume in VOLUMES
            ],
        }

    ours("ours, capture off", "off", "none")
    ours("ours, S3 capture before the answer", "synchronous", "s3")
    ours("ours, Firehose capture before the answer", "firehose_synchronous", "firehose")
    ours("ours, S3 capture after the answer", "after_answer", "s3")
    ours("ours, Firehose capture after the answer", "firehose_after_answer", "firehose")

    old_calls = old["aws_calls_per_request"]  # 22 PutMetricData + GET + PUT of the daily CSV
    old_variable = design_costs(
        billed_ms=math.ceil(old["mean_ms"]),
        log_bytes=platform,
        s3_puts=1,
        s3_gets=1,
        put_metric_data=old_calls - 2,
    )
    designs["old design"] = {
        "inputs": {
            "billed_ms_mean": math.ceil(old["mean_ms"]),
            "aws_calls_per_invocation": {"monitoring": old_calls - 2, "s3": 2},
            "log_bytes_per_invocation": platform,
        },
        "per_prediction_usd": old_variable,
        "months": [
            month(
                old_variable, volume, metric_months=old_metric_months(volume, args.data), storage_bytes=0, fixed_puts=0
            )
            for volume in VOLUMES
        ],
    }
    result = {
        "prices_as_of": PRICES_AS_OF,
        "prices": {
            name: value
            for name, value in globals().items()
            if name.isupper() and name.split("_")[0] in {"LAMBDA", "S3", "FIREHOSE", "CLOUDWATCH", "LOGS", "HTTP"}
        },
        "assumptions": {
            "memory_gb": MEMORY_GB,
            "hours_per_month": HOURS_PER_MONTH,
            "firehose_buffer_seconds": FIREHOSE_BUFFER_SECONDS,
            "validation_problem_kinds": VALIDATION_PROBLEM_KINDS,
            "platform_log_bytes_per_invoke": platform,
        },
        "measured_at": json.loads(args.capture.read_text())["generated_at"],
        "designs": designs,
    }
    result["prices"]["CUSTOM_METRIC_TIERS"] = [
        [size if size != math.inf else None, price] for size, price in CUSTOM_METRIC_TIERS
    ]
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    return 0


def markdown(result: dict[str, Any]) -> str:
    rows = [
        "| design | billed ms | variable $/M (x86 / arm64) | custom metrics $/month | all-in $/M at 1 M/month "
        "| all-in $/M at 100 M/month |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, design in result["designs"].items():
        low, high = design["months"]
        variable = design["per_prediction_usd"]
        x86 = sum(v for k, v in variable.items() if k != "lambda_duration_arm64") * 1e6
        arm = sum(v for k, v in variable.items() if k != "lambda_duration_x86") * 1e6
        metrics = f"{low['custom_metrics_usd']:.2f}"
        if high["custom_metrics_usd"] != low["custom_metrics_usd"]:
            metrics += f" / {high['custom_metrics_usd']:.2f}"
        rows.append(
            f"| {name} | {design['inputs']['billed_ms_mean']:.1f} | {x86:.2f} / {arm:.2f} | {metrics} "
            f"| {low['x86']['per_million_usd']:.2f} | {high['x86']['per_million_usd']:.2f} |"
        )
    rows.append(f"\nFront door (HTTP API), apart: ${HTTP_API_PER_REQUEST * 1e6:.2f} per million requests.")
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
