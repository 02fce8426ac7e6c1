"""Cost of one single-record metrics flush: this service's EMF writer against Powertools' ``Metrics``.

    python -m benchmarks.emf [--repeat 5000]

Both print the same metrics (latency, batch size, one prediction; never an input value) as one EMF
line; output goes to /dev/null so only serialisation is timed. Medians of ``--repeat`` flushes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from benchmarks.worker import quiet
from credit_score.runtime.metrics import Metrics


def median_seconds(call: Callable[[], object], repeat: int, warmup: int = 200) -> float:
    for _ in range(warmup):
        call()
    durations = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5000)
    args = parser.parse_args(argv)

    from aws_lambda_powertools import Metrics as PowertoolsMetrics
    from aws_lambda_powertools.metrics import MetricUnit

    ours = Metrics(namespace="CreditScore", service="credit-score")
    theirs = PowertoolsMetrics(namespace="CreditScore", service="credit-score")

    def flush_ours() -> None:
        ours.predictions(version="1", labels=("Standard",), codes=[0], latency_ms=0.05)

    def flush_powertools() -> None:
        theirs.add_dimension("model_version", "1")
        theirs.add_metric("Latency", MetricUnit.Milliseconds, 0.05)
        theirs.add_metric("BatchSize", MetricUnit.Count, 1)
        theirs.add_metric("Predictions", MetricUnit.Count, 1)
        theirs.flush_metrics()

    with quiet():
        mine = median_seconds(flush_ours, args.repeat)
        reference = median_seconds(flush_powertools, args.repeat)
    print("| EMF flush, one record | this service | Powertools Metrics | ratio |")
    print("|---|---|---|---|")
    print(f"| median of {args.repeat:,} | {mine * 1e6:.1f} µs | {reference * 1e6:.1f} µs | {reference / mine:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
