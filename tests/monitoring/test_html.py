"""The HTML report: self-contained, escaped, one chart per comparison, and rendered by a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from credit_score.monitoring.cli import main
from credit_score.monitoring.html import CLASS_COLOURS, COLOURS, REFERENCE_COLOUR, render
from tests.monitoring.conftest import window

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def shifted_report(captures, tmp_path_factory) -> tuple[dict, Path]:
    folder = tmp_path_factory.mktemp("drift-report")
    main(
        ["--capture", str(captures.shifted), "--bundle", str(captures.bundle), *window(),
         "--json", str(folder / "report.json"), "--html", str(folder / "report.html")]
    )  # fmt: skip
    return json.loads((folder / "report.json").read_text()), folder / "report.html"


def test_given_a_report_when_rendered_then_nothing_is_fetched_from_elsewhere(shifted_report):
    _, path = shifted_report
    page = path.read_text()

    assert page.startswith("<!DOCTYPE html>")
    for outside in ("http:", "https:", "//", "<script", "<link", "<img", "@import", "url(", "src="):
        assert outside not in page.replace("</", ""), outside


def test_given_a_report_when_rendered_then_one_panel_per_comparison_and_threshold_lines(shifted_report):
    document, path = shifted_report
    page = path.read_text()

    panels = re.findall(r'<div class="panel"><h3>([A-Za-z_()]+) ', page)
    assert panels == [f["name"] for f in document["features"]] + ["prediction", "P(Poor)", "P(Good)"]
    assert page.count("<svg") == len(panels) + 3  # PSI chart, PSI per day and prediction mix
    for feature in document["features"]:  # one row of the per-day chart each, one cell per day
        for day, value in document["trend"]["psi_by_day"][feature["name"]].items():
            assert f"<title>{feature['name']} {day}: PSI {value:.3f}</title>" in page
    assert "warn 0.1</text>" in page
    assert "alert 0.25</text>" in page
    comparisons = [*document["features"], document["prediction_mix"], *document["probability_drift"]["classes"]]
    alerts = {entry["name"] for entry in comparisons if entry["verdict"] == "alert"}
    assert alerts >= {"Annual_Income", "Num_of_Delayed_Payment", "Credit_Mix", "prediction"}
    assert page.count(f'fill="{COLOURS["alert"]}"><title>') == len(alerts)  # one red bar each


def test_given_text_with_markup_when_rendered_then_escaped(shifted_report):
    document, _ = shifted_report
    hostile = json.loads(json.dumps(document))
    hostile["capture"] = "<script>alert(1)</script>"

    page = render(hostile)

    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_given_a_feature_without_reference_values_when_rendered_then_said_instead_of_a_chart(shifted_report):
    document, _ = shifted_report
    changed = json.loads(json.dumps(document))
    changed["features"][0].update(bins=[], psi=None, verdict="insufficient_data")

    page = render(changed)

    panels = len(changed["features"]) + 1 + len(changed["probability_drift"]["classes"])
    assert page.count("<svg") == panels - 1 + 3  # one chart fewer than panels, plus three
    assert "no reference values" in page


def distinct_colours(png: Path) -> set[tuple[int, int, int]]:
    image = pytest.importorskip("PIL.Image").open(png).convert("RGB")
    return {colour for _, colour in image.getcolors(maxcolors=1 << 24)}


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
def test_given_the_report_when_opened_in_headless_chromium_then_the_charts_are_drawn(shifted_report, tmp_path_factory):
    _, path = shifted_report
    screenshot = tmp_path_factory.mktemp("drift-screenshot") / "drift-report.png"

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--screenshot={screenshot}", "--window-size=1200,3000", path.as_uri()],
            capture_output=True, timeout=90, check=True,
        )  # fmt: skip

    colours = distinct_colours(screenshot)
    expected = {COLOURS["alert"], COLOURS["none"], REFERENCE_COLOUR, *CLASS_COLOURS.values()}
    rgb = {tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5)) for colour in expected}
    assert rgb <= colours, f"screenshot kept at {screenshot}"
    assert len(colours) > 50  # text anti-aliasing, bars, badges: a drawn page, not a blank one


def test_given_estimates_and_outcomes_when_rendered_then_both_show_with_intervals(shifted_report):
    document, _ = shifted_report
    estimate = next(iter(document["performance"]["estimated"].values()))
    document = json.loads(json.dumps(document))
    realised = {"n": 40, "macro_f1": 0.61, "auc": 0.8, "accuracy": 0.7, "ci95": {"macro_f1": [0.5, 0.7]}, "ece": 0.02}
    document["performance"]["realized"] = {"3": {**realised, "by_month": {}}}
    document["performance"]["outcomes"] = {"rows": 41, "matched": 40, "unmatched": 1}

    page = render(document)

    assert f"<td>{estimate['macro_f1']:.3f}</td>" in page
    assert "<td>0.610 [0.500, 0.700]</td>" in page
    assert "unmatched 1" in page


def test_given_a_challenger_section_when_rendered_then_flips_bands_shift_and_realised_show(shifted_report):
    document, _ = shifted_report
    assert "no captured record carries a challenger" in render(document)
    labels = ("Poor", "Standard", "Good")
    table = {row: {column: 10 * (i + 1) + j for j, column in enumerate(labels)} for i, row in enumerate(labels)}
    band = {"n": 30, "flips": 7, "rate": 7 / 30, "to_better": 4, "to_worse": 3}
    shift = {"mean": 0.0123, "mean_abs": 0.02, "max_abs": 0.31}
    realized = {"n": 25, "champion": {"macro_f1": 0.61, "auc": 0.8}, "challenger": {"macro_f1": 0.64, "auc": 0.81}}
    document = {
        **document,
        "challenger": {
            "n": 90,
            "flips": {"table": table, "n": 90, "flips": 9, "rate": 0.1, "to_better": 5, "to_worse": 4,
                      "by_age_band": {"25-44": band}},
            "probability_shift": dict.fromkeys(labels, shift),
            "realized": realized,
        },
    }  # fmt: skip

    page = render(document)

    assert "9 of 90 decisions would flip" in page
    assert "<th>Standard</th><td>20</td><td>21</td><td>22</td>" in page
    assert "<td>25-44</td><td>30</td><td>7</td>" in page
    assert "<td>0.0123</td>" in page
    assert "on the same 25 labelled decisions" in page
    assert "<td>challenger</td><td>0.640</td><td>0.810</td>" in page


def test_given_refusals_by_field_when_rendered_then_a_row_per_field_with_each_days_count(shifted_report):
    document, _ = shifted_report
    day = {"requests": 9, "refused": 3, "refused_share": 1 / 3, "problems": {"missing": 3}}
    refusals = {
        "by_day": {
            "2025-05-01": {**day, "fields": {"Age": 2, "_other": 1}},
            "2025-05-02": {**day, "fields": {"Age": 1}},
        },
        "fields": {"Age": 3, "_other": 1},
    }
    page = render({**document, "data_quality": {**document["data_quality"], "refusals": refusals}})

    assert "<h3>Problems per field</h3>" in page
    assert "<tr><td>Age</td><td>3</td><td>2</td><td>1</td></tr>" in page
    assert "<tr><td>_other</td><td>1</td><td>1</td><td>0</td></tr>" in page
