"""Our compute path against the old design's, interleaved in one run, as ratios.

    python -m benchmarks.compare [--quick] [--output benchmarks/results]

Both designs run their real handlers (``app.handler``; ``benchmarks.old_style.handler``) on the same
real-data model pair (``benchmarks.models``: our cascade with its reason-code tables, the old joblib
XGBoost), without AWS: our capture is off, the old design's 22 metric calls and CSV rewrite are
skipped (``OLD_AWS_CALLS=0``), so what is compared is each design's own work and the old design is
taken at its best. ``benchmarks.suite`` measures the AWS side.

* warm single record: one process holds both handlers and calls them in alternating blocks of
  :data:`BLOCK` direct invocations (old design; ours with ``"explain": false``; ours by default,
  explained; ours with ``"contributions": true``), so load from other processes hits all alike;
* 1,000-record batch: our handler, unexplained and explained requests alternating;
* the explainer alone, per row of the same records: the tables' former evaluation (gather from ``Ψ``,
  ``where``, multiply, ``bincount``; ``tests/support/former_explainer.py``) against ours (one ``take``
  of the pattern table, ``reduceat``), with and without the margin;
* cold start: fresh interpreters, the variants alternating, timed from the spawn to the first answer
  (wall, as the parent sees it) and inside the child (import + first answer). Ours runs as the image
  runs it (``OPENBLAS_NUM_THREADS=1``, the Dockerfile's ``ENV``), and twice more to show what that
  setting and bytecode are worth: without it, and without bytecode (every module compiled from source,
  as in an image that ships no ``.pyc``).

Writes ``compare.json`` and ``compare.md`` to the output folder and prints the table; ``--update-docs``
also puts the table into docs/performance.md, between its ``compare`` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.data import ROOT, host, request_records

RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "performance.md"
DOCS_MARKERS = ("<!-- compare: start (python -m benchmarks.compare --update-docs) -->", "<!-- compare: end -->")
BLOCK = 200  # calls of one variant in a row: alternating single calls would hand each the other's cold caches
BATCH_SIZE = 1_000
WARM_VARIANTS = {
    "old design": None,
    'ours, "explain": false': {"explain": False},
    "ours, explained (default)": {},
    'ours, "contributions": true': {"contributions": True},
}
COLD_VARIANTS = (
    "old design",
    "ours, explained",
    "ours, explained, OpenBLAS threads not set",
    "ours, explained, no bytecode",
)

_COLD_CHILD = """
import time
started = time.perf_counter()
import json, os, sys
event = json.loads(os.environ["BENCH_EVENT"])
if os.environ.get("BENCH_SIDE") == "old":
    from benchmarks.old_style.handler import handler
else:
    from app import handler
imported = time.perf_counter()
response = handler(event, None)
answered = time.perf_counter()
assert response["statusCode"] == 200, response
sys.stderr.write("BENCH " + json.dumps({"import_ms": (imported - started) * 1e3, "cold_ms": (answered - started) * 1e3,
                 "explained": "reasons" in response["body"]}) + "\\n")
sys.stderr.flush()
os._exit(0)
"""


def environment(models: Any, side: str, scratch: Path, variant: str = "") -> dict[str, str]:
    """A clean environment for one design: no AWS, no capture; OpenBLAS as our image sets it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CAPTURE_", "OPENBLAS_", "PYTHON"))}
    env.update({"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "AWS_DEFAULT_REGION": "eu-west-1"})
    env.update({"OLD_MODEL_PATH": str(models.old_model), "OLD_BUCKET": "unused", "OLD_AWS_CALLS": "0"})
    env["MODEL_DIR"] = str(models.bundle)
    if side == "ours" and "OpenBLAS" not in variant:
        env["OPENBLAS_NUM_THREADS"] = "1"
    if "no bytecode" in variant:  # an empty cache folder nothing is written to: every import compiles its source
        env["PYTHONPYCACHEPREFIX"] = str(scratch / "no-bytecode")
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def cold_once(models: Any, variant: str, record: dict[str, str], scratch: Path) -> dict[str, Any]:
    side = "old" if variant == "old design" else "ours"
    env = environment(models, side, scratch, variant)
    env["BENCH_SIDE"] = side
    env["BENCH_EVENT"] = json.dumps({"data": record})
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", _COLD_CHILD],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    result: dict[str, Any] | None = None
    for line in child.stderr:
        if line.startswith("BENCH "):
            result = {"wall_ms": (time.perf_counter() - started) * 1e3, **json.loads(line[6:])}
            break
    child.wait(timeout=120)
    if result is None:
        raise RuntimeError(f"cold start of {variant} gave no answer (exit {child.returncode})")
    if result["explained"] != (side == "ours"):
        raise RuntimeError(f"cold start of {variant}: unexpected answer shape")
    return result


def cold(models: Any, runs: int, record: dict[str, str], scratch: Path) -> dict[str, Any]:
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in COLD_VARIANTS}
    for _ in range(runs):
        for name in COLD_VARIANTS:
            samples[name].append(cold_once(models, name, record, scratch))
    return {
        name: {
            "runs": len(values),
            **{key: round(statistics.median(v[key] for v in values), 1) for key in ("wall_ms", "cold_ms", "import_ms")},
        }
        for name, values in samples.items()
    }


def warm_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in its own process: both handlers, the single-record variants in alternating blocks, then
    the batch pair alternating."""
    import app
    from benchmarks.old_style.handler import handler as old_handler
    from benchmarks.worker import Context, quiet

    records = spec["records"]
    timings: dict[str, list[float]] = {name: [] for name in WARM_VARIANTS}
    batch: dict[str, list[float]] = {"unexplained": [], "explained": []}
    calls = 0

    def call(handler: Any, event: dict[str, Any]) -> float:
        nonlocal calls
        calls += 1
        started = time.perf_counter()
        response = handler(event, Context(calls))
        elapsed = time.perf_counter() - started
        if response["statusCode"] != 200:
            raise RuntimeError(f"benchmark request answered {response['statusCode']}")
        return elapsed

    with quiet():
        for block in range(spec["blocks"] + 1):
            for name, flags in WARM_VARIANTS.items():
                handler = old_handler if flags is None else app.handler
                for i in range(BLOCK):
                    event = {"data": records[(block * BLOCK + i) % len(records)], **(flags or {})}
                    elapsed = call(handler, event)
                    if block:  # the first block loads the models and warms the caches
                        timings[name].append(elapsed * 1e6)
        events = {
            "unexplained": {"data": records[:BATCH_SIZE], "explain": False},
            "explained": {"data": records[:BATCH_SIZE]},
        }
        for event in events.values():
            call(app.handler, event)
        for _ in range(spec["batch_repeats"]):
            for name, event in events.items():
                batch[name].append(call(app.handler, event))
    steps = explainer_steps(app._service.model().explainer, records, spec["blocks"])
    single = {
        name: {
            "calls": len(values),
            "p50_us": round(statistics.median(values), 1),
            "p90_us": round(sorted(values)[int(len(values) * 0.9)], 1),
        }
        for name, values in timings.items()
    }
    batches = {
        name: {"requests": len(values), "ms": round(statistics.median(values) * 1e3, 2)}
        for name, values in batch.items()
    }
    for entry in batches.values():
        entry["records_per_s"] = round(BATCH_SIZE / (entry["ms"] / 1e3))
    return {"single": single, "batch": batches, "explainer_per_row": steps}


def explainer_steps(explainer: Any, records: list[dict[str, str]], blocks: int) -> dict[str, float]:
    """Median µs a row of the explainer's evaluation alone, the variants alternating in blocks."""
    import numpy as np

    from credit_score.contract.bundle import EXPLAINER_FILE
    from credit_score.contract.fields import FIELD_NAMES, encode, parse_record
    from tests.support.former_explainer import former_explain

    rows = encode([parse_record(r)[0] for r in records[:BLOCK]])
    with np.load(app_bundle() / EXPLAINER_FILE) as stored:
        tables = {key: stored[key] for key in stored.files if key.endswith("_psi")}
    boosters = explainer.boosters
    first = boosters[0]
    hots = [first.hot(row) for row in rows]
    picks = [first.start + (h @ first.bits) for h in hots]
    flat_fields, gather = first.field.ravel(), np.int64(0x0102040810204080)
    flags = np.zeros((len(first.value), 8), dtype=bool)

    def byte_packing(hot: np.ndarray) -> np.ndarray:  # the former packing: flags as bytes, one multiply
        flags[:, : first.width] = hot
        return ((flags.view(np.int64)[:, 0] * gather) >> 56) & 0xFF

    variants = {
        "former evaluation": lambda i: former_explain(boosters[i % 2], tables, f"b{i % 2}_", rows[i]),
        "ours, without the margin": lambda i: boosters[i % 2].explain(rows[i], False),
        "ours, with the margin": lambda i: boosters[i % 2].explain(rows[i], True),
        # steps on the first booster, each alone: how a row's pattern is packed and its fields summed
        "step: pattern by integer product": lambda i: hots[i] @ first.bits,
        "step: pattern by byte packing": lambda i: byte_packing(hots[i]),
        "step: pattern by float32 product (ours)": lambda i: hots[i].astype(np.float32) @ first._bit_weights,
        # the table's take included, as in a row's evaluation: the sums then read entries still in cache
        "step: take + field sums by bincount": lambda i: np.bincount(
            flat_fields, first.table.take(picks[i], axis=0).ravel(), len(FIELD_NAMES)
        ),
        "step: take + field sums by permutation + reduceat (ours)": lambda i: np.add.reduceat(
            first.table.take(picks[i], axis=0).ravel().take(first._order), first._field_starts
        ),
    }
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(blocks):
        for name, run in variants.items():
            for i in range(len(rows)):
                started = time.perf_counter()
                run(i)
                timings[name].append((time.perf_counter() - started) * 1e6)
    return {name: round(statistics.median(values), 1) for name, values in timings.items()}


def app_bundle() -> Path:
    return Path(os.environ["MODEL_DIR"])


def warm(models: Any, spec: dict[str, Any], scratch: Path) -> dict[str, Any]:
    spec_path, result_path = scratch / "warm-spec.json", scratch / "warm-result.json"
    spec_path.write_text(json.dumps(spec))
    subprocess.run(
        [sys.executable, "-m", "benchmarks.compare", "--warm-child", str(spec_path), str(result_path)],
        env=environment(models, "ours", scratch),
        cwd=ROOT,
        check=True,
    )
    return json.loads(result_path.read_text())


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """Bigger is better for ours: old time / our time; explained / unexplained throughput; cold old / ours."""
    single, batch, cold_starts = results["warm"]["single"], results["warm"]["batch"], results["cold_start"]
    old = single["old design"]["p50_us"]
    out = {f"single: old / {name}": round(old / v["p50_us"], 2) for name, v in single.items() if name != "old design"}
    default = single["ours, explained (default)"]["p50_us"]
    steps = results["warm"]["explainer_per_row"]
    out["explainer per row: former / ours"] = round(steps["former evaluation"] / steps["ours, without the margin"], 2)
    out["single: contributions / default"] = round(single['ours, "contributions": true']["p50_us"] / default, 3)
    out["batch: explained / unexplained throughput"] = round(
        batch["explained"]["records_per_s"] / batch["unexplained"]["records_per_s"], 3
    )
    old_cold = cold_starts["old design"]["wall_ms"]
    for name in COLD_VARIANTS[1:]:
        out[f"cold: old / {name}"] = round(old_cold / cold_starts[name]["wall_ms"], 2)
    return out


def markdown(results: dict[str, Any]) -> str:
    m, single, batch = results["machine"], results["warm"]["single"], results["warm"]["batch"]
    cold_starts, r = results["cold_start"], results["ratios"]
    old = single["old design"]["p50_us"]
    lines = [
        f"Run {results['generated_at']}{' (quick: not for the docs)' if results['quick'] else ''}: {m['cpu']}, "
        f"{m['cores']} cores, Python {m['python']}, load average {m['load_average']:.2f} at the start and "
        f"{results['load_average_end']:.2f} at the end; {results['duration_s']} s.",
        "",
        "| measure | value | vs the old design |",
        "|---|---:|---:|",
        f"| warm single record, old design (AWS calls off), p50 | {old:,.0f} µs | 1 |",
    ]
    for name, v in single.items():
        if name != "old design":
            ratio = r[f"single: old / {name}"]
            lines.append(f"| warm single record, {name}, p50 | {v['p50_us']:,.0f} µs | {ratio:.2f}x faster |")
    lines += [
        f"| 1,000-record batch, unexplained | {batch['unexplained']['records_per_s']:,} records/s "
        f"({batch['unexplained']['ms']:.1f} ms) | |",
        f"| 1,000-record batch, explained | {batch['explained']['records_per_s']:,} records/s "
        f"({batch['explained']['ms']:.1f} ms) | 1/{1 / r['batch: explained / unexplained throughput']:.1f} "
        "of unexplained |",
        f"| cold start to the first answer, old design (median of {cold_starts['old design']['runs']}) | "
        f"{cold_starts['old design']['wall_ms']:,.0f} ms | 1 |",
    ]
    for name in COLD_VARIANTS[1:]:
        v = cold_starts[name]
        lines.append(
            f"| cold start to the first answer, {name} | {v['wall_ms']:,.0f} ms "
            f"(import {v['import_ms']:,.0f} ms) | {r[f'cold: old / {name}']:.1f}x faster |"
        )
    steps = results["warm"]["explainer_per_row"]
    lines += [
        f"| explainer alone, per row: former evaluation | {steps['former evaluation']:,.1f} µs | |",
        f"| explainer alone, per row: ours | {steps['ours, without the margin']:,.1f} µs "
        f"({steps['ours, with the margin']:,.1f} µs with the margin) | "
        f"{r['explainer per row: former / ours']:.1f}x faster than the former |",
    ]
    lines += [
        "",
        steps_sentence(steps),
        "",
        f"`contributions: true` costs {100 * (r['single: contributions / default'] - 1):+.1f} % over the default "
        "explained answer. Cold starts are wall time from the spawn of a fresh interpreter to the first answer; "
        "import is the handler module's import inside it.",
        "",
    ]
    return "\n".join(lines)


def steps_sentence(steps: dict[str, float]) -> str:
    packed, integer = steps["step: pattern by float32 product (ours)"], steps["step: pattern by integer product"]
    bytewise = steps["step: pattern by byte packing"]
    summed = steps["step: take + field sums by permutation + reduceat (ours)"]
    counted = steps["step: take + field sums by bincount"]
    return (
        f"Steps of a row on the first booster: its hot-feature pattern packed by one float32 product in "
        f"{packed:.1f} µs "
        f"(integer product {integer:.1f} µs, byte packing {bytewise:.1f} µs); the table's take and the field sums "
        f"by permutation + reduceat in {summed:.1f} µs (by bincount {counted:.1f} µs)."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="our handler against the old design, interleaved, as ratios")
    parser.add_argument("--quick", action="store_true", help="few iterations, for development (not for the docs)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder for compare.json and compare.md")
    parser.add_argument("--update-docs", action="store_true", help="put the table into docs/performance.md")
    parser.add_argument("--warm-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.warm_child:
        spec_path, result_path = args.warm_child
        result_path.write_text(json.dumps(warm_child(json.loads(spec_path.read_text()))))
        return 0

    from benchmarks import models as model_store

    began = time.perf_counter()
    print("preparing models (cached after the first run) ...", file=sys.stderr)
    models = model_store.prepare(use_demo_model=False)
    records = request_records(BATCH_SIZE)
    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": host(),
        "bundle": models.bundle_source,
    }
    with tempfile.TemporaryDirectory(prefix="compare-") as folder:
        scratch = Path(folder)
        print("warm: single records and batches ...", file=sys.stderr)
        spec = {"records": records, "blocks": 3 if args.quick else 25, "batch_repeats": 3 if args.quick else 25}
        results["warm"] = warm(models, spec, scratch)
        print("cold starts ...", file=sys.stderr)
        results["cold_start"] = cold(models, 3 if args.quick else 15, records[0], scratch)
    results["ratios"] = ratios(results)
    results["duration_s"] = round(time.perf_counter() - began, 1)
    results["load_average_end"] = os.getloadavg()[0]
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "compare.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.output / "compare.md").write_text(table)
    if args.update_docs:
        update_docs(table)
    print(table)
    return 0


def update_docs(table: str, docs: Path = DOCS) -> None:
    """Replace what lies between the markers in ``docs`` with ``table``."""
    start, end = DOCS_MARKERS
    text = docs.read_text(encoding="utf-8")
    before, found, rest = text.partition(start)
    _, closed, after = rest.partition(end)
    if not (found and closed):
        raise SystemExit(f"{docs} lacks the markers {start} ... {end}")
    docs.write_text(f"{before}{start}\n{table}{end}{after}", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
