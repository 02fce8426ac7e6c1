"""The capture contract: record fields, the key layout and its Athena template, capture locations."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from credit_score.contract import capture

WHEN = datetime(2026, 3, 7, 9, 5, 1, 123456, tzinfo=UTC)


def test_object_key_is_the_hive_layout_the_athena_template_projects() -> None:
    key = capture.object_key("credit-score", "7", WHEN, "0b5e6a7c")
    assert key == "model=credit-score/version=7/year=2026/month=03/day=07/hour=09/20260307T090501123456Z-0b5e6a7c.jsonl"
    template = capture.projection_template("s3://bucket/capture/")
    pattern = re.escape(template).replace(r"\$\{", "(?P<").replace(r"\}", ">[^/]+)")
    match = re.match(pattern.replace("(?P<", "(?P<p_"), "s3://bucket/capture/" + key)
    assert match is not None
    assert [match.group(f"p_{name}") for name in capture.PARTITIONS] == ["credit-score", "7", "2026", "03", "07", "09"]


def test_record_fields_in_contract_order() -> None:
    record = capture.capture_record(
        request_id="r",
        inference_id="i",
        timestamp="t",
        model_name="m",
        model_version="1",
        source="direct",
        inputs={},
        prediction=0,
        label="Poor",
        probabilities={},
    )
    assert tuple(record) == capture.RECORD_FIELDS


def test_a_fallback_line_carries_its_record() -> None:
    record = {"input": {}, "prediction": 1}
    assert capture.record_of({"message": capture.FALLBACK_MESSAGE, capture.FALLBACK_RECORD: record}) is record
    assert capture.record_of(record) is record


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/some/prefix/", capture.Location("s3", bucket="bucket", prefix="some/prefix")),
        ("s3://bucket", capture.Location("s3", bucket="bucket")),
        ("firehose://stream-1", capture.Location("firehose", stream="stream-1")),
        ("file:///tmp/capture", capture.Location("file", folder=Path("/tmp/capture"))),
        ("capture", capture.Location("file", folder=Path("capture"))),
    ],
)
def test_locations(uri: str, expected: capture.Location) -> None:
    assert capture.parse_location(uri) == expected


@pytest.mark.parametrize("uri", ["s3://", "s3:///prefix", "firehose://", "firehose://a/b", "gs://bucket/x"])
def test_bad_locations_say_the_expected_form(uri: str) -> None:
    with pytest.raises(ValueError, match="must"):
        capture.parse_location(uri)
