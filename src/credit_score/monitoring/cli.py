"""``python -m credit_score.monitoring``: drift report of captured predictions against the reference profile.

    python -m credit_score.monitoring --capture s3://bucket/prefix | PATH
        [--since DATE] [--until DATE] [--model-name NAME] [--model-version V]
        [--bundle model | --reference FILE] [--warn 0.1] [--alert 0.25] [--min-rows 500] [--alpha 0.01]
        [--html report.html] [--json report.json] [--publish-metrics emf|cloudwatch]
        [--outcomes FILE | s3://bucket/key] [--bootstrap 200]

Dates are UTC: ``YYYY-MM-DD`` (``--until`` inclusive) or ISO date-times (``--until`` exclusive); by
default the last 7 days up to and including today. Exit codes: 0 no drift, 1 warn, 2 alert,
3 insufficient data (fewer than ``--min-rows`` records and no shift the chi-square test confirms at
``--alpha``), 4 usage or I/O error. The report files are
written before metrics are published. Nothing printed or written contains a record.

Performance: every run estimates macro-F1, AUC and accuracy per model version and month from the
captured probabilities (``performance.estimated``); with ``--outcomes`` (CSV or JSON Lines of
``request_id``/``inference_id`` and ``Credit_Score``) it also reports the realised figures of the
matched decisions (``performance.realized``) and counts what did not match.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from credit_score.cli import CommandParser
from credit_score.contract.bundle import BundleError
from credit_score.monitoring import publish
from credit_score.monitoring.challenger import ChallengerCounts
from credit_score.monitoring.fairness import FairnessCounts
from credit_score.monitoring.html import render
from credit_score.monitoring.outcomes import Joined, OutcomesError, read_outcomes
from credit_score.monitoring.performance import BOOTSTRAP, EstimateCounts, realized_section
from credit_score.monitoring.quality import read_request_logs
from credit_score.monitoring.reader import CaptureError, CaptureReader, Window, open_store, parse_bound
from credit_score.monitoring.reference import load_reference, reference_fairness, reference_reasons
from credit_score.monitoring.report import EXIT_CODES, EXIT_ERROR, summary, write_json, write_text
from credit_score.monitoring.stats import Counts, Thresholds, evaluate
from credit_score.monitoring.trend import DailyCounts

DEFAULT_DAYS = 7


PROG = "credit-score-drift"
# 2 means alert here, so usage errors share the I/O errors' code instead of argparse's 2.
EXIT_TEXT = {
    EXIT_CODES["none"]: "no drift",
    EXIT_CODES["warn"]: "warn: some PSI at or over --warn",
    EXIT_CODES["alert"]: "alert: some PSI at or over --alert",
    EXIT_CODES["insufficient_data"]: "insufficient data (fewer than --min-rows records)",
    EXIT_ERROR: "usage, I/O or capture error (no verdict)",
}


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be positive")
        return value

    parse.__name__ = kind.__name__
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=PROG,
        description=(
            "Drift report of captured predictions against the bundle's reference profile: PSI per feature and of "
            "the prediction mix, as text, HTML and JSON, optionally published as metrics. Nothing printed or "
            "written contains a record."
        ),
        exit_codes=EXIT_TEXT,
        usage_exit=EXIT_ERROR,
    )
    parser.add_argument("--capture", required=True, help="s3://bucket/prefix (Hive or Firehose layout) or a folder")
    parser.add_argument("--since", help="first day (YYYY-MM-DD) or instant; default: 7 days before --until")
    parser.add_argument("--until", help="last day (inclusive) or end instant (exclusive); default: today")
    parser.add_argument("--model-name", help="only this registered model's records")
    parser.add_argument("--model-version", help="only this model version's records (and partitions)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--bundle", default="model", help="model bundle holding the reference profile (model)")
    source.add_argument("--reference", help="reference_profile.json, or a bundle's metadata.json")
    parser.add_argument("--warn", type=_positive(float), default=0.1, help="PSI of a warning (0.1)")
    parser.add_argument("--alert", type=_positive(float), default=0.25, help="PSI of an alert (0.25)")
    parser.add_argument(
        "--min-rows", type=_positive(int), default=500, help="values from which PSI decides alone (500)"
    )
    parser.add_argument(
        "--alpha", type=_positive(float), default=0.01, help="significance a shift in fewer values needs (0.01)"
    )
    parser.add_argument("--html", type=Path, help="write the HTML report here")
    parser.add_argument("--json", type=Path, help="write the JSON summary here")
    parser.add_argument(
        "--outcomes", help="true Credit_Score per request_id or inference_id: CSV or JSON Lines, a file or s3://"
    )
    parser.add_argument(
        "--request-logs", help="the handler's exported log lines (file or s3://): refused requests per day and kind"
    )
    parser.add_argument(
        "--bootstrap", type=_positive(int), default=BOOTSTRAP, help=f"resamples of the 95%% intervals ({BOOTSTRAP})"
    )
    parser.add_argument("--publish-metrics", choices=("emf", "cloudwatch"), help="per-feature drift metrics")
    parser.add_argument("--metrics-namespace", default=publish.DEFAULT_NAMESPACE, help="CloudWatch namespace")
    parser.add_argument("--workers", type=_positive(int), default=8, help="objects fetched concurrently (8)")
    parser.add_argument("--page-size", type=_positive(int), default=1000, help="keys per ListObjectsV2 page")
    parser.add_argument(
        "--dedup-window", type=_positive(int), default=100_000, help="records within which copies are dropped (100000)"
    )
    return parser


def window_from(args: argparse.Namespace, now: datetime) -> Window:
    end = parse_bound(args.until or f"{now:%Y-%m-%d}", end=True)
    return Window(parse_bound(args.since, end=False) if args.since else end - timedelta(days=DEFAULT_DAYS), end)


def _summary_lines(document: dict[str, Any]) -> list[str]:
    counts = document["counts"]
    window = document["window"]
    lines = [
        f"drift {document['verdict'].upper()}: {counts['compared']:,} records from {window['since']} to "
        f"{window['until']} ({counts['files']:,} files, {counts['duplicates']:,} duplicates, "
        f"{counts['malformed']:,} malformed, {counts['outside_window']:,} outside the window)"
    ]
    probabilities = document["probability_drift"]["classes"]
    for entry in [*document["features"], document["prediction_mix"], *probabilities]:
        psi = "-" if entry["psi"] is None else f"{entry['psi']:.4f}"
        lines.append(f"  {entry['verdict']:<17} {entry['name']:<26} PSI {psi:>8}  values {entry['rows']:,}")
    reasons = document["reason_mix"]["verdict"]
    psi = "-" if reasons.get("psi") is None else f"{reasons['psi']:.4f}"
    lines.append(f"  reason codes: {reasons['verdict'].replace('_', ' ')} against the reference (PSI {psi})")
    if not document["probability_drift"]["reference"]:
        lines.append("  probabilities: no reference bins in this profile (an older bundle), not compared")
    performance = document["performance"]
    for kind in ("estimated", "realized"):
        for version, entry in (performance.get(kind) or {}).items():
            figures = "  ".join(f"{name} {_figure(entry.get(name))}" for name in ("macro_f1", "auc", "accuracy"))
            lines.append(f"  {kind:<9} performance, version {version}: {figures}  n {entry['n']:,}")
    shadow = document.get("challenger")
    if shadow:
        flips = shadow["flips"]
        lines.append(f"  challenger: {flips['flips']:,} of {flips['n']:,} decisions would flip ({flips['rate']:.2%})")
    for flag in document["fairness"]["flagged"]:
        lines.append(f"  fairness screen: age band {flag['band']} {flag['outcome']} AIR {flag['air']:.3f} < 0.8")
    if performance.get("outcomes"):
        outcomes = performance["outcomes"]
        lines.append(
            "  outcomes: " + ", ".join(f"{outcomes[name]:,} {name.replace('_', ' ')}" for name in OUTCOME_COUNTS)
        )
    return lines


OUTCOME_COUNTS = ("rows", "matched", "unmatched", "duplicates", "conflicting", "malformed", "matched_again")


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def run(args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    """Read the window, compare it with the reference, and return the report document."""
    thresholds = Thresholds(warn=args.warn, alert=args.alert, min_rows=args.min_rows, alpha=args.alpha)
    window = window_from(args, now)
    reference, origin = load_reference(args.bundle, args.reference)
    store = open_store(args.capture, page_size=args.page_size)
    reader = CaptureReader(
        store,
        window,
        model_name=args.model_name,
        model_version=args.model_version,
        workers=args.workers,
        dedup_window=args.dedup_window,
    )
    joined = Joined(read_outcomes(args.outcomes)) if args.outcomes else None
    counts = Counts(reference)
    estimates = EstimateCounts()
    fairness = FairnessCounts()
    daily = DailyCounts(reference)
    challenger = ChallengerCounts(joined.outcomes if joined is not None else None)
    for chunk in reader.chunks():
        counts.add(chunk)
        daily.add(chunk)
        estimates.add(chunk)
        fairness.add(chunk)
        challenger.add(chunk)
        if joined is not None:
            joined.add(chunk)
    if joined is not None:
        fairness.add_outcomes(joined)
    drift = evaluate(counts, thresholds, reference_reasons(args.bundle, args.reference))
    performance = {
        "estimated": estimates.section(),
        "realized": realized_section(joined, bootstrap=args.bootstrap) if joined is not None else None,
        "outcomes": joined.counts() if joined is not None else None,
    }
    return summary(
        drift,
        window=window,
        scan=reader.counts,
        thresholds=thresholds,
        capture=args.capture,
        reference=origin,
        model_filter={"name": args.model_name, "version": args.model_version},
        generated_at=now,
        performance=performance,
        fairness=fairness.section(reference_fairness(args.bundle, args.reference)),
        trend=daily.section(),
        data_quality=_data_quality(drift, args.request_logs, window),
        challenger=challenger.section(),
    )


def _data_quality(drift: Any, request_logs: str | None, window: Window) -> dict[str, Any]:
    """Refusals per day (from the request log lines, when given) and each field's missing and Unknown shares."""
    shares = {
        f.name: {
            "missing": f.missing_share,
            "reference_missing": f.reference_missing_share,
            "unknown": f.unknown_share,
            "reference_unknown": f.reference_unknown_share,
        }
        for f in drift.features
    }
    refusals = read_request_logs(request_logs, since=window.low, until=window.high).section() if request_logs else None
    return {"refusals": refusals, "missing_unknown": shares}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    now = datetime.now(UTC)
    try:
        document = run(args, now)
        if args.json:
            write_json(document, args.json)
        if args.html:
            write_text(render(document), args.html)
        print("\n".join(_summary_lines(document)))
        if args.publish_metrics == "emf":
            print("\n".join(publish.emf_lines(document, namespace=args.metrics_namespace, timestamp=now)))
        elif args.publish_metrics == "cloudwatch":
            sent = publish.put_metric_data(document, namespace=args.metrics_namespace, timestamp=now)
            print(f"published {sent} metric values to CloudWatch namespace {args.metrics_namespace}")
    except (CaptureError, OutcomesError, BundleError, ValueError, OSError) as error:
        print(f"{PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:  # a bug or an AWS fault: where it happened, never a value
        where = [f"{f.filename}:{f.lineno}" for f in traceback.extract_tb(error.__traceback__)[-3:]]
        print(f"{PROG}: error: {type(error).__name__} at {', '.join(where)}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_CODES[document["verdict"]]
