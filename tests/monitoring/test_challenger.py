"""Champion versus challenger in the drift report: from a capture written by the real handler with a
shadow challenger, the flips, flips by age band, probability shift and realised figures equal what
each bundle answers alone on the same applicants."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from credit_score.contract.fairness import BAND_NAMES, age_bands
from credit_score.contract.fields import parse_record
from credit_score.contract.metrics import LABELS, macro_f1, weighted_roc_auc
from credit_score.monitoring.challenger import ChallengerCounts
from credit_score.monitoring.cli import main
from credit_score.runtime.config import Settings
from credit_score.runtime.logs import Log
from credit_score.runtime.service import Service
from tests.support.bundles import rule_label, synthetic_records
from tests.support.drift_bundles import drift_bundle  # noqa: F401 - fixture (the reference profile)
from tests.support.events import load_event
from tests.support.known_bundles import KnownBundle, challenger_bundle, champion_bundle  # noqa: F401 - fixtures
from tests.support.lambda_context import LambdaContext

APPLICANTS = 300


def _answers(service: Service, records: list[dict[str, str]], request_id: str) -> list[dict[str, Any]]:
    event = load_event("http_api_post.json")
    event["body"] = json.dumps({"data": records})
    event["isBase64Encoded"] = False
    answer = service.handle(event, LambdaContext(request_id))
    assert answer["statusCode"] == 200
    return json.loads(answer["body"])["predictions"]


@pytest.fixture(scope="module")
def shadowed(
    tmp_path_factory: pytest.TempPathFactory,
    champion_bundle: KnownBundle,  # noqa: F811
    challenger_bundle: KnownBundle,  # noqa: F811
) -> dict[str, Any]:
    """A capture of 300 applicants in three requests, each model's own answers, and the true classes."""
    root = tmp_path_factory.mktemp("shadow")
    records = synthetic_records(APPLICANTS, seed=21)
    champion = Service(
        Settings(
            model_dir=champion_bundle.bundle.path,
            capture_uri=str(root / "capture"),
            challenger_model_dir=challenger_bundle.bundle.path,
            metrics_enabled=False,
        ),
        log=Log("test", "ERROR"),
    )
    alone = Service(Settings(model_dir=challenger_bundle.bundle.path, metrics_enabled=False), log=Log("t", "ERROR"))
    champion_answers, challenger_answers = [], []
    for index in range(3):
        part = records[index * 100 : (index + 1) * 100]
        champion_answers += _answers(champion, part, f"req-{index}")
        challenger_answers += _answers(alone, part, f"alone-{index}")
    truth = [rule_label(parse_record(record)[0]) for record in records]
    outcomes = root / "outcomes.csv"
    with outcomes.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["request_id", "index", "Credit_Score"])
        for position, label in enumerate(truth):
            writer.writerow([f"req-{position // 100}", position % 100, LABELS[label]])
    return {
        "root": root,
        "records": records,
        "champion": champion_answers,
        "challenger": challenger_answers,
        "truth": np.array(truth),
        "outcomes": outcomes,
    }


def _report(shadowed: dict[str, Any], drift_bundle: Path, *extra: str) -> dict[str, Any]:  # noqa: F811
    today = datetime.now(UTC).date().isoformat()
    report = shadowed["root"] / f"report{len(extra)}.json"
    arguments = ["--capture", str(shadowed["root"] / "capture"), "--bundle", str(drift_bundle)]
    code = main([*arguments, "--since", today, "--until", today, "--json", str(report), *extra])
    assert code in (0, 1, 2, 3)
    return json.loads(report.read_text())


def test_given_a_shadowed_capture_when_reported_then_flips_are_the_two_bundles_alone(
    shadowed: dict[str, Any],
    drift_bundle: Path,  # noqa: F811
) -> None:
    section = _report(shadowed, drift_bundle)["challenger"]
    champion = np.array([a["prediction"] for a in shadowed["champion"]])
    challenger = np.array([a["prediction"] for a in shadowed["challenger"]])
    assert section["n"] == APPLICANTS
    assert section["versions"] == [{"champion": "7", "challenger": "8"}]
    flips = section["flips"]
    for row, label in enumerate(LABELS):
        for column, other in enumerate(LABELS):
            assert flips["table"][label][other] == int(np.sum((champion == row) & (challenger == column)))
    assert flips["flips"] == int(np.sum(champion != challenger)) > 0
    assert flips["to_better"] + flips["to_worse"] == flips["flips"]
    bands = age_bands([float(record["Age"]) for record in shadowed["records"]])
    for index, name in enumerate(BAND_NAMES):
        chosen = bands == index
        assert flips["by_age_band"][name]["n"] == int(chosen.sum())
        assert flips["by_age_band"][name]["flips"] == int(np.sum(champion[chosen] != challenger[chosen]))
    champion_p = np.array([[a["probabilities"][label] for label in LABELS] for a in shadowed["champion"]])
    challenger_p = np.array([[a["probabilities"][label] for label in LABELS] for a in shadowed["challenger"]])
    for column, label in enumerate(LABELS):
        shift = challenger_p[:, column] - champion_p[:, column]
        assert section["probability_shift"][label]["mean"] == pytest.approx(shift.mean(), abs=1e-6)
        assert section["probability_shift"][label]["max_abs"] == pytest.approx(np.abs(shift).max(), abs=1e-6)
    assert section["realized"] is None


def test_given_outcomes_when_reported_then_each_models_realised_figures_on_the_same_decisions(
    shadowed: dict[str, Any],
    drift_bundle: Path,  # noqa: F811
) -> None:
    realized = _report(shadowed, drift_bundle, "--outcomes", str(shadowed["outcomes"]))["challenger"]["realized"]
    truth = shadowed["truth"]
    assert realized["n"] == APPLICANTS
    for name in ("champion", "challenger"):
        predicted = np.array([a["prediction"] for a in shadowed[name]])
        probabilities = np.array([[a["probabilities"][label] for label in LABELS] for a in shadowed[name]])
        assert realized[name]["macro_f1"] == pytest.approx(macro_f1(truth, predicted), abs=1e-6)
        assert realized[name]["auc"] == pytest.approx(weighted_roc_auc(truth, probabilities), abs=1e-6)
    assert realized["gain"]["macro_f1"] == pytest.approx(
        realized["challenger"]["macro_f1"] - realized["champion"]["macro_f1"], abs=2e-6
    )


def test_given_no_challenger_in_the_capture_when_counted_then_no_section() -> None:
    counts = ChallengerCounts()
    counts.add([{"prediction": 1, "probabilities": {"Poor": 0.1, "Standard": 0.8, "Good": 0.1}, "input": {}}])
    assert counts.section() is None


def test_given_malformed_challenger_figures_when_counted_then_skipped() -> None:
    record = {"prediction": 1, "probabilities": {"Poor": 0.1, "Standard": 0.8, "Good": 0.1}, "input": {"Age": 30}}
    counts = ChallengerCounts()
    counts.add([{**record, "challenger": {"prediction": 5}}, {**record, "challenger": "x"}])
    assert counts.section() is None
    counts.add(
        [
            {
                **record,
                "challenger": {
                    "prediction": 2,
                    "version": "8",
                    "probabilities": dict(zip(LABELS, [0, 0.2, 0.8], strict=True)),
                },
            }
        ]
    )
    section = counts.section()
    assert section is not None
    assert section["flips"]["to_better"] == 1
    assert section["flips"]["by_age_band"]["25-44"]["flips"] == 1
