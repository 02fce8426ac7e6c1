"""The houses of ``src/credit_score`` and what each may import; the installed commands.

import-linter (``[tool.importlinter]`` in pyproject.toml, also run by ``make lint``) checks the package;
the Lambda entry ``app.py`` is a module of its own, so its imports are read here.
"""

from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
import tomllib

import pytest

from tests.support.paths import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LAMBDA_HOUSES = ("credit_score.runtime", "credit_score.contract")


def imported_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_the_lambda_entry_imports_only_runtime_and_contract() -> None:
    ours = {m for m in imported_modules((ROOT / "src" / "app.py").read_text()) if m.startswith("credit_score")}
    assert ours, "app.py should build its service from credit_score.runtime"
    assert all(m.startswith(LAMBDA_HOUSES) for m in ours), sorted(ours)


def test_the_house_contracts_hold() -> None:
    linter = shutil.which("lint-imports", path=str(ROOT / ".venv" / "bin")) or shutil.which("lint-imports")
    if linter is None:
        pytest.fail("lint-imports is not installed: pip install -r requirements-dev.txt")
    result = subprocess.run([linter], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout


def test_runtime_may_not_import_build_monitoring_or_devtools() -> None:
    """The contract that keeps training, drift and the dev server out of the Lambda image is declared."""
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    runtime = [c for c in contracts if "credit_score.runtime" in c["source_modules"]]
    forbidden = {m for c in runtime for m in c["forbidden_modules"]}
    assert {"credit_score.modelling", "credit_score.monitoring", "credit_score.devtools"} <= forbidden


@pytest.mark.parametrize("name", sorted(PYPROJECT["project"]["scripts"]))
def test_each_console_script_names_a_callable(name: str) -> None:
    module_name, _, attribute = PYPROJECT["project"]["scripts"][name].partition(":")
    assert callable(getattr(importlib.import_module(module_name), attribute))


def test_console_scripts_cover_the_commands() -> None:
    assert {
        "credit-score-train",
        "credit-score-evaluate",
        "credit-score-download",
        "credit-score-serve",
        "credit-score-drift",
    } <= set(PYPROJECT["project"]["scripts"])


def test_the_downloader_runs_from_a_checkout_without_installing() -> None:
    """``python model_downloader.py --help`` from another folder, no PYTHONPATH: the design card's entry."""
    env = {"PATH": "/usr/bin:/bin", "MLFLOW_DISABLE_TELEMETRY": "true"}
    result = subprocess.run(
        [sys.executable, "-I", str(ROOT / "model_downloader.py"), "--help"],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--alias" in result.stdout


def test_no_folder_is_named_like_build_output() -> None:
    """pytest's default ``norecursedirs``, coverage configs and ``.gitignore`` templates skip any ``build/``."""
    assert "norecursedirs" not in PYPROJECT["tool"]["pytest"]["ini_options"], "no workaround should be needed"
    folders = {path.name for top in ("src", "tests") for path in (ROOT / top).rglob("*") if path.is_dir()}
    assert {"modelling", "training", "runtime", "contract"} <= folders
    assert not folders & {"build", "dist"}, "a package or test folder named like build output gets skipped by tools"
