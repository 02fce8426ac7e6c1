"""One measured Lambda container: a fresh process running one design's handler.

    python -m benchmarks.worker SPEC.json RESULT.json

Only the standard library is imported before the clock starts, so ``cold`` measures what a Lambda
cold start pays after the runtime is up: importing the handler module (the old design loads its
model here) and the first invocation (ours verifies and loads the bundle here). ``warm`` then
measures single-record latency (direct and HTTP API events), batch throughput, the AWS calls made
per request (botocore's ``before-send`` event, one per HTTP attempt) and the peak RSS.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402


class Context:
    """The Lambda context attributes both handlers read; a fresh request id per invocation."""

    function_name = "credit-score-bench"
    memory_limit_in_mb = 1024

    def __init__(self, number: int) -> None:
        self.aws_request_id = f"bench-{os.getpid()}-{number}"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The handlers' stdout (logs, EMF) goes to /dev/null, as cheap as CloudWatch's pipe."""
    real = sys.stdout
    with open(os.devnull, "w") as sink:
        sys.stdout = sink
        try:
            yield
        finally:
            sys.stdout = real


def load_handler(side: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    if side == "ours":
        import app

        return app.handler
    from benchmarks.old_style import handler

    return handler.handler


def http_event(payload: dict[str, Any]) -> dict[str, Any]:
    from credit_score.devtools.serve import build_event

    return build_event("POST", "/predict", [("content-type", "application/json")], json.dumps(payload).encode())


def peak_rss_mb() -> float:
    """This process's high-water RSS (VmHWM). Not ru_maxrss: Linux carries that over from the forking parent."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Invoker:
    """Calls the handler, checks every answer is a 200, numbers the contexts."""

    def __init__(self, handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> None:
        self.handler = handler
        self.count = 0

    def __call__(self, event: dict[str, Any]) -> float:
        self.count += 1
        started = time.perf_counter()
        response = self.handler(event, Context(self.count))
        elapsed = time.perf_counter() - started
        if response.get("statusCode") != 200:
            raise RuntimeError(f"benchmark request answered {response.get('statusCode')}")
        return elapsed


def payload(spec: dict[str, Any], data: Any) -> dict[str, Any]:
    """The request for ``data``: the seed's shape, plus our answer options (``explain``) on our side."""
    return {"data": data, **spec.get("options", {})} if spec["side"] == "ours" else {"data": data}


def cold(spec: dict[str, Any]) -> dict[str, Any]:
    record = spec["records"][0]
    with quiet():
        imported = time.perf_counter()
        handler = load_handler(spec["side"])
        loaded = time.perf_counter()
        Invoker(handler)(payload(spec, record))
        answered = time.perf_counter()
    return {
        "startup_ms": (imported - STARTED) * 1e3,
        "import_ms": (loaded - imported) * 1e3,
        "first_ms": (answered - loaded) * 1e3,
        "cold_ms": (answered - imported) * 1e3,
        "peak_rss_mb": peak_rss_mb(),
    }


def warm(spec: dict[str, Any]) -> dict[str, Any]:
    import boto3

    sends: list[str] = []
    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-send", lambda request, **_: sends.append(request.method))
    records = spec["records"]
    result: dict[str, Any] = {}
    with quiet():
        invoke = Invoker(load_handler(spec["side"]))
        invoke(payload(spec, records[0]))
        for name, make in (
            ("direct", lambda r: payload(spec, r)),
            ("http_api", lambda r: http_event(payload(spec, r))),
        ):
            events = [make(records[i % len(records)]) for i in range(spec["single"])]
            for event in events[: spec["warmup"]]:
                invoke(event)
            before_calls, before_count = len(sends), invoke.count
            timings = [invoke(event) for event in events]
            result[f"single_{name}"] = {
                "n": len(timings),
                "p50_ms": statistics.median(timings) * 1e3,
                "p99_ms": percentile(timings, 0.99) * 1e3,
                "mean_ms": statistics.fmean(timings) * 1e3,
                "aws_calls_per_request": (len(sends) - before_calls) / (invoke.count - before_count),
            }
        result["batches"] = [batch(spec, invoke, records, size) for size in spec["batch_sizes"]]
    result["aws_calls_total"] = len(sends)
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def batch(spec: dict[str, Any], invoke: Invoker, records: list[dict[str, str]], size: int) -> dict[str, Any]:
    """Records per second at ``size`` records per request; the old design takes one record a request."""
    repeats = max(1, spec["batch_records"] // size) if spec["side"] == "ours" else 1
    if spec["side"] == "ours":
        event = payload(spec, records[:size] if size > 1 else records[0])
        invoke(event)
        timings = [invoke(event) for _ in range(repeats)]
        seconds = statistics.median(timings)
        return {"size": size, "requests": repeats, "records_per_s": size / seconds, "ms_per_request": seconds * 1e3}
    if size > spec["old_batch_limit"]:
        return {"size": size, "requests": 0, "records_per_s": None, "ms_per_request": None}
    started = time.perf_counter()
    for record in records[:size]:
        invoke({"data": record})
    seconds = time.perf_counter() - started
    return {"size": size, "requests": size, "records_per_s": size / seconds, "ms_per_request": seconds * 1e3 / size}


def main() -> int:
    spec_path, result_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as handle:
        spec = json.load(handle)
    result = cold(spec) if spec["mode"] == "cold" else warm(spec)
    with open(result_path, "w") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
