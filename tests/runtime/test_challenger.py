"""The shadow challenger: the answer is byte-identical with and without it, its figures in the capture
record equal what its bundle alone answers, it runs after the answer where a flusher exists, and its
failures are counted and logged without values, never surfaced."""

from __future__ import annotations

import io
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from credit_score.contract.capture import CHALLENGER
from credit_score.runtime.challenger import Challenger
from credit_score.runtime.config import Settings
from credit_score.runtime.logs import Log
from credit_score.runtime.metrics import Metrics
from credit_score.runtime.service import Service
from tests.support.bundles import synthetic_records
from tests.support.events import load_event
from tests.support.known_bundles import KnownBundle, challenger_bundle, champion_bundle  # noqa: F401 - fixtures
from tests.support.lambda_context import LambdaContext

ROOT = Path(__file__).resolve().parents[2]


def _requests() -> list[dict[str, Any]]:
    seed = json.loads((ROOT / "data.json").read_text(encoding="utf-8"))
    batch = synthetic_records(40, seed=5)
    return [
        seed,
        {"data": batch},
        {"data": batch, "contributions": True, "lang": "pt"},
        {"data": batch[:3], "explain": False},
    ]


def _event(payload: dict[str, Any]) -> dict[str, Any]:
    event = load_event("http_api_post.json")
    event["body"] = json.dumps(payload)
    event["isBase64Encoded"] = False
    return event


class _Deferred:
    """The flusher's side the service uses: stores kept until the test runs them, as after the answer."""

    def __init__(self) -> None:
        self.stores: list[Any] = []

    def defer(self, store: Any) -> bool:
        self.stores.append(store)
        return True

    def run(self) -> None:
        stores, self.stores = self.stores, []
        for store in stores:
            store()


def _service(
    model_dir: Path,
    capture: Path,
    *,
    challenger: Path | None = None,
    flusher: Any = None,
    stream: io.StringIO | None = None,
    log: Log | None = None,
    sampling: float = 100.0,
) -> Service:
    settings = Settings(
        model_dir=model_dir,
        capture_uri=str(capture),
        challenger_model_dir=challenger,
        challenger_sampling_percent=sampling,
        metrics_enabled=stream is not None,
    )
    metrics = Metrics(namespace="CreditScore", service="credit-score", capture_enabled=True, stream=stream)
    return Service(settings, log=log or Log("test", "ERROR"), metrics=metrics, flusher=flusher)


def _records(capture: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(capture.rglob("*.jsonl")) for line in path.read_text().splitlines()]


def test_given_a_challenger_when_answering_then_answers_are_byte_identical_to_the_champion_alone(
    champion_bundle: KnownBundle,  # noqa: F811
    challenger_bundle: KnownBundle,  # noqa: F811
    tmp_path: Path,
) -> None:
    alone = _service(champion_bundle.bundle.path, tmp_path / "alone")
    shadowed = _service(champion_bundle.bundle.path, tmp_path / "shadowed", challenger=challenger_bundle.bundle.path)
    assert shadowed.challenger is not None
    for index, payload in enumerate(_requests()):
        request_id = f"req-{index}"
        expected = alone.handle(_event(payload), LambdaContext(request_id))
        answered = shadowed.handle(_event(payload), LambdaContext(request_id))
        assert json.dumps(answered).encode() == json.dumps(expected).encode()
    records = _records(tmp_path / "shadowed")
    assert len(records) == 1 + 40 + 40 + 3
    assert all(record[CHALLENGER]["version"] == "8" for record in records)
    assert not any(CHALLENGER in record for record in _records(tmp_path / "alone"))


def test_given_a_challenger_when_captured_then_its_figures_are_its_bundle_alone(
    champion_bundle: KnownBundle,  # noqa: F811
    challenger_bundle: KnownBundle,  # noqa: F811
    tmp_path: Path,
) -> None:
    shadowed = _service(champion_bundle.bundle.path, tmp_path / "shadowed", challenger=challenger_bundle.bundle.path)
    challenger_alone = _service(challenger_bundle.bundle.path, tmp_path / "alone")
    batch = synthetic_records(60, seed=9)
    shadowed.handle(_event({"data": batch}), LambdaContext("req-shadow"))
    answer = challenger_alone.handle(_event({"data": batch}), LambdaContext("req-alone"))
    expected = json.loads(answer["body"])["predictions"]
    figures = [record[CHALLENGER] for record in _records(tmp_path / "shadowed")]
    champion = [record["prediction"] for record in _records(tmp_path / "shadowed")]
    assert [f["prediction"] for f in figures] == [e["prediction"] for e in expected]
    assert [f["label"] for f in figures] == [e["label"] for e in expected]
    assert [f["probabilities"] for f in figures] == [e["probabilities"] for e in expected]
    assert [f["reasons"] for f in figures] == [[r["code"] for r in e["reasons"]] for e in expected]
    assert {(f["model"], f["version"]) for f in figures} == {("credit-score-classifier", "8")}
    assert champion != [f["prediction"] for f in figures], "two different models: some decisions must differ"


def test_given_a_flusher_when_answering_then_the_challenger_scores_after_the_answer_into_the_same_record(
    champion_bundle: KnownBundle,  # noqa: F811
    challenger_bundle: KnownBundle,  # noqa: F811
    tmp_path: Path,
) -> None:
    deferred = _Deferred()
    service = _service(
        champion_bundle.bundle.path, tmp_path / "capture", challenger=challenger_bundle.bundle.path, flusher=deferred
    )
    service.capture.defer = deferred.defer  # type: ignore[union-attr]
    service.handle(_event({"data": synthetic_records(5, seed=1)}), LambdaContext("req-after"))
    assert len(deferred.stores) == 2  # the challenger's scoring, then the capture store
    assert service.challenger is not None
    assert service.challenger._model is None  # not even loaded before the answer
    assert _records(tmp_path / "capture") == []
    deferred.run()
    records = _records(tmp_path / "capture")
    assert len(records) == 5
    assert all(record[CHALLENGER]["version"] == "8" for record in records)


def test_given_a_broken_challenger_when_answering_then_counted_and_logged_never_surfaced(
    champion_bundle: KnownBundle,  # noqa: F811
    challenger_bundle: KnownBundle,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(challenger_bundle.bundle.path, broken)
    (broken / "model.onnx").write_bytes(b"not the model")
    stream = io.StringIO()
    alone = _service(champion_bundle.bundle.path, tmp_path / "alone")
    shadowed = _service(
        champion_bundle.bundle.path,
        tmp_path / "shadowed",
        challenger=broken,
        stream=stream,
        log=Log("test", "INFO"),
    )
    record = synthetic_records(1, seed=3)[0]
    expected = alone.handle(_event({"data": record}), LambdaContext("req-1"))
    answered = shadowed.handle(_event({"data": record}), LambdaContext("req-1"))
    assert answered == expected
    assert answered["statusCode"] == 200
    (captured,) = _records(tmp_path / "shadowed")
    assert CHALLENGER not in captured
    metrics = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [m["ChallengerFailures"] for m in metrics if "ChallengerFailures" in m] == [1]
    logged = capsys.readouterr().out
    failures = [json.loads(line) for line in logged.splitlines() if "challenger_failed" in line]
    assert len(failures) == 1
    assert "sha256" in failures[0]["reason"]
    assert record["Annual_Income"] not in logged


def test_given_sampling_when_deciding_then_share_of_invocations(tmp_path: Path) -> None:
    (tmp_path / "metadata.json").write_text("{}")
    never = Challenger(tmp_path, log=Log("test", "ERROR"), sampling_percent=0.0, rng=random.Random(1))
    half = Challenger(tmp_path, log=Log("test", "ERROR"), sampling_percent=50.0, rng=random.Random(1))
    assert not any(never.sampled() for _ in range(1000))
    assert 400 < sum(half.sampled() for _ in range(1000)) < 600


def test_given_no_challenger_configured_or_an_empty_folder_when_built_then_none(tmp_path: Path) -> None:
    log = Log("test", "ERROR")
    assert Challenger.from_settings(Settings(model_dir=tmp_path), log=log) is None
    assert Challenger.from_settings(Settings(model_dir=tmp_path, challenger_model_dir=tmp_path), log=log) is None


def test_given_environment_when_read_then_challenger_settings() -> None:
    settings = Settings.from_env({"CHALLENGER_MODEL_DIR": "/opt/challenger", "CHALLENGER_SAMPLING_PERCENT": "25"})
    assert settings.challenger_model_dir == Path("/opt/challenger")
    assert settings.challenger_sampling_percent == 25.0
    assert Settings.from_env({}).challenger_model_dir is None
