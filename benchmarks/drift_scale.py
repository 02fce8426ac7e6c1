"""Drift job at scale: N files x M captured records on local disk, timed, with the job's peak RSS.

    PYTHONPATH=src:. .venv/bin/python benchmarks/drift_scale.py [--sizes 1x1000,100x1000,1000x1000]
        [--days 7] [--keep DIR]

Records are shaped exactly as the handler captures them (``capture.capture_records``) from real rows
of ``../shared/data/credit-score`` (synthetic demo rows when that file is absent), each with its own
inference id, spread over the hour partitions of ``--days`` days. The reference profile comes from
other rows of the same source. Each size runs ``python -m credit_score.monitoring`` in a fresh process;
peak RSS is that process's ``ru_maxrss``, so a flat RSS across sizes shows the memory is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from credit_score.contract import fields as features  # noqa: E402
from credit_score.contract.capture import object_key  # noqa: E402
from credit_score.contract.profile import reference_profile  # noqa: E402
from credit_score.runtime.capture import capture_records  # noqa: E402
from credit_score.runtime.model import Prediction  # noqa: E402
from credit_score.runtime.payload import validate  # noqa: E402

MODEL, VERSION = "credit-score-classifier", "1"
LABELS = ("Poor", "Standard", "Good")
START = datetime(2025, 5, 1, tzinfo=UTC)


def source_rows(count: int) -> list[dict[str, str]]:
    """Rows that pass the handler's strict validation, as strings."""
    from benchmarks.data import CSV, request_records

    if CSV.is_file():
        return request_records(count)
    from credit_score.modelling.training.synthetic import generate

    frame = generate(count * 2, seed=3)
    rows = []
    for raw in frame.to_dict("records"):
        values = {f.name: features.clean_value(f, raw[f.name]) for f in features.FIELDS}
        if all(v is not None for v in values.values()):
            rows.append({k: str(v) for k, v in values.items()})
    return rows[:count]


def write_reference(rows: list[dict[str, str]], target: Path) -> None:
    parsed = [features.parse_record(row)[0] for row in rows]
    predictions = np.random.default_rng(1).integers(0, 3, len(parsed))
    target.write_text(json.dumps(reference_profile(features.encode_fields(parsed), predictions)))


def templates(rows: list[dict[str, str]]) -> list[str]:
    """Each row's capture record as JSON after its three varying keys (request, inference id, time)."""
    rng = np.random.default_rng(2)
    probabilities = rng.dirichlet([1, 1, 1], size=len(rows)).astype(np.float32)
    records = capture_records(
        validate(rows),
        Prediction(probabilities.argmax(axis=1), probabilities),
        labels=LABELS,
        model_name=MODEL,
        model_version=VERSION,
        request_id="r",
        source="direct",
        when=START,
    )
    tails = []
    for record in records:
        rest = {k: v for k, v in record.items() if k not in ("request_id", "inference_id", "timestamp")}
        tails.append(json.dumps(rest, separators=(",", ":"))[1:])
    return tails


def generate(folder: Path, files: int, per_file: int, days: int, tails: list[str]) -> int:
    """``files`` capture objects spread over the window's hours; returns bytes written."""
    hours = days * 24
    written = 0
    for index in range(files):
        when = START + timedelta(hours=index * hours // files, seconds=index % 3600)
        stamp = when.isoformat().replace("+00:00", "Z")
        request = f"bench-{index:07d}"
        lines = [
            f'{{"request_id":"{request}","inference_id":"{uuid.uuid4()}","timestamp":"{stamp}",'
            f"{tails[(index * per_file + j) % len(tails)]}\n"
            for j in range(per_file)
        ]
        target = folder / object_key(MODEL, VERSION, when, request)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(lines).encode()
        target.write_bytes(data)
        written += len(data)
    return written


def run_job(folder: Path, reference: Path, days: int) -> tuple[float, float, int, dict]:
    """Seconds, peak RSS (MB), exit code and report of one ``python -m credit_score.monitoring`` process."""
    report = folder.parent / "report.json"
    until = (START + timedelta(days=days - 1)).date().isoformat()
    command = [
        sys.executable, "-m", "credit_score.monitoring", "--capture", str(folder), "--reference", str(reference),
        "--since", START.date().isoformat(), "--until", until, "--json", str(report),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode() if process.stderr else ""
    if code == 4:
        raise SystemExit(f"drift job failed: {stderr}")
    return seconds, usage.ru_maxrss / 1024, code, json.loads(report.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1x1000,100x1000,1000x1000", help="FILESxRECORDS, comma separated")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="generate here and keep the files")
    args = parser.parse_args()
    sizes = [tuple(int(n) for n in size.split("x")) for size in args.sizes.split(",")]

    rows = source_rows(6_000)
    half = len(rows) // 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="drift-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    reference = work / "reference_profile.json"
    write_reference(rows[:half], reference)
    tails = templates(rows[half:])
    print(f"{len(rows):,} source rows; reference from {half:,}, capture records cycle through {len(tails):,}")
    print(f"{'records':>10} {'files':>6} {'MB':>7} {'generate s':>10} {'job s':>7} {'records/s':>10} "
          f"{'peak RSS MB':>11} {'verdict':>8}")  # fmt: skip
    try:
        for files, per_file in sizes:
            folder = work / f"capture-{files}x{per_file}"
            shutil.rmtree(folder, ignore_errors=True)
            started = time.perf_counter()
            size = generate(folder, files, per_file, args.days, tails)
            generated = time.perf_counter() - started
            seconds, rss, _, report = run_job(folder, reference, args.days)
            records = report["counts"]["compared"]
            assert records == files * per_file, report["counts"]
            print(
                f"{records:>10,} {files:>6,} {size / 1e6:>7.0f} {generated:>10.1f} {seconds:>7.1f} "
                f"{records / seconds:>10,.0f} {rss:>11.0f} {report['verdict']:>8}"
            )
            if not args.keep:
                shutil.rmtree(folder)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
