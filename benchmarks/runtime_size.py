"""Installed size of a requirement set, the way the Lambda image gets it.

Lambda counts what the image carries, and a smaller dependency set means a faster cold start
and fewer packages to patch. This installs each set into an empty folder with
``pip install --target`` for the Lambda platform (CPython 3.12, wheels for glibc <= 2.34, the
Amazon Linux 2023 of the python:3.12 base image; binary wheels only) and reports the size on
disk per distribution, next to the 250 MiB budget. The old system's set is measured the same
way for comparison.

    python benchmarks/runtime_size.py [--set runtime|old-system|all] [--arch x86_64|aarch64]
        [--native] [--output benchmarks/results/runtime_size.json]

``--native`` installs for the running interpreter instead (when a set has no wheel for the
target platform). pip's cache is used, so a second run costs no downloads.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MIB = 250.0
MIB = 1024 * 1024
PYTHON_VERSION = "3.12"
GLIBC_MINOR_MAX = 34  # Amazon Linux 2023
GLIBC_MINOR_MIN = 17  # manylinux2014

REQUIREMENT_SETS: dict[str, list[str]] = {
    "runtime": ["-r", str(ROOT / "requirements.txt")],
    # The previous service installed its training stack into the function.
    "old-system": [
        "mlflow==2.22.0",
        "xgboost==3.0.0",
        "scikit-learn==1.6.1",
        "boto3==1.44.8",
        "pytest==8.3.5",
        "pylint==3.3.7",
    ],
}


@dataclass
class SetSize:
    name: str
    requirements: list[str]
    ok: bool
    bytes: int = 0
    distributions: int = 0
    largest: list[dict[str, object]] = field(default_factory=list)
    error: str = ""

    @property
    def mib(self) -> float:
        return self.bytes / MIB


def platform_tags(arch: str) -> list[str]:
    """Every manylinux tag a glibc-2.34 machine accepts; pip does not expand them itself."""
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR_MAX, GLIBC_MINOR_MIN - 1, -1)]
    return [*tags, f"manylinux2014_{arch}"]


def pip_command(requirements: list[str], target: Path, *, arch: str, native: bool) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    command += ["--target", str(target)]
    if not native:
        command += ["--python-version", PYTHON_VERSION, "--implementation", "cp", "--only-binary=:all:"]
        for tag in platform_tags(arch):
            command += ["--platform", tag]
    return command + requirements


def disk_bytes(path: Path) -> int:
    return path.stat().st_size


def distribution_sizes(target: Path) -> dict[str, int]:
    """Bytes per installed distribution, from each ``*.dist-info/RECORD``; the rest is 'unrecorded'."""
    sizes: dict[str, int] = {}
    counted: set[Path] = set()
    for record in sorted(target.glob("*.dist-info/RECORD")):
        name = record.parent.name.split("-")[0]
        total = 0
        with record.open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if not row:
                    continue
                file_path = (target / row[0]).resolve()
                if file_path in counted or not file_path.is_file():
                    continue
                counted.add(file_path)
                total += disk_bytes(file_path)
        sizes[name] = total
    unrecorded = sum(disk_bytes(p) for p in target.rglob("*") if p.is_file() and p.resolve() not in counted)
    if unrecorded:
        sizes["(unrecorded)"] = unrecorded
    return sizes


def measure(name: str, requirements: list[str], workdir: Path, *, arch: str, native: bool) -> SetSize:
    target = workdir / name
    target.mkdir(parents=True)
    command = pip_command(requirements, target, arch=arch, native=native)
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    shown = [_display(item) for item in requirements]
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-5:])
        return SetSize(name, shown, ok=False, error=tail)
    sizes = distribution_sizes(target)
    largest = sorted(sizes.items(), key=lambda item: item[1], reverse=True)
    return SetSize(
        name,
        shown,
        ok=True,
        bytes=sum(sizes.values()),
        distributions=sum(1 for key in sizes if key != "(unrecorded)"),
        largest=[{"distribution": key, "mib": round(value / MIB, 1)} for key, value in largest[:8]],
    )


def _display(requirement: str) -> str:
    path = Path(requirement)
    return str(path.relative_to(ROOT)) if path.is_absolute() and path.is_relative_to(ROOT) else requirement


def table(results: list[SetSize]) -> str:
    lines = [
        f"| set | distributions | installed MiB | within {BUDGET_MIB:.0f} MiB | largest |",
        "|---|---:|---:|---|---|",
    ]
    for result in results:
        if not result.ok:
            lines.append(f"| {result.name} | - | - | install failed | {result.error.splitlines()[-1:]} |")
            continue
        largest = ", ".join(f"{item['distribution']} {item['mib']}" for item in result.largest[:5])
        within = "yes" if result.mib <= BUDGET_MIB else "NO"
        lines.append(f"| {result.name} | {result.distributions} | {result.mib:.1f} | {within} | {largest} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=[*REQUIREMENT_SETS, "all"], default="all")
    parser.add_argument("--arch", choices=["x86_64", "aarch64"], default="x86_64")
    parser.add_argument("--native", action="store_true", help="install for this interpreter, not for Lambda")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "runtime_size.json")
    args = parser.parse_args(argv)

    names = list(REQUIREMENT_SETS) if args.set == "all" else [args.set]
    with tempfile.TemporaryDirectory(prefix="runtime-size-") as workdir:
        results = [
            measure(name, REQUIREMENT_SETS[name], Path(workdir), arch=args.arch, native=args.native) for name in names
        ]
    report = {
        "target": {
            "python": platform.python_version() if args.native else PYTHON_VERSION,
            "platform": platform.machine() if args.native else f"manylinux glibc<=2.{GLIBC_MINOR_MAX} {args.arch}",
            "pip": subprocess.run(
                [sys.executable, "-m", "pip", "--version"], capture_output=True, text=True, check=False
            ).stdout.split(" from ")[0],
        },
        "budget_mib": BUDGET_MIB,
        "sets": [{**asdict(result), "mib": round(result.mib, 1)} for result in results],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print(f"\nwritten: {args.output}")
    runtime = next((result for result in results if result.name == "runtime"), None)
    if runtime is not None and (not runtime.ok or runtime.mib > BUDGET_MIB):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
