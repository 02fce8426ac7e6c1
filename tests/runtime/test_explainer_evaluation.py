"""The fast evaluation of the explainer's tables (pattern table, one ``take``, ``reduceat``) gives what
the former per-row gather, ``where``, multiply and ``bincount`` gave, on every real row, under both
margins: contributions within 1e-12, the same margins, hot-feature patterns and reasons.

The reference is that former evaluation (``tests/support/former_explainer.py``), kept only as the
yardstick: it reads the same tables, so it holds the new evaluation to the algebra the build-time shap
check proved.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from credit_score.contract.reasons import field_state, select_reasons
from credit_score.runtime.explainer import Explainer
from tests.support.former_explainer import former_explain
from tests.support.paths import REAL_DATA

ROUNDS = (60, 45)  # production depth and leaves, fewer rounds: the same table shapes, trained in seconds


@pytest.fixture(scope="module")
def real() -> tuple[np.ndarray, bytes]:
    if not REAL_DATA.exists():
        pytest.skip(f"real data set not found at {REAL_DATA} (../shared beside the repository)")
    from credit_score.modelling.explainer import build_tables
    from credit_score.modelling.training.cascade import booster_params, fit_boosters
    from credit_score.modelling.training.data import read_raw_csv, to_dataset

    data = to_dataset(read_raw_csv(REAL_DATA))
    boosters = fit_boosters(data.features, data.labels, booster_params(42), ROUNDS)
    return data.features.astype(np.float32), build_tables(boosters)


def test_fast_evaluation_equals_the_former_one_on_every_real_row(real: tuple[np.ndarray, bytes]) -> None:
    rows, tables = real
    assert np.isnan(rows).any(), "the real rows have gaps: the missing-value rule is exercised"
    explainer = Explainer.load(io.BytesIO(tables))
    with np.load(io.BytesIO(tables)) as stored:
        arrays = {key: stored[key] for key in stored.files}
    worst = 0.0
    reasons_compared = 0
    for margin_index, booster in enumerate(explainer.boosters):
        margins = np.full(len(rows), margin_index)
        fast, patterns = explainer.explain(rows, margins)
        bare, _ = explainer.explain(rows, margins, with_margin=False)
        assert np.isnan(bare.margin).all()
        assert (bare.fields == fast.fields).all()
        for i, row in enumerate(rows):
            fields, margin, pattern = former_explain(booster, arrays, f"b{margin_index}_", row)
            worst = max(worst, float(np.abs(fast.fields[i] - fields).max()))
            assert fast.margin[i] == margin
            assert (patterns[i] == pattern).all()
            if i % 10 == 0:  # the reason rule on a tenth of the rows: it reads the fields and the row
                ours = explainer.reasons(row, fast.fields[i])
                former = select_reasons(fields, field_state(row))
                assert ours == former
                reasons_compared += len(former)
    assert worst <= 1e-12
    assert reasons_compared > 1_000


def test_format_1_tables_build_the_pattern_table_at_load(real: tuple[np.ndarray, bytes]) -> None:
    """Bundles built before the pattern tables were stored still load, and give the same answers."""
    rows, tables = real
    with np.load(io.BytesIO(tables)) as stored:
        arrays = {key: stored[key] for key in stored.files if not key.endswith("_table")}
    arrays["format_version"] = np.array(1)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    former, current = Explainer.load(io.BytesIO(buffer.getvalue())), Explainer.load(io.BytesIO(tables))
    for old, new in zip(former.boosters, current.boosters, strict=True):
        assert (old.table == new.table).all()
    margins = np.arange(len(rows)) % 2
    assert (former.contributions(rows, margins).fields == current.contributions(rows, margins).fields).all()
