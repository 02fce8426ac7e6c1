"""The decision block through the handler: on every answer, in every payload shape, in the capture record,
and a label that follows from its printed numbers on real rows, at the cut-offs too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import app
from credit_score.contract.decision import QUESTIONS, label_code
from credit_score.contract.fields import encode, parse_record
from credit_score.modelling.artifacts import sigmoid, threshold_labels
from tests.support.lambda_context import LambdaContext
from tests.support.real_bundle import THRESHOLDS, RealBundle, real_bundle, real_requests  # noqa: F401

LABELS = ("Poor", "Standard", "Good")


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """``serve(bundle_folder)`` → a function posting a payload to a fresh container; capture under tmp_path."""

    def start(folder: Path):
        for key in ("CAPTURE_SAMPLING_PERCENT", "MAX_BATCH_SIZE", "MAX_BODY_BYTES", "METRICS_ENABLED", "LOG_LEVEL"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("MODEL_DIR", str(folder))
        monkeypatch.setenv("CAPTURE_URI", str(tmp_path / "capture"))
        monkeypatch.setenv("METRICS_ENABLED", "false")
        monkeypatch.setattr(app, "_service", None)

        def post(payload: dict) -> dict:
            response = app.handler(payload, LambdaContext("4f0c2a61-8d3e-4b1a-9c7f-2e5d6a7b8c9d"))
            assert response["statusCode"] == 200, response["body"]
            return json.loads(response["body"])

        return post

    return start


def answers(body: dict) -> list[dict]:
    return body.get("predictions", [body])


def shapes(records: list[dict[str, str]]) -> dict[str, dict]:
    columns = list(records[0])
    return {
        "data": {"data": records},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "dataframe_split": {
            "dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in records]}
        },
    }


def test_given_every_payload_shape_when_answered_then_each_answer_shows_the_decision_of_its_label(
    real_bundle: RealBundle,  # noqa: F811
    serve,
) -> None:
    post = serve(real_bundle.bundle.path)
    records = real_requests(12)
    single = post({"data": records[0]})
    assert set(single) >= {"prediction", "label", "probabilities", "decision", "version"}
    by_shape = {name: answers(post(payload)) for name, payload in shapes(records).items()}
    for name, found in by_shape.items():
        assert [a["decision"] for a in found] == [a["decision"] for a in by_shape["data"]], name
        for answer in found:
            assert tuple(answer["decision"]) == QUESTIONS
            assert [answer["decision"][q]["cutoff"] for q in QUESTIONS] == list(THRESHOLDS)
            assert label_code(answer["decision"]) == answer["prediction"]
            assert answer["label"] == LABELS[answer["prediction"]]
    assert by_shape["data"][0]["decision"] == single["decision"]


def test_given_many_real_rows_when_answered_then_every_label_is_recomputed_from_its_printed_decision(
    real_bundle: RealBundle,  # noqa: F811
    serve,
) -> None:
    post = serve(real_bundle.bundle.path)
    records = real_requests(10_000)  # every row of the shared file the API accepts as it is
    assert len(records) >= 7_000
    batches = [records[start : start + 1_000] for start in range(0, len(records), 1_000)]
    served = [answer for batch in batches for answer in answers(post({"data": batch}))]
    printed = [json.loads(json.dumps(a["decision"])) for a in served]
    codes = np.array([a["prediction"] for a in served])
    assert [label_code(block) for block in printed] == codes.tolist()
    # the printed numbers are the LightGBM cascade's own, within float32 and 6-decimal rounding
    margins = real_bundle.cascade.margins(encode([parse_record(r)[0] for r in records]))
    p = np.array([[block[q]["p"] for q in QUESTIONS] for block in printed])
    assert np.abs(p - sigmoid(margins)).max() < 1e-6
    # and the label is the cascade's threshold rule, except where a row lies within that error of a cut-off
    near = (np.abs(sigmoid(margins) - np.array(THRESHOLDS)) < 1e-6).any(axis=1)
    assert np.array_equal(codes[~near], threshold_labels(margins, THRESHOLDS)[~near])
    # the block is needed: on real rows the label is often not the most probable class
    argmax = np.array([np.argmax([a["probabilities"][label] for label in LABELS]) for a in served])
    assert (argmax != codes).mean() > 0.1


def _with_thresholds(source: Path, target: Path, t1: float, t2: float) -> Path:
    shutil.copytree(source, target)
    metadata = json.loads((target / "metadata.json").read_text())
    metadata["thresholds"] = {"t1": t1, "t2": t2}
    (target / "metadata.json").write_text(json.dumps(metadata))
    return target


@pytest.mark.parametrize(
    ("shift", "expected_poor"),
    [
        (0.0, False),  # the cut-off is exactly the printed p: reached
        (1e-6, True),  # one millionth above the printed p: Poor
        (4e-7, False),  # prints as the printed p: reached, as the printed numbers say
        (-1e-6, False),
    ],
)
def test_given_a_cutoff_at_or_next_to_a_rows_printed_p_when_answered_then_the_label_follows_the_printed_numbers(
    real_bundle: RealBundle,  # noqa: F811
    serve,
    tmp_path: Path,
    shift: float,
    expected_poor: bool,
) -> None:
    record = real_requests(1, skip=40)[0]
    p1 = serve(real_bundle.bundle.path)({"data": record})["decision"]["standard_or_better"]["p"]
    moved = _with_thresholds(real_bundle.bundle.path, tmp_path / "moved", p1 + shift, 0.5)
    answer = serve(moved)({"data": record})
    printed = json.loads(json.dumps(answer["decision"]))
    assert printed["standard_or_better"]["p"] == p1
    assert (answer["prediction"] == 0) is expected_poor
    assert label_code(printed) == answer["prediction"]


def test_given_answers_when_captured_then_each_record_carries_the_answers_decision(
    real_bundle: RealBundle,  # noqa: F811
    serve,
    tmp_path: Path,
) -> None:
    post = serve(real_bundle.bundle.path)
    body = post({"dataframe_records": real_requests(7)})
    [captured] = sorted((tmp_path / "capture").rglob("*.jsonl"))
    lines = [json.loads(line) for line in captured.read_text().splitlines()]
    assert [line["decision"] for line in lines] == [a["decision"] for a in body["predictions"]]
    assert [label_code(line["decision"]) for line in lines] == [line["prediction"] for line in lines]
