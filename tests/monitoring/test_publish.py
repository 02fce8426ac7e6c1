"""Drift metrics: EMF documents CloudWatch would accept, and PutMetricData against moto's server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from credit_score.monitoring.cli import main
from credit_score.monitoring.publish import emf_lines, put_metric_data
from tests.monitoring.conftest import window

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def document(captures, tmp_path_factory) -> dict:
    report = tmp_path_factory.mktemp("drift-publish") / "report.json"
    main(["--capture", str(captures.shifted), "--bundle", str(captures.bundle), "--json", str(report), *window()])
    return json.loads(report.read_text())


def comparisons(document: dict) -> list[dict]:
    return [*document["features"], document["prediction_mix"], *document["probability_drift"]["classes"]]


def test_given_a_report_when_emf_then_each_document_declares_metrics_it_carries(document):
    documents = [json.loads(line) for line in emf_lines(document, namespace="Drift", timestamp=NOW)]

    for emf in documents:
        directive = emf["_aws"]
        assert directive["Timestamp"] == int(NOW.timestamp() * 1000)
        (declaration,) = directive["CloudWatchMetrics"]
        assert declaration["Namespace"] == "Drift"
        for dimension in declaration["Dimensions"][0]:
            assert isinstance(emf[dimension], str)
        for metric in declaration["Metrics"]:
            assert isinstance(emf[metric["Name"]], float)
    by_feature = {emf["feature"]: emf for emf in documents if "feature" in emf}
    expected = {c["name"]: c["psi"] for c in comparisons(document)}
    if document["reason_mix"]["verdict"].get("psi") is not None:
        expected["reason_mix"] = document["reason_mix"]["verdict"]["psi"]
    assert {"P(Poor)", "P(Good)"} <= set(expected)
    assert {name: emf["DriftPSI"] for name, emf in by_feature.items()} == expected
    totals = next(emf for emf in documents if "DriftRecords" in emf)
    assert totals["DriftLevel"] == 2.0
    assert totals["DriftRecords"] == document["counts"]["compared"]
    assert {emf["model_version"] for emf in documents} == {"3"}


def test_given_insufficient_data_when_emf_then_no_drift_level_but_the_record_count(document):
    thin = json.loads(json.dumps(document))
    thin["verdict"] = "insufficient_data"

    documents = [json.loads(line) for line in emf_lines(thin, timestamp=NOW)]

    assert not any("DriftLevel" in emf for emf in documents)
    assert any("DriftRecords" in emf for emf in documents)


def test_given_a_report_when_put_to_cloudwatch_then_every_feature_psi_is_stored(document, aws):
    sent = put_metric_data(document, namespace="CreditScore/Test", timestamp=NOW)

    cloudwatch = boto3.client("cloudwatch")
    listed = cloudwatch.list_metrics(Namespace="CreditScore/Test", MetricName="DriftPSI")["Metrics"]
    features = {d["Value"] for m in listed for d in m["Dimensions"] if d["Name"] == "feature"}
    assert features - {"reason_mix"} == {c["name"] for c in comparisons(document)}
    income = next(c for c in comparisons(document) if c["name"] == "Annual_Income")
    stats = cloudwatch.get_metric_statistics(
        Namespace="CreditScore/Test",
        MetricName="DriftPSI",
        Dimensions=[
            {"Name": "model", "Value": "credit-score-classifier"},
            {"Name": "model_version", "Value": "3"},
            {"Name": "feature", "Value": "Annual_Income"},
        ],
        StartTime=NOW - timedelta(minutes=5),
        EndTime=NOW + timedelta(minutes=5),
        Period=60,
        Statistics=["Maximum"],
    )
    assert [point["Maximum"] for point in stats["Datapoints"]] == [pytest.approx(income["psi"])]
    unknown_buckets = sum(f["unknown_share"] is not None for f in document["features"])
    assert unknown_buckets == 3
    reason_psi = document["reason_mix"]["verdict"].get("psi") is not None
    estimates = sum(
        figures[key] is not None
        for figures in document["performance"]["estimated"].values()
        for key in ("macro_f1", "auc", "accuracy")
    )
    outcomes = len(document["fairness"]["air"])
    assert sent == (
        len(comparisons(document)) + len(document["features"]) + unknown_buckets + 2  # + level, records
        + reason_psi + estimates + outcomes
    )  # fmt: skip


def test_given_cloudwatch_publishing_when_run_then_metrics_sent_after_the_report(captures, aws, tmp_path, capsys):
    report = tmp_path / "report.json"

    code = main(
        ["--capture", str(captures.plain), "--bundle", str(captures.bundle), *window(), "--json", str(report),
         "--publish-metrics", "cloudwatch", "--metrics-namespace", "CreditScore/Cli"]
    )  # fmt: skip

    assert code == 0
    assert report.exists()
    assert "published" in capsys.readouterr().out
    levels = boto3.client("cloudwatch").list_metrics(Namespace="CreditScore/Cli", MetricName="DriftLevel")["Metrics"]
    assert len(levels) == 1


def test_given_estimates_and_a_fairness_table_when_emf_then_each_is_a_metric_with_its_own_dimensions(document):
    documents = [json.loads(line) for line in emf_lines(document, timestamp=NOW)]

    estimated = document["performance"]["estimated"]
    assert estimated
    for version, figures in estimated.items():
        (emf,) = [emf for emf in documents if "EstimatedMacroF1" in emf and emf["model_version"] == version]
        assert emf["EstimatedMacroF1"] == figures["macro_f1"]
        assert emf["EstimatedAccuracy"] == figures["accuracy"]
        assert "feature" not in emf
    for outcome, air in document["fairness"]["air"].items():
        (emf,) = [emf for emf in documents if emf.get("outcome") == outcome]
        assert emf["FairnessMinAIR"] == min(ratio for ratio in air["ratios"].values() if ratio is not None)
    assert not any("RealizedMacroF1" in emf for emf in documents)  # no outcomes joined


def test_given_realised_figures_when_publishing_then_they_and_the_labelled_count_are_sent(document):
    labelled = json.loads(json.dumps(document))
    labelled["performance"]["realized"] = {"3": {"macro_f1": 0.58, "auc": 0.74, "accuracy": 0.6, "n": 300}}

    documents = [json.loads(line) for line in emf_lines(labelled, timestamp=NOW)]

    (emf,) = [emf for emf in documents if "RealizedMacroF1" in emf]
    assert (emf["RealizedMacroF1"], emf["RealizedAUC"], emf["RealizedAccuracy"]) == (0.58, 0.74, 0.6)
    assert emf["LabelledDecisions"] == 300.0
    assert emf["model_version"] == "3"
