"""Outcomes files (CSV, JSON Lines, gzip, moto S3) and their join to captured decisions: nothing dropped silently."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from credit_score.monitoring.outcomes import Joined, OutcomesError, read_outcomes
from tests.monitoring.conftest import dated_records


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_given_csv_with_labels_and_codes_when_read_then_every_row_is_kept_or_counted(tmp_path) -> None:
    uri = write(
        tmp_path / "outcomes.csv",
        "request_id,Credit_Score\nr1,Poor\nr2,2\nr3, Standard \nr1,Poor\nr4,Excellent\n,Good\nr5,1\nr5,2\n",
    )

    outcomes = read_outcomes(uri)

    assert outcomes.labels[("request", "r1", 0)] == 0
    assert outcomes.labels[("request", "r2", 0)] == 2
    assert outcomes.labels[("request", "r3", 0)] == 1
    assert outcomes.counts() == {"rows": 8, "malformed": 2, "duplicates": 1, "conflicting": 1}
    assert outcomes.labels[("request", "r5", 0)] == -1  # conflicting truth: left out of the join


def test_given_json_lines_with_inference_ids_and_batch_indexes_when_read_then_keys_say_which_decision(tmp_path):
    rows = [
        {"inference_id": "i-1", "Credit_Score": 0},
        {"request_id": "batch", "index": 1, "Credit_Score": "Good"},
        {"request_id": "batch", "index": "0", "Credit_Score": "Standard"},
        {"request_id": "batch", "index": -1, "Credit_Score": "Good"},
        {"request_id": "r", "Credit_Score": True},
    ]
    uri = write(tmp_path / "outcomes.jsonl", "\n".join(json.dumps(row) for row in rows) + "\nnot json\n")

    outcomes = read_outcomes(uri)

    assert outcomes.labels == {("inference", "i-1", 0): 0, ("request", "batch", 1): 2, ("request", "batch", 0): 1}
    assert outcomes.malformed == 3


def test_given_a_file_without_usable_rows_when_read_then_an_error_names_the_columns(tmp_path) -> None:
    with pytest.raises(OutcomesError, match="request_id or inference_id"):
        read_outcomes(write(tmp_path / "o.csv", "id,label\n1,Poor\n"))
    with pytest.raises(OutcomesError, match=r"missing\.csv"):
        read_outcomes(str(tmp_path / "missing.csv"))


def test_given_outcomes_in_moto_s3_gzipped_when_read_then_same_as_local(aws, tmp_path) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="outcomes", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    text = "inference_id,Credit_Score\na,Poor\nb,Good\n"
    s3.put_object(Bucket="outcomes", Key="2025/05/labels.csv.gz", Body=gzip.compress(text.encode()))

    outcomes = read_outcomes("s3://outcomes/2025/05/labels.csv.gz")

    assert outcomes.labels == {("inference", "a", 0): 0, ("inference", "b", 0): 2}
    with pytest.raises(OutcomesError, match="NoSuchKey"):
        read_outcomes("s3://outcomes/absent.csv")


def test_given_captured_batches_when_joined_then_ids_positions_months_and_leftovers_are_counted(tmp_path) -> None:
    may = dated_records(3, datetime(2025, 5, 30, 10, tzinfo=UTC), seed=1)  # one batch request: req-1
    june = dated_records(2, datetime(2025, 6, 2, 10, tzinfo=UTC), seed=2, version="4")  # req-2
    lines = [
        "request_id,index,inference_id,Credit_Score",
        "req-1,0,,Poor",
        "req-1,2,,Good",
        f",,{june[1]['inference_id']},Standard",
        "req-1,7,,Good",  # no such position: unmatched
        "elsewhere,,,Poor",  # a decision outside the window: unmatched
    ]
    joined = Joined(read_outcomes(write(tmp_path / "o.csv", "\n".join(lines) + "\n")))

    joined.add(may)
    joined.add([*june, june[1]])  # the same decision read twice under one id is matched once

    assert joined.decision_groups() == [("3", "2025-05"), ("4", "2025-06")]
    assert joined.arrays("3")["labels"].tolist() == [0, 2]
    assert joined.arrays("3")["predicted"].tolist() == [may[0]["prediction"], may[2]["prediction"]]
    assert joined.arrays(month="2025-06")["labels"].tolist() == [1]
    counts = joined.counts()
    assert (counts["matched"], counts["unmatched"], counts["matched_again"]) == (3, 2, 1)
    assert counts["decisions_in_window"] == 6
