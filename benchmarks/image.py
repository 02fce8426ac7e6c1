"""The Lambda image as built and run here: what it adds to its base, its cold start, its warm round trip.

The image is built FROM the stand-in base of tests/image (Debian's Python 3.11 and ``awslambdaric``
standing in for ``public.ecr.aws/lambda/python:3.12``, which CI cannot pull) with the ``model/``
bundle of ``make demo``, and run as the image tests run it: read-only root, tmpfs ``/tmp``,
Lambda's sandbox user and variables, the Runtime API emulator of tests/support on the loopback.

- added size and layers: the image's own layers above the base, from ``docker save``;
- cold start: ``docker run`` to the first answer posted (the invocation is queued before the
  container starts), median of ``--cold`` runs; "runtime ready" is ``docker run`` to the
  runtime client's first ``next``;
- warm round trip: invoke → answer posted (what a caller waits for), and invoke → invoke end,
  for ``--warm`` direct invocations of ``data.json`` in one container, p50 and p99;
- ``docker stop``: seconds to stop a container that waits for its next event, and its exit code.

    python -m benchmarks.image [--cold 5] [--warm 200] [--output benchmarks/results/image.json]

Run under ``python -m tests.image.engine run --`` (as ``make image-test`` does) on a machine
without a running engine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.image.engine import Engine, ensure_engine
from tests.image.harness import IMAGE, build_image, build_standin, lambda_container, save_image
from tests.support.events import load_event
from tests.support.runtime_api import RuntimeApi

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def layers(engine: Engine, standin: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="image-bench-") as work:
        saved = save_image(engine, IMAGE, standin, Path(work))
    own = [
        {"created_by": layer.created_by.replace("/bin/sh -c ", "")[:120], "mib": round(layer.size / MIB, 2)}
        for layer in saved.added
    ]
    task_root = [(path, size) for layer in saved.added for path, size in layer.files.items()]
    by_top = {}
    for path, size in task_root:
        parts = path.split("/")
        top = parts[2] if len(parts) > 3 and parts[:2] == ["var", "task"] else path
        by_top[top] = by_top.get(top, 0) + size
    largest = sorted(by_top.items(), key=lambda item: -item[1])[:8]
    return {
        "base_layers": saved.base_layer_count,
        "added_layers": len(saved.added),
        "added_mib": round(sum(layer.size for layer in saved.added) / MIB, 1),
        "layers": own,
        "largest_in_task_root_mib": {name: round(size / MIB, 1) for name, size in largest},
    }


def cold_starts(engine: Engine, runs: int) -> dict[str, Any]:
    answers, ready = [], []
    for _ in range(runs):
        with RuntimeApi() as api:
            invocation = api.submit(load_event("direct.json"))
            with lambda_container(engine, IMAGE, api.address) as container:
                invocation.wait_response(120)
                assert invocation.status == "success", invocation.body[:300]
                answers.append(invocation.responded_at - container.started_at)
                ready.append(invocation.started_at - container.started_at)
    return {
        "runs": runs,
        "run_to_first_answer_ms": {"median": round(statistics.median(answers) * 1000, 1), "all": _ms(answers)},
        "run_to_runtime_ready_ms": {"median": round(statistics.median(ready) * 1000, 1)},
    }


def warm_round_trips(engine: Engine, count: int) -> dict[str, Any]:
    event = load_event("direct.json")
    answered, ended = [], []
    with RuntimeApi() as api, lambda_container(engine, IMAGE, api.address) as container:
        api.invoke(event, timeout=120)
        for _ in range(20):  # warm-up, not counted
            api.invoke(event)
        for _ in range(count):
            invocation = api.invoke(event)
            answered.append(invocation.responded_at - invocation.submitted_at)
            ended.append(invocation.ended_at - invocation.submitted_at)
        started = time.monotonic()
        engine.docker("stop", "--time", "10", container.name)
        stop_seconds = time.monotonic() - started
        exit_code = container.state()["ExitCode"]
    return {
        "invocations": count,
        "invoke_to_answer_ms": _p50_p99(answered),
        "invoke_to_end_ms": _p50_p99(ended),
        "docker_stop": {"seconds": round(stop_seconds, 3), "exit_code": exit_code},
    }


def _p50_p99(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 0.5) * 1000, 2), "p99": round(percentile(values, 0.99) * 1000, 2)}


def _ms(values: list[float]) -> list[float]:
    return [round(value * 1000, 2) for value in values]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", type=int, default=5, help="cold starts to take the median of (default 5)")
    parser.add_argument("--warm", type=int, default=200, help="warm invocations (default 200)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "image.json")
    args = parser.parse_args(argv)
    engine = ensure_engine()
    try:
        standin = build_standin(engine)
        build_image(engine, base=standin)
        server = engine.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
        result = {
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "engine": f"dockerd {server}"},
            "base": "stand-in (Debian Python 3.11 + awslambdaric 4.2.2), tests/image/standin",
            "image": layers(engine, standin),
            "cold_start": cold_starts(engine, args.cold),
            "warm": warm_round_trips(engine, args.warm),
        }
    finally:
        engine.stop()
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    image, cold, warm = result["image"], result["cold_start"], result["warm"]
    print(
        f"image: +{image['added_mib']} MiB in {image['added_layers']} layers; "
        f"cold start {cold['run_to_first_answer_ms']['median']} ms (median of {cold['runs']}); "
        f"warm answer p50 {warm['invoke_to_answer_ms']['p50']} ms, p99 {warm['invoke_to_answer_ms']['p99']} ms; "
        f"docker stop {warm['docker_stop']['seconds']} s (exit {warm['docker_stop']['exit_code']}) -> {args.output}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
