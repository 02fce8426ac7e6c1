"""EMF documents read back with CloudWatch's rules: names, dimensions, units and values."""

from __future__ import annotations

import io
import json

import pytest
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.metric_properties import MetricUnit

from credit_score.contract.emf import MAX_VALUES
from credit_score.runtime.metrics import Metrics

LABELS = ("Poor", "Standard", "Good")
UNITS = {unit.value for unit in MetricUnit}


def emf_documents(text: str) -> list[dict]:
    """Parse stdout lines and check each against the EMF specification; return the documents."""
    documents = [json.loads(line) for line in text.splitlines() if line.strip()]
    for document in documents:
        metadata = document["_aws"]
        assert isinstance(metadata["Timestamp"], int)
        assert metadata["Timestamp"] > 1_600_000_000_000
        for directive in metadata["CloudWatchMetrics"]:
            assert 1 <= len(directive["Namespace"]) <= 255
            assert len(directive["Metrics"]) <= 100
            for dimension_set in directive["Dimensions"]:
                assert len(dimension_set) <= 30
                for name in dimension_set:
                    assert isinstance(document[name], str)
                    assert document[name]
            for metric in directive["Metrics"]:
                assert metric["Unit"] in UNITS
                value = document[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                assert 1 <= len(values) <= MAX_VALUES
                assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return documents


def metric_names(document: dict) -> set[str]:
    return {m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}


def dimensions_of(document: dict, metric: str) -> list[list[str]]:
    for directive in document["_aws"]["CloudWatchMetrics"]:
        if any(m["Name"] == metric for m in directive["Metrics"]):
            return directive["Dimensions"]
    raise AssertionError(f"{metric} not declared")


def make(stream, **kwargs) -> Metrics:
    return Metrics(
        namespace="CreditScore", service="credit-score", stream=stream, clock=lambda: 1_700_000_000.5, **kwargs
    )


def test_given_one_prediction_when_emitted_then_one_document_with_everything():
    stream = io.StringIO()
    make(stream).predictions(version="7", labels=LABELS, codes=[2], latency_ms=0.04321)
    [document] = emf_documents(stream.getvalue())
    assert document["_aws"]["Timestamp"] == 1_700_000_000_500
    assert (document["service"], document["model_version"], document["label"]) == ("credit-score", "7", "Good")
    assert document["Predictions"] == 1
    assert document["BatchSize"] == 1
    assert document["Latency"] == 0.043
    assert dimensions_of(document, "Predictions") == [
        ["service", "model_version"],
        ["service", "model_version", "label"],
    ]
    assert dimensions_of(document, "Latency") == [["service", "model_version"]]
    assert metric_names(document) == {"Latency", "BatchSize", "Predictions"}
    assert set(document) == {"_aws", "service", "model_version", "label", "Latency", "BatchSize", "Predictions"}


def test_given_batch_of_three_labels_when_emitted_then_predictions_counted_per_label():
    stream = io.StringIO()
    codes = [0, 1, 1, 2, 1, 0]
    make(stream).predictions(version="7", labels=LABELS, codes=codes, latency_ms=1.0)
    documents = emf_documents(stream.getvalue())
    assert len(documents) == 3
    counts = {d["label"]: d["Predictions"] for d in documents}
    assert counts == {"Poor": 2, "Standard": 3, "Good": 1}
    assert documents[0]["BatchSize"] == 6
    assert metric_names(documents[0]) == {"Latency", "BatchSize", "Predictions"}
    assert all(metric_names(d) == {"Predictions"} for d in documents[1:])


def test_given_large_batch_when_emitted_then_counts_only_no_input_values():
    stream = io.StringIO()
    make(stream).predictions(version="7", labels=LABELS, codes=[1] * 1000, latency_ms=9.0)
    [document] = emf_documents(stream.getvalue())
    assert (document["BatchSize"], document["Predictions"]) == (1000, 1000)
    assert not any(isinstance(value, list) for value in document.values()), "no per-record values"
    assert not any(key.startswith("Input.") for key in document)


def test_given_capture_enabled_when_emitted_then_capture_failures_reported():
    stream = io.StringIO()
    make(stream, capture_enabled=True).predictions(
        version="7", labels=LABELS, codes=[0], latency_ms=1.0, capture_failures=2
    )
    [document] = emf_documents(stream.getvalue())
    assert document["CaptureFailures"] == 2
    assert dimensions_of(document, "CaptureFailures") == [["service", "model_version"]]


def test_given_rejection_when_emitted_then_one_document_per_problem_kind():
    stream = io.StringIO()
    make(stream).rejection(version="7", problems={"missing": 3, "unknown_category": 1})
    documents = emf_documents(stream.getvalue())
    assert [(d["problem"], d["ValidationErrors"]) for d in documents] == [("missing", 3), ("unknown_category", 1)]
    assert dimensions_of(documents[0], "ValidationErrors") == [["service", "model_version", "problem"]]


@pytest.mark.parametrize(("call", "metric"), [("cold_start", "ColdStart"), ("internal_error", "InternalErrors")])
def test_given_container_events_when_emitted_then_counted_by_service(call, metric):
    stream = io.StringIO()
    getattr(make(stream), call)()
    [document] = emf_documents(stream.getvalue())
    assert document[metric] == 1
    assert dimensions_of(document, metric) == [["service"]]


def test_given_metrics_disabled_when_anything_happens_then_silence():
    stream = io.StringIO()
    metrics = make(stream, enabled=False)
    metrics.cold_start()
    metrics.internal_error()
    metrics.rejection(version="7", problems={"missing": 1})
    metrics.predictions(version="7", labels=LABELS, codes=[1], latency_ms=1.0)
    assert stream.getvalue() == ""


def test_given_namespace_with_format_characters_when_emitted_then_still_valid_json():
    stream = io.StringIO()
    Metrics(namespace='Credit%d"Score', service="svc", stream=stream).cold_start()
    [document] = emf_documents(stream.getvalue())
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == 'Credit%d"Score'


def test_given_awkward_version_and_service_names_when_one_prediction_emitted_then_valid_emf():
    stream = io.StringIO()
    metrics = Metrics(namespace="N%s", service='svc "%d"', stream=stream, capture_enabled=True)
    for version in ('7"%s', "8"):
        metrics.predictions(version=version, labels=LABELS, codes=[1], latency_ms=2.5, capture_failures=1)
    documents = emf_documents(stream.getvalue())
    assert [(d["model_version"], d["service"], d["label"]) for d in documents] == [
        ('7"%s', 'svc "%d"', "Standard"),
        ("8", 'svc "%d"', "Standard"),
    ]
    assert documents[0]["CaptureFailures"] == 1
    assert documents[0]["Latency"] == 2.5
