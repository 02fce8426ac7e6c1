"""The drift report's reason-code mix: which reasons the explained answers gave, overall and per day."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from credit_score.contract.capture import capture_record
from credit_score.contract.fields import encode_fields, parse_record
from credit_score.contract.profile import reference_profile
from credit_score.monitoring.reader import ScanCounts, Window
from credit_score.monitoring.report import summary
from credit_score.monitoring.stats import OTHER_REASON, Counts, Reference, Thresholds, evaluate
from tests.support.bundles import synthetic_records

DEBT, DELAYS, MIX = "R23_OUTSTANDING_DEBT_TOO_HIGH", "R17_NUM_OF_DELAYED_PAYMENT_TOO_HIGH", "R36_CREDIT_MIX"


def _records(day: str, reasons: list[list[str] | None]) -> list[dict]:
    out = []
    for index, (raw, codes) in enumerate(zip(synthetic_records(len(reasons), seed=2), reasons, strict=True)):
        values, _ = parse_record(raw)
        out.append(
            capture_record(
                request_id="r",
                inference_id=f"{day}-{index}",
                timestamp=f"{day}T10:00:00Z",
                model_name="m",
                model_version="1",
                source="direct",
                inputs=values,
                prediction=0,
                label="Poor",
                probabilities={"Poor": 1.0, "Standard": 0.0, "Good": 0.0},
                reasons=codes,
            )
        )
    return out


def test_reason_shares_per_day_and_overall() -> None:
    rows = [parse_record(r)[0] for r in synthetic_records(300, seed=1)]
    counts = Counts(Reference.from_profile(reference_profile(encode_fields(rows), np.zeros(len(rows), dtype=int))))
    counts.add(_records("2026-11-30", [[DEBT, DELAYS], [DEBT], None, [DEBT, "R99_FROM_A_NEWER_CONTRACT"]]))
    counts.add(_records("2026-12-01", [[MIX], [MIX, DEBT]]))
    mix = evaluate(counts, Thresholds()).reason_mix
    assert mix["explained_records"] == 5  # the unexplained answer is not in the denominator
    assert mix["shares"] == {DEBT: 0.8, MIX: 0.4, DELAYS: 0.2, OTHER_REASON: 0.2}
    assert mix["by_day"]["2026-11-30"] == {
        "explained_records": 3,
        "shares": {DEBT: 1.0, DELAYS: round(1 / 3, 6), OTHER_REASON: round(1 / 3, 6)},
    }
    assert mix["by_day"]["2026-12-01"]["shares"] == {MIX: 1.0, DEBT: 0.5}
    assert list(mix["by_day"]) == ["2026-11-30", "2026-12-01"]


def test_the_report_carries_the_reason_mix() -> None:
    rows = [parse_record(r)[0] for r in synthetic_records(50, seed=3)]
    counts = Counts(Reference.from_profile(reference_profile(encode_fields(rows), np.zeros(len(rows), dtype=int))))
    counts.add(_records("2026-12-01", [[MIX]]))
    drift = evaluate(counts, Thresholds())
    document = summary(
        drift,
        window=Window.parse("2026-12-01", "2026-12-02"),
        scan=ScanCounts(),
        thresholds=Thresholds(),
        capture="capture/",
        reference={},
        model_filter={},
        generated_at=datetime(2026, 12, 2, tzinfo=UTC),
    )
    assert document["reason_mix"] == {
        "explained_records": 1,
        "shares": {MIX: 1.0},
        "by_day": {"2026-12-01": {"explained_records": 1, "shares": {MIX: 1.0}}},
    }


def test_the_page_shows_the_most_cited_reasons_per_day() -> None:
    from credit_score.monitoring.html import _reason_table

    page = _reason_table(
        {
            "explained_records": 3,
            "shares": {DEBT: 2 / 3, MIX: 1 / 3},
            "by_day": {"2026-12-01": {"explained_records": 3, "shares": {DEBT: 2 / 3, MIX: 1 / 3}}},
        }
    )
    assert page.index(DEBT) < page.index(MIX)
    assert "66.7 %" in page
    assert "2026-12-01" in page
    assert "no explained answers" in _reason_table({"explained_records": 0, "shares": {}, "by_day": {}})
