"""The drift job end to end: populations through the real handler, then ``python -m credit_score.monitoring``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from credit_score.monitoring.cli import EXIT_ERROR, main
from tests.monitoring.conftest import POPULATION, SHIFTED, Captures, shift, window
from tests.support.drift_bundles import population, predict_through_handler
from tests.support.paths import ROOT


def run(capture: Path, bundle: Path, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    report = tmp_path / "report.json"
    code = main(["--capture", str(capture), "--bundle", str(bundle), "--json", str(report), *window(), *extra])
    return code, json.loads(report.read_text()) if report.exists() else {}


def flagged(document: dict) -> dict[str, str]:
    return {f["name"]: f["verdict"] for f in document["features"] if f["verdict"] != "none"}


def test_given_a_shifted_population_when_reported_then_exactly_the_shifted_features_alert(captures: Captures, tmp_path):
    code, document = run(captures.shifted, captures.bundle, tmp_path)

    assert code == 2
    assert document["verdict"] == "alert"
    assert set(flagged(document)) == SHIFTED
    assert set(flagged(document).values()) == {"alert"}
    assert document["prediction_mix"]["verdict"] in {"warn", "alert"}  # more Bad credit mixes: more Poor
    assert document["counts"]["compared"] == POPULATION
    assert sum(sum(day.values()) for day in document["prediction_mix"]["by_day"].values()) == POPULATION
    credit_mix = next(f for f in document["features"] if f["name"] == "Credit_Mix")
    assert credit_mix["p_value"] < 1e-6


def test_given_the_training_distribution_when_reported_then_no_feature_is_flagged(captures: Captures, tmp_path):
    code, document = run(captures.plain, captures.bundle, tmp_path)

    assert code == 0
    assert document["verdict"] == "none"
    assert flagged(document) == {}
    assert document["prediction_mix"]["verdict"] == "none"
    assert max(f["psi"] for f in document["features"]) < document["thresholds"]["warn"] / 2
    assert document["versions"] == {"3": POPULATION}
    probabilities = document["probability_drift"]
    assert probabilities["reference"] is True
    assert [(p["name"], p["verdict"]) for p in probabilities["classes"]] == [("P(Poor)", "none"), ("P(Good)", "none")]
    assert set(document["trend"]["probability_psi_by_day"]) == {"Poor", "Good"}


def test_given_an_older_profile_without_probability_bins_when_reported_then_said_and_not_compared(
    captures: Captures, tmp_path
):
    metadata = json.loads((captures.bundle / "metadata.json").read_text())
    del metadata["reference_profile"]["probabilities"]
    (tmp_path / "older.json").write_text(json.dumps(metadata))
    report, out = tmp_path / "report.json", io.StringIO()

    with contextlib.redirect_stdout(out):
        code = main(["--capture", str(captures.plain), "--reference", str(tmp_path / "older.json"),
                     "--json", str(report), *window()])  # fmt: skip

    document = json.loads(report.read_text())
    assert code == 0
    assert document["probability_drift"] == {"reference": False, "classes": []}
    assert document["trend"]["probability_psi_by_day"] == {}
    assert "no reference bins in this profile" in out.getvalue()


def test_given_low_thresholds_when_reported_then_warn_and_exit_one(captures: Captures, tmp_path):
    code, document = run(captures.plain, captures.bundle, tmp_path, "--warn", "0.0001", "--alert", "50")

    assert code == 1
    assert {f["verdict"] for f in document["features"]} == {"warn"}
    assert document["thresholds"]["warn"] == 0.0001


def test_given_fewer_values_than_the_minimum_when_reported_then_only_confirmed_shifts_count(captures, tmp_path):
    code, document = run(captures.plain, captures.bundle, tmp_path, "--min-rows", str(POPULATION + 1))

    assert code == 3
    assert document["verdict"] == "insufficient_data"
    assert {f["verdict"] for f in document["features"]} == {"insufficient_data"}

    code, document = run(captures.shifted, captures.bundle, tmp_path, "--min-rows", str(POPULATION + 1))

    assert code == 2  # material and significant: a small sample is no excuse
    assert {f["name"] for f in document["features"] if f["verdict"] in {"warn", "alert"}} == SHIFTED
    assert document["thresholds"]["alpha"] == 0.01


def test_given_a_version_without_captures_when_reported_then_nothing_is_read(captures: Captures, tmp_path):
    code, document = run(captures.plain, captures.bundle, tmp_path, "--model-version", "4")

    assert code == 3
    assert document["counts"]["files"] == 0
    assert document["model_filter"]["version"] == "4"


def test_given_the_reference_as_a_file_when_reported_then_same_result_as_the_bundle(captures: Captures, tmp_path):
    metadata = json.loads((captures.bundle / "metadata.json").read_text())
    profile = tmp_path / "reference_profile.json"
    profile.write_text(json.dumps(metadata["reference_profile"]))
    _, from_bundle = run(captures.shifted, captures.bundle, tmp_path)

    for reference in (profile, captures.bundle / "metadata.json"):
        report = tmp_path / "from-file.json"
        code = main(
            ["--capture", str(captures.shifted), "--reference", str(reference), "--json", str(report), *window()]
        )
        from_file = json.loads(report.read_text())
        assert code == 2
        assert from_file["features"] == from_bundle["features"]


def test_given_no_dates_when_reported_then_the_last_seven_days_to_today(captures: Captures, tmp_path):
    report = tmp_path / "report.json"

    code = main(["--capture", str(captures.plain), "--bundle", str(captures.bundle), "--json", str(report)])

    document = json.loads(report.read_text())
    today = datetime.now(UTC).date()
    assert code == 0
    assert document["window"]["until"] == f"{today + timedelta(days=1)}T00:00:00Z"
    assert document["window"]["since"] == f"{today - timedelta(days=6)}T00:00:00Z"


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["--since", "yesterday"],
        ["--since", "2025-05-03", "--until", "2025-05-01"],
        ["--warn", "0.3", "--alert", "0.2"],
        ["--warn", "-1"],
        ["--reference", "x.json", "--bundle", "model"],
        ["--publish-metrics", "statsd"],
    ],
)
def test_given_bad_usage_when_run_then_exit_four_with_one_line(captures: Captures, tmp_path, capsys, arguments):
    base = [] if arguments == [] else ["--capture", str(captures.plain), "--bundle", str(captures.bundle)]

    try:
        code = main([*base, *arguments])
    except SystemExit as exited:  # argparse's own checks
        code = exited.code

    assert code == EXIT_ERROR
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_given_missing_capture_or_tampered_bundle_when_run_then_exit_four(captures: Captures, tmp_path, capsys):
    tampered = tmp_path / "model"
    tampered.mkdir()
    for path in captures.bundle.iterdir():
        (tampered / path.name).write_bytes(path.read_bytes())
    with (tampered / "model.onnx").open("ab") as handle:
        handle.write(b"\0")

    assert main(["--capture", str(tmp_path / "nowhere"), "--bundle", str(captures.bundle)]) == EXIT_ERROR
    assert main(["--capture", str(captures.plain), "--bundle", str(tampered)]) == EXIT_ERROR
    assert "sha256" in capsys.readouterr().err


def test_given_emf_publishing_when_run_then_metric_lines_follow_the_summary(captures: Captures, tmp_path, capsys):
    code, _ = run(captures.shifted, captures.bundle, tmp_path, "--publish-metrics", "emf")

    out = capsys.readouterr().out.splitlines()
    documents = [json.loads(line) for line in out if line.startswith("{")]
    assert code == 2
    assert out[0].startswith("drift ALERT")
    assert {d["feature"] for d in documents if "feature" in d} >= SHIFTED
    assert any(d.get("DriftLevel") == 2 for d in documents)


def test_given_the_module_when_run_as_a_program_then_exit_code_is_the_verdict(captures: Captures, tmp_path):
    html = tmp_path / "report.html"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}

    result = subprocess.run(
        [sys.executable, "-m", "credit_score.monitoring", "--capture", str(captures.shifted),
         "--bundle", str(captures.bundle), "--html", str(html), *window()],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 2, result.stderr
    assert html.read_text().startswith("<!DOCTYPE html>")


def test_given_300_shifted_applicants_when_reported_with_defaults_then_alert_not_insufficient(drift_bundle, tmp_path):
    for name, change in (("plain", None), ("shifted", shift)):
        with contextlib.redirect_stdout(io.StringIO()):
            predict_through_handler(
                population(300, seed=17, shift=change), model_dir=drift_bundle, capture=str(tmp_path / name)
            )

    shifted_code, shifted = run(tmp_path / "shifted", drift_bundle, tmp_path)
    plain_code, plain = run(tmp_path / "plain", drift_bundle, tmp_path)

    assert shifted_code == 2
    assert {f["name"] for f in shifted["features"] if f["verdict"] == "alert"} == SHIFTED
    assert plain_code == 3  # nothing material and confirmed in 300 rows: no verdict either way
    assert {f["verdict"] for f in plain["features"]} == {"insufficient_data"}
