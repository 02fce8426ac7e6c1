"""The shared Kaggle rows (``../shared/data/credit-score``) as the benchmarks use them, and the host they ran on."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from credit_score.contract.fields import FIELDS, clean_value

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT.parent / "shared" / "data" / "credit-score" / "credit_score_august.csv"


def measure_on_shared_csv(run: Callable[[Path], dict[str, Any]], results: Path) -> dict[str, Any] | None:
    """``run`` on ``CREDIT_SCORE_CSV`` or the shared file, its result written to ``results``.

    ``None``, after one line on stderr, when the data is absent.
    """
    path = Path(os.environ.get("CREDIT_SCORE_CSV", CSV))
    if not path.exists():
        print(f"no data at {path}; set CREDIT_SCORE_CSV", file=sys.stderr)
        return None
    result = run(path)
    results.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def csv_digest(path: Path = CSV) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def request_records(count: int, path: Path = CSV) -> list[dict[str, str]]:
    """Real rows that pass strict validation, every value a string, as the API receives them."""
    records: list[dict[str, str]] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            values = {f.name: clean_value(f, row[f.name]) for f in FIELDS}
            if all(value is not None for value in values.values()):
                records.append({name: _text(value) for name, value in values.items()})
                if len(records) == count:
                    break
    return records


def _text(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def host() -> dict[str, Any]:
    """What a result depends on: the processor, the cores, Python, and the load when measured."""
    cpu = platform.processor() or "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average": os.getloadavg()[0],
    }
