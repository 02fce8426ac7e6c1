"""The drift report's reason-code mix: which reasons the explained answers gave, overall and per day."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from scipy.stats import chisquare

from credit_score.contract.capture import capture_record
from credit_score.contract.fields import encode_fields, parse_record
from credit_score.contract.profile import reference_profile
from credit_score.monitoring.reader import ScanCounts, Window
from credit_score.monitoring.report import summary
from credit_score.monitoring.stats import OTHER_REASON, Counts, Reference, Thresholds, evaluate, reason_mix
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
        "reference": None,  # a bundle downloaded before the reference mix was measured
        "codes": {},
        "verdict": {"verdict": "no_reference", "rows": 1},
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


REFERENCE = {"explained_records": 2_000, "shares": {DEBT: 0.5, DELAYS: 0.3, MIX: 0.2}}


def _counts_citing(answers: int, mix: dict[str, float], seed: int = 1) -> Counts:
    """``answers`` explained answers, each citing one code drawn from ``mix``."""
    rows = [parse_record(r)[0] for r in synthetic_records(50, seed=3)]
    counts = Counts(Reference.from_profile(reference_profile(encode_fields(rows), np.zeros(len(rows), dtype=int))))
    codes = np.random.default_rng(seed).choice(list(mix), size=answers, p=list(mix.values()))
    counts.add(_records("2026-12-01", [[str(code)] for code in codes]))
    return counts


def test_given_the_reference_mix_when_compared_then_each_code_beside_its_reference_and_no_drift() -> None:
    mix = reason_mix(_counts_citing(1_000, REFERENCE["shares"]), REFERENCE, Thresholds())

    assert mix["reference"] == REFERENCE
    assert list(mix["codes"]) == [DEBT, DELAYS, MIX]  # by reference share
    assert mix["codes"][DEBT]["reference"] == 0.5
    assert mix["codes"][DEBT]["current"] == mix["shares"][DEBT]
    assert mix["verdict"]["verdict"] == "none"
    assert mix["verdict"]["psi"] < 0.01


def test_given_a_shifted_mix_of_300_answers_when_compared_then_alert_not_insufficient_data() -> None:
    mix = reason_mix(_counts_citing(300, {DEBT: 0.1, DELAYS: 0.2, MIX: 0.7}), REFERENCE, Thresholds())

    assert mix["verdict"]["rows"] == 300 < Thresholds().min_rows
    assert mix["verdict"]["p_value"] < Thresholds().alpha
    assert mix["verdict"]["verdict"] == "alert"


def test_given_a_shift_in_20_answers_that_the_test_cannot_confirm_when_compared_then_insufficient_data() -> None:
    counts = _counts_citing(0, REFERENCE["shares"])
    counts.add(_records("2026-12-01", [[DEBT]] * 6 + [[DELAYS]] * 6 + [[MIX]] * 8))  # reference: 10, 6, 4

    mix = reason_mix(counts, REFERENCE, Thresholds())

    assert mix["verdict"]["psi"] == pytest.approx(0.2 * np.log(5 / 3) + 0.2 * np.log(2))  # over warn
    assert mix["verdict"]["p_value"] == pytest.approx(np.exp(-5.6 / 2))  # chi2 5.6 on 2 dof
    assert mix["verdict"]["verdict"] == "insufficient_data"


def test_given_answers_citing_several_codes_when_tested_then_counted_once_per_answer() -> None:
    counts = _counts_citing(1, REFERENCE["shares"])
    counts.add(_records("2026-12-02", [[DEBT, DELAYS, MIX]] * 99 + [[DEBT]]))  # 100 answers, 298 citations

    result = reason_mix(counts, REFERENCE, Thresholds())["verdict"]

    cited = {code: sum(codes.get(code, 0) for codes in counts.reasons_by_day.values()) for code in (DEBT, DELAYS, MIX)}
    scaled = [cited[code] * 101 / sum(cited.values()) for code in (DEBT, DELAYS, MIX)]
    expected = [101 * share for share in REFERENCE["shares"].values()]
    assert result["chi2"] == pytest.approx(chisquare(scaled, expected).statistic)
    assert result["rows"] == 101


@pytest.mark.parametrize("stored", [None, {}, {"shares": {DEBT: 0.5}}, {"explained_records": 9, "shares": {DEBT: 7}}])
def test_given_no_usable_reference_mix_when_compared_then_marked_no_reference(stored) -> None:
    mix = reason_mix(_counts_citing(100, REFERENCE["shares"]), stored, Thresholds())

    assert (mix["reference"], mix["codes"], mix["verdict"]["verdict"]) == (None, {}, "no_reference")


def test_given_a_reason_mix_alert_when_evaluated_then_reported_beside_the_window_verdict_not_in_it() -> None:
    counts = _counts_citing(600, {DEBT: 0.1, DELAYS: 0.2, MIX: 0.7})

    drift = evaluate(counts, Thresholds(), REFERENCE)

    assert drift.reason_mix["verdict"]["verdict"] == "alert"
    assert drift.verdict == evaluate(counts, Thresholds()).verdict


def test_the_page_shows_the_reference_share_beside_the_current_and_the_mix_verdict() -> None:
    from credit_score.monitoring.html import _reason_table

    mix = reason_mix(_counts_citing(600, {DEBT: 0.1, DELAYS: 0.2, MIX: 0.7}), REFERENCE, Thresholds())
    page = _reason_table({**mix, "by_day": {}})

    assert f"<tr><td>{DEBT}</td><td>50.0 %</td><td>{100 * mix['shares'][DEBT]:.1f} %</td></tr>" in page
    assert "mix against the reference (2,000 answers at download)" in page
    assert ">alert</span>" in page
    older = _reason_table({**reason_mix(_counts_citing(10, REFERENCE["shares"])), "by_day": {}})
    assert "no reference mix in this bundle" in older


def test_given_metadata_with_and_without_the_reference_mix_when_read_then_the_mix_or_none(tmp_path) -> None:
    import json

    from credit_score.monitoring.reference import reference_reasons

    (tmp_path / "metadata.json").write_text(json.dumps({"reference_reasons": REFERENCE}))
    (tmp_path / "older.json").write_text(json.dumps({"reference_profile": {}}))

    assert reference_reasons(None, str(tmp_path / "metadata.json")) == REFERENCE
    assert reference_reasons(None, str(tmp_path / "older.json")) is None
