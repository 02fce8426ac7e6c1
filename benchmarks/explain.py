"""What explanations cost: warm latency per record with and without them, batch throughput, bundle size
and the cold start, on a production-sized cascade. ``python -m benchmarks.explain`` writes
``benchmarks/results/explain.json``.

The cascade is trained with the production defaults (``training.cascade``: depth 5, 16 leaves,
200 + 150 rounds) on the shared file when it is there (``CREDIT_SCORE_CSV`` points elsewhere), else on
20,000 synthetic rows; the label
thresholds are fixed at 0.5 (latency does not depend on them). The handler is the real one
(``Service``, metrics on, capture off), called in process with direct-invocation events; the variants
alternate in blocks of 200 calls so that other load on the machine hits them alike.
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import CSV, ROOT
from credit_score.contract.bundle import EXPLAINER_FILE, INPUT_NAME, classes_metadata, write_bundle
from credit_score.contract.fields import FEATURE_NAMES, schema

RESULTS = ROOT / "benchmarks" / "results" / "explain.json"
WARM_CALLS = 3_000
BLOCK = 200  # calls of one variant in a row: interleaving single calls would hand each the previous one's cold caches
BATCH_REPEATS = 5


def build(folder: Path) -> dict[str, Any]:
    """Two bundles of one cascade: with reason-code tables and without (same ONNX)."""
    import pandas as pd

    from credit_score.modelling.artifacts import Cascade
    from credit_score.modelling.conversion import to_onnx
    from credit_score.modelling.explainer import build_tables
    from credit_score.modelling.training import synthetic
    from credit_score.modelling.training.cascade import MONOTONE, booster_params, fit_boosters
    from credit_score.modelling.training.data import read_raw_csv, to_dataset

    csv = Path(os.environ.get("CREDIT_SCORE_CSV", CSV))
    frame = read_raw_csv(csv) if csv.exists() else synthetic.generate(20_000)
    data = to_dataset(frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame))
    started = time.perf_counter()
    cascade = Cascade(fit_boosters(data.features, data.labels, booster_params()), (0.5, 0.5), MONOTONE)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    tables = build_tables(cascade.boosters)
    tables_s = time.perf_counter() - started
    onnx_bytes = to_onnx(cascade)
    metadata = {
        "model": {"name": "credit-score-classifier", "version": "1", "alias": "champion"},
        "classes": classes_metadata(),
        "input": {"name": INPUT_NAME, "feature_names": list(FEATURE_NAMES), "fields": schema()},
    }
    write_bundle(folder / "explained", onnx_bytes, metadata, extra_files={EXPLAINER_FILE: tables})
    write_bundle(folder / "plain", onnx_bytes, metadata)
    trees = [booster.num_trees() for booster in cascade.boosters]
    return {
        "data": f"{len(data.labels)} rows of the shared file" if csv.exists() else "20,000 synthetic rows",
        "trees": trees,
        "fit_s": round(fit_s, 1),
        "tables_build_s": round(tables_s, 2),
        "model_onnx_bytes": len(onnx_bytes),
        "explainer_npz_bytes": len(tables),
    }


def _service(bundle: Path) -> Any:
    from credit_score.runtime.config import Settings
    from credit_score.runtime.service import Service

    os.environ["MODEL_DIR"] = str(bundle)
    os.environ.pop("CAPTURE_URI", None)
    with redirect_stdout(io.StringIO()):
        return Service(Settings.from_env())


def _records(count: int) -> list[dict[str, Any]]:
    from tests.support.bundles import synthetic_records

    return synthetic_records(count, seed=1)


def warm(folder: Path) -> dict[str, Any]:
    """Per-call latency of single records, variants interleaved; median and p99 in microseconds."""
    from tests.support.lambda_context import LambdaContext

    explained, plain = _service(folder / "explained"), _service(folder / "plain")
    records = _records(200)
    variants = {
        "explained (default)": (explained, {}),
        "explained with contributions": (explained, {"contributions": True}),
        "explain: false": (explained, {"explain": False}),
        "bundle without tables": (plain, {}),
    }
    context = LambdaContext("bench")
    timings: dict[str, list[float]] = {name: [] for name in variants}
    sink = io.StringIO()
    with redirect_stdout(sink):
        for block in range(WARM_CALLS // BLOCK + 1):
            for name, (service, flags) in variants.items():
                for call in range(BLOCK):
                    event = {"data": records[call % len(records)], **flags}
                    started = time.perf_counter()
                    response = service.handle(event, context)
                    elapsed = time.perf_counter() - started
                    if block:  # the first block warms caches and loads the bundles
                        timings[name].append(elapsed * 1e6)
                    assert response["statusCode"] == 200
                sink.seek(0)
                sink.truncate()
    out = {}
    for name, values in timings.items():
        values.sort()
        out[name] = {"p50_us": round(statistics.median(values), 1), "p99_us": round(values[int(len(values) * 0.99)], 1)}
    base = out["explain: false"]["p50_us"]
    out["added_per_explained_record_us"] = round(out["explained (default)"]["p50_us"] - base, 1)
    out["explain_false_minus_plain_bundle_us"] = round(base - out["bundle without tables"]["p50_us"], 1)
    return out


def batches(folder: Path) -> dict[str, Any]:
    """Records per second for batches of 100 and 1,000, with and without explanations."""
    from tests.support.lambda_context import LambdaContext

    service = _service(folder / "explained")
    context = LambdaContext("bench")
    out: dict[str, Any] = {}
    with redirect_stdout(io.StringIO()):
        for size in (100, 1_000):
            records = _records(size)
            for name, flags in (("explained", {}), ("explain: false", {"explain": False})):
                event = {"data": records, **flags}
                service.handle(event, context)
                best = min(_timed(service, event, context) for _ in range(BATCH_REPEATS))
                out[f"{size} records, {name}"] = {"records_per_s": round(size / best), "ms": round(best * 1000, 1)}
    return out


def _timed(service: Any, event: dict[str, Any], context: Any) -> float:
    started = time.perf_counter()
    service.handle(event, context)
    return time.perf_counter() - started


_COLD = """
import time
started = time.perf_counter()
import app
from tests.support.lambda_context import LambdaContext
response = app.handler({"data": RECORD}, LambdaContext("cold"))
elapsed = time.perf_counter() - started
import json, sys
body = json.loads(response["body"])
assert ("reasons" in body) is EXPLAINED, body
sys.stderr.write(json.dumps({"ms": elapsed * 1000}) + "\\n")
"""


def cold(folder: Path, runs: int = 9) -> dict[str, Any]:
    """A fresh interpreter per run: import app, load the bundle, answer one record (explained when the
    bundle has tables); both bundles alternate, so the difference is the explainer's share."""
    record = _records(1)[0]
    times: dict[str, list[float]] = {"explained": [], "plain": []}
    for _ in range(runs):
        for name in times:
            env = {**os.environ, "MODEL_DIR": str(folder / name), "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}
            env.pop("CAPTURE_URI", None)
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    _COLD.replace("RECORD", repr(record)).replace("EXPLAINED", str(name == "explained")),
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            times[name].append(json.loads(done.stderr.strip().splitlines()[-1])["ms"])
    return {
        f"{name} bundle": {"median_ms": round(statistics.median(values), 1), "runs_ms": [round(t, 1) for t in values]}
        for name, values in times.items()
    }


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="explain-bench-") as scratch:
        folder = Path(scratch)
        document = {
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                "numpy": np.__version__,
            },
            "model": build(folder),
        }
        document["warm_single_record"] = warm(folder)
        document["batch_throughput"] = batches(folder)
        document["cold_start"] = cold(folder)
        document["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        document["run_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
