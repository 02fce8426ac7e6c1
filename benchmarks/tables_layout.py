"""Which layout of the explainer's tables serves best: hash check + load + first explanation, each in a
fresh interpreter, the layouts alternating; and, in the same interpreter, the warm cost of a row.

    python -m benchmarks.tables_layout [--runs 15]   # -> benchmarks/results/tables_layout.json

Layouts, all from the benchmark bundle's tables (``benchmarks.models``):

* ``npz, pattern tables built at load``: format 1, the pattern tables computed from ``Ψ`` at load;
* ``npz, pattern tables stored`` (what the bundle ships, format 2, read by ``Explainer.load``: each
  array copied out of the archive);
* ``npz + memory-mapped .npy pattern tables``: the small arrays in an ``.npz``, each booster's pattern
  table in its own ``.npy`` opened with ``mmap_mode="r"`` (pages come from the cache the hash check
  filled, without a copy).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.data import ROOT, host, request_records

RESULTS = ROOT / "benchmarks" / "results" / "tables_layout.json"
LAYOUTS = {
    "npz, pattern tables built at load": "built",
    "npz, pattern tables stored": "stored",
    "npz + memory-mapped .npy pattern tables": "mapped",
}

_CHILD = """
import json, os, sys, time
started = time.perf_counter()
from pathlib import Path
import numpy as np
from credit_score.contract.bundle import sha256_file
from credit_score.contract.fields import FEATURE_NAMES
from credit_score.runtime.explainer import Explainer
folder, layout = Path(sys.argv[1]), sys.argv[2]
imported = time.perf_counter()
files = sorted(folder.glob(layout + "*"))
for path in files:
    sha256_file(path)
if layout == "mapped":
    with np.load(folder / "mapped.npz") as stored:
        arrays = {key: stored[key] for key in stored.files}
    for path in files:
        if path.suffix == ".npy":
            arrays[path.stem.split(".", 1)[1]] = np.load(path, mmap_mode="r")
    explainer = Explainer(arrays)
else:
    explainer = Explainer.load(folder / (layout + ".npz"))
row = np.zeros((1, len(FEATURE_NAMES)), np.float32)
explainer.explain(row, np.array([0]))
explainer.explain(row, np.array([1]))
done = time.perf_counter()
rows = np.load(folder / "rows.npy")
best = float("inf")
for _ in range(5):
    began = time.perf_counter()
    explainer.explain(rows, np.arange(len(rows)) % 2, with_margin=False)
    best = min(best, (time.perf_counter() - began) / len(rows))
print(json.dumps({"ms": (done - imported) * 1e3, "bytes": sum(p.stat().st_size for p in files), "row_us": best * 1e6}))
"""


def write_layouts(tables: Path, folder: Path) -> None:
    import numpy as np

    from credit_score.contract.fields import encode, parse_record

    np.save(folder / "rows.npy", encode([parse_record(r)[0] for r in request_records(200)]))
    with np.load(tables) as stored:
        arrays = {key: stored[key] for key in stored.files}
    patterns = {key: arrays.pop(key) for key in list(arrays) if key.endswith("_table")}
    np.savez(folder / "built.npz", **{**arrays, "format_version": np.array(1)})
    np.savez(folder / "stored.npz", **arrays, **patterns)
    np.savez(folder / "mapped.npz", **{key: value for key, value in arrays.items() if not key.endswith("_psi")})
    for key, value in patterns.items():
        np.save(folder / f"mapped.{key}.npy", value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="start-up cost of the explainer tables' layouts")
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per layout")
    args = parser.parse_args(argv)
    from benchmarks import models as model_store

    bundle = model_store.prepare(use_demo_model=False).bundle
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), "OPENBLAS_NUM_THREADS": "1"}
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in LAYOUTS}
    with tempfile.TemporaryDirectory(prefix="tables-layout-") as scratch:
        folder = Path(scratch)
        write_layouts(bundle / "explainer.npz", folder)
        for _ in range(args.runs):
            for name in LAYOUTS:
                done = subprocess.run(
                    [sys.executable, "-c", _CHILD, str(folder), LAYOUTS[name]],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                samples[name].append(json.loads(done.stdout))
    result = {
        "machine": host(),
        "runs": args.runs,
        "what": "start: hash check + load + first explanation of each margin, fresh interpreter, numpy already "
        "imported; row: then the best of 5 passes over 200 real rows, per row",
        "layouts": {
            name: {
                "start_median_ms": round(statistics.median(s["ms"] for s in values), 1),
                "start_min_ms": round(min(s["ms"] for s in values), 1),
                "bytes": int(values[0]["bytes"]),
                "row_us": round(statistics.median(s["row_us"] for s in values), 1),
            }
            for name, values in samples.items()
        },
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
