"""The JSON summary: the same verdicts as the comparison, aggregates only, written whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from credit_score.contract.bundle import load_bundle
from credit_score.monitoring.reader import CaptureReader, LocalStore, Window
from credit_score.monitoring.report import EXIT_CODES, summary, write_json, write_text
from credit_score.monitoring.stats import Counts, Reference, Thresholds, evaluate
from tests.monitoring.conftest import MODEL, dated_records, lines

WHEN = datetime(2025, 5, 2, 10, tzinfo=UTC)
DISTINCT_INCOME = 123457.89


@pytest.fixture
def document(captures, tmp_path):
    """A report over 600 records, one of them with a distinctive income."""
    records = dated_records(600, WHEN, seed=4)
    records[0]["input"]["Annual_Income"] = DISTINCT_INCOME
    folder = tmp_path / f"model={MODEL}/version=3/year=2025/month=05/day=02/hour=10"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_bytes(lines(records))
    window = Window.parse("2025-05-02", "2025-05-02")
    reader = CaptureReader(LocalStore(tmp_path), window)
    counts = Counts(Reference.from_profile(load_bundle(captures.bundle).metadata["reference_profile"]))
    for chunk in reader.chunks():
        counts.add(chunk)
    drift = evaluate(counts, Thresholds())
    built = summary(
        drift,
        window=window,
        scan=reader.counts,
        thresholds=Thresholds(),
        capture=str(tmp_path),
        reference={"source": "bundle", "model": MODEL, "version": "3", "rows": 2400},
        model_filter={"name": None, "version": None},
        generated_at=datetime(2025, 5, 3, tzinfo=UTC),
    )
    return built, drift, records


def test_given_a_comparison_when_summarised_then_every_verdict_and_count_is_carried(document):
    built, drift, _ = document

    assert built["verdict"] == drift.verdict
    assert built["exit_code"] == EXIT_CODES[drift.verdict]
    assert [(f["name"], f["psi"], f["verdict"]) for f in built["features"]] == [
        (f.name, f.psi, f.verdict) for f in drift.features
    ]
    assert built["prediction_mix"]["verdict"] == drift.prediction.verdict
    assert built["prediction_mix"]["by_day"] == {"2025-05-02": drift.by_day["2025-05-02"]}
    assert built["counts"]["compared"] == built["counts"]["records"] == 600
    assert built["window"] == {
        "since": "2025-05-02T00:00:00Z",
        "until": "2025-05-03T00:00:00Z",
        "until_exclusive": True,
    }
    categorical = [f for f in built["features"] if f["kind"] == "categorical"]
    assert all(f["chi2"] is not None and 0 <= f["p_value"] <= 1 for f in categorical)
    assert all(len(f["bins"]) >= 2 for f in built["features"])


def test_given_records_when_summarised_then_no_record_value_or_identifier_is_in_the_report(document):
    built, _, records = document
    text = json.dumps(built)

    assert str(DISTINCT_INCOME) not in text
    assert not any(r["inference_id"] in text or r["request_id"] in text for r in records)
    assert "probabilities" not in text


def test_given_a_document_when_written_then_complete_json_and_no_temporary_file(document, tmp_path):
    built, _, _ = document

    path = write_json(built, tmp_path / "out" / "report.json")

    assert json.loads(path.read_text()) == built
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_given_a_non_finite_number_when_writing_then_refused_and_the_previous_report_stays(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("previous")

    with pytest.raises(ValueError, match="JSON compliant"):
        write_json({"psi": float("nan")}, target)
    write_text("next", tmp_path / "other.txt")

    assert target.read_text() == "previous"  # NaN is not JSON: refused rather than written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt", "report.json"]
