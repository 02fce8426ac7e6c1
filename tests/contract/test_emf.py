"""The one EMF writer: documents CloudWatch can read, with the directive serialised once."""

from __future__ import annotations

import json

from credit_score.contract import emf


def test_line_is_one_emf_document() -> None:
    fixed = emf.head([emf.directive("NS", [["service", "model_version"]], [("Latency", emf.MILLISECONDS)])])
    text = emf.line(1_700_000_000_123, fixed, {"service": "s", "model_version": "3", "Latency": 1.5})
    assert text.endswith("\n")
    assert text.count("\n") == 1
    document = json.loads(text)
    assert document["_aws"] == {
        "Timestamp": 1_700_000_000_123,
        "CloudWatchMetrics": [
            {
                "Namespace": "NS",
                "Dimensions": [["service", "model_version"]],
                "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}],
            }
        ],
    }
    assert {key: document[key] for key in ("service", "model_version", "Latency")} == {
        "service": "s",
        "model_version": "3",
        "Latency": 1.5,
    }
