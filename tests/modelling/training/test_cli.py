from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from credit_score.modelling.registry import Registry
from credit_score.modelling.training import synthetic
from credit_score.modelling.training.cli import main
from tests.support.paths import ROOT

REPO = ROOT


def versions_of(registry: Registry, name: str) -> list[str]:
    client = MlflowClient(registry.tracking_uri, registry.tracking_uri)
    return sorted(str(version.version) for version in client.search_model_versions(f"name = '{name}'"))


def test_given_synthetic_rows_when_training_twice_with_skip_then_second_run_trains_nothing(
    local_registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    first = main(["train", "--synthetic", "1500", "--model-name", "cli-test"])
    first_output = capsys.readouterr().out
    second = main(["train", "--synthetic", "1500", "--model-name", "cli-test", "--skip-if-registered"])

    assert first == second == 0
    assert "decision: version 1 is the first champion" in first_output
    assert "macro_f1" in first_output
    assert "skipping training" in capsys.readouterr().out
    assert versions_of(local_registry, "cli-test") == ["1"]


def test_given_champion_when_training_again_then_gate_decides_and_force_overrides(
    local_registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "raw.csv"
    synthetic.generate(1500, seed=4).to_csv(data, index=False)
    common = ["train", "--data", str(data), "--model-name", "cli-gate", "--eval-fraction", "0.25", "--seed", "3"]

    assert main(common) == 0
    assert main(common) == 0
    kept = capsys.readouterr().out
    assert main([*common, "--force-champion"]) == 0

    assert "champion version 1 kept" in kept  # identical data and seed: equal, so not better
    assert "(forced)" in capsys.readouterr().out
    client = MlflowClient(local_registry.tracking_uri, local_registry.tracking_uri)
    assert str(client.get_registered_model("cli-gate").aliases["champion"]) == "3"
    run = client.get_run(client.get_model_version("cli-gate", "3").run_id)
    assert run.data.params["eval_fraction"] == "0.25"
    assert run.data.params["data"] == "raw.csv"


def test_given_unreadable_data_when_training_then_exit_2_with_reason(
    local_registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")

    assert main(["train", "--data", str(tmp_path / "bad.csv")]) == 2
    assert "lacks the columns" in capsys.readouterr().err


def test_given_zero_synthetic_rows_when_training_then_exit_2_without_touching_the_registry(
    local_registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--synthetic", "0", "--model-name", "cli-zero"]) == 2
    assert "positive" in capsys.readouterr().err
    assert versions_of(local_registry, "cli-zero") == []


def test_given_data_and_synthetic_together_when_parsing_then_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["train", "--data", "x.csv", "--synthetic", "10"])

    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_given_real_schema_csv_when_regenerating_figures_then_profile_file_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "raw.csv"
    synthetic.generate(800, seed=9).to_csv(data, index=False)

    code = main(["synthetic-profile", "--data", str(data), "--output", str(tmp_path / "figures.json")])

    assert code == 0
    written = synthetic.load_profile(tmp_path / "figures.json")
    assert written["source_rows"] == 800
    assert str(tmp_path / "figures.json") in capsys.readouterr().out


def test_given_module_entry_point_when_asking_for_help_then_lists_the_three_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "credit_score.modelling.training", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": ""},
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    for command in ("train", "evaluate", "synthetic-profile"):
        assert command in result.stdout
