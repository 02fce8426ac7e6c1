"""Which layout of the explainer's tables serves best: hash check + load + first explanation, each in a
fresh interpreter, the layouts alternating; then the warm cost of a row, all layouts loaded in this
process and alternating.

    python -m benchmarks.tables_layout [--runs 15]   # -> benchmarks/results/tables_layout.json

Layouts, all from the benchmark bundle's tables (``benchmarks.models``):

* ``npz, pattern tables built at load``: format 1, the pattern tables computed from ``Ψ`` at load;
* ``npz, pattern tables stored`` (what the bundle ships, format 2, read by ``Explainer.load``: each
  array copied out of the archive);
* ``npz + memory-mapped .npy pattern tables``: the small arrays in an ``.npz``, each booster's pattern
  table in its own ``.npy`` opened with ``mmap_mode="r"`` (pages come from the cache the hash check
  filled, without a copy);
* ``npz, pattern tables mapped where the npz stores them``: warm row cost only, to show why the npz's
  own members are not mapped: ``np.savez`` does not align them.
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
from pathlib import Path
from typing import Any

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
print(json.dumps({"ms": (done - imported) * 1e3, "bytes": sum(p.stat().st_size for p in files)}))
"""


def warm_rows(folder: Path, passes: int) -> dict[str, dict[str, float]]:
    """µs a row of ``Explainer.explain`` over 200 real rows for each layout, passes alternating: the best
    pass (the least disturbed by other load) and the median."""
    import zipfile

    import numpy as np

    from credit_score.runtime.explainer import Explainer

    with np.load(folder / "mapped.npz") as stored:
        mapped = {key: stored[key] for key in stored.files}
    unaligned = dict(mapped)
    with zipfile.ZipFile(folder / "stored.npz") as archive:
        for index in (0, 1):
            key = f"b{index}_table"
            mapped[key] = np.load(folder / f"mapped.{key}.npy", mmap_mode="r")
            unaligned[key] = _map_member(folder / "stored.npz", archive, key)
    explainers = {
        "npz, pattern tables built at load": Explainer.load(folder / "built.npz"),
        "npz, pattern tables stored": Explainer.load(folder / "stored.npz"),
        "npz + memory-mapped .npy pattern tables": Explainer(mapped),
        "npz, pattern tables mapped where the npz stores them": Explainer(unaligned),
    }
    rows = np.load(folder / "rows.npy")
    margins = np.arange(len(rows)) % 2
    timings: dict[str, list[float]] = {name: [] for name in explainers}
    for _ in range(passes):
        for name, explainer in explainers.items():
            began = time.perf_counter()
            explainer.explain(rows, margins, with_margin=False)
            timings[name].append((time.perf_counter() - began) / len(rows) * 1e6)
    return {
        name: {"best": round(min(values), 1), "median": round(statistics.median(values), 1)}
        for name, values in timings.items()
    }


def _map_member(path: Path, archive: Any, key: str) -> Any:
    """A stored (uncompressed) ``.npy`` member of an npz, memory-mapped where it lies in the file."""
    import struct

    import numpy as np

    info = archive.getinfo(key + ".npy")
    with path.open("rb") as handle:
        handle.seek(info.header_offset)
        name_length, extra_length = struct.unpack("<26xHH", handle.read(30))
        handle.seek(info.header_offset + 30 + name_length + extra_length)
        np.lib.format.read_magic(handle)
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        offset = handle.tell()
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


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
        rows = warm_rows(folder, 3 * args.runs)
    result = {
        "machine": host(),
        "runs": args.runs,
        "what": "start: hash check + load + first explanation of each margin, fresh interpreter, numpy already "
        "imported; row_us: a warm row, passes over 200 real rows, all layouts in one process, alternating",
        "layouts": {
            name: {
                "start_median_ms": round(statistics.median(s["ms"] for s in values), 1),
                "start_min_ms": round(min(s["ms"] for s in values), 1),
                "bytes": int(values[0]["bytes"]),
            }
            for name, values in samples.items()
        },
        "row_us": rows,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
