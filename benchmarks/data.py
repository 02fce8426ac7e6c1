"""The shared Kaggle rows (``../shared/data/credit-score``) as the benchmarks use them, and the host they ran on."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from credit_score.contract.fields import FIELDS, clean_value

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT.parent / "shared" / "data" / "credit-score" / "credit_score_august.csv"


def shared_csv() -> Path | None:
    """``CREDIT_SCORE_CSV`` or the shared file; ``None``, after one line on stderr, when it is absent."""
    path = Path(os.environ.get("CREDIT_SCORE_CSV", CSV))
    if path.exists():
        return path
    print(f"no data at {path}; set CREDIT_SCORE_CSV", file=sys.stderr)
    return None


def write_result(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


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
