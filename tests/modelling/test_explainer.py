"""Build-time explainer tables against shap.TreeExplainer (path-dependent), the independent reference."""

from __future__ import annotations

import io

import numpy as np
import pytest

from credit_score.contract.fields import FEATURE_NAMES, encode, parse_record
from credit_score.modelling.explainer import (
    MIN_PARITY_ROWS,
    ExplainerParityError,
    build_tables,
    check_parity,
    load_tables,
)
from tests.support.bundles import rule_label, synthetic_records
from tests.support.explained import Explained, explained  # noqa: F401 (fixture)


def _rows(count: int, seed: int) -> np.ndarray:
    return encode([parse_record(r)[0] for r in synthetic_records(count, seed=seed)])


def test_tables_match_shap_on_a_thousand_rows_with_gaps(explained: Explained) -> None:  # noqa: F811
    rows = _rows(MIN_PARITY_ROWS, seed=21)
    rows[::4, FEATURE_NAMES.index("Outstanding_Debt")] = np.nan  # training rows have gaps
    report = check_parity(load_tables(explained.tables), explained.cascade.boosters, rows)
    assert report["rows"] == MIN_PARITY_ROWS
    for name in ("standard_or_better", "good_given_standard"):
        assert report[name]["max_abs_contribution_diff"] < 1e-9
        assert report[name]["max_additivity_error"] < 1e-9
        assert report[name]["identical_top4_share"] == 1.0


def test_too_few_rows_fail_the_build(explained: Explained) -> None:  # noqa: F811
    with pytest.raises(ExplainerParityError, match="at least 1000 rows"):
        check_parity(load_tables(explained.tables), explained.cascade.boosters, _rows(MIN_PARITY_ROWS - 1, seed=2))


def test_wrong_tables_fail_the_build(explained: Explained) -> None:  # noqa: F811
    with np.load(io.BytesIO(explained.tables)) as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays["b1_table"] = arrays["b1_table"] * 1.001  # what the runtime reads
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with pytest.raises(ExplainerParityError, match="good_given_standard: contributions differ from shap"):
        check_parity(load_tables(buffer.getvalue()), explained.cascade.boosters, _rows(MIN_PARITY_ROWS, seed=3))


def test_every_lightgbm_missing_rule_is_followed() -> None:
    """Zero-as-missing and NaN-as-missing boosters: the tables still add up to LightGBM's raw score."""
    import lightgbm

    rows = _rows(1_200, seed=4)
    labels = np.array([rule_label(parse_record(r)[0]) for r in synthetic_records(1_200, seed=4)])
    rows[::3, FEATURE_NAMES.index("Monthly_Balance")] = np.nan
    rows[::5, FEATURE_NAMES.index("Changed_Credit_Limit")] = 0.0
    boosters = []
    for zero_as_missing in (True, False):
        params = {"objective": "binary", "max_depth": 5, "num_leaves": 16, "min_data_in_leaf": 5, "verbose": -1}
        params.update(num_threads=1, deterministic=True, zero_as_missing=zero_as_missing)
        boosters.append(lightgbm.train(params, lightgbm.Dataset(rows, (labels >= 1).astype(int)), 25))
    kinds = {node["missing_type"] for tree in boosters[0].dump_model()["tree_info"] for node in _nodes(tree)}
    assert "Zero" in kinds
    report = check_parity(load_tables(build_tables(boosters)), boosters, rows)
    assert report["standard_or_better"]["max_margin_diff"] < 1e-9
    assert report["good_given_standard"]["max_margin_diff"] < 1e-9


def _nodes(tree: dict) -> list[dict]:
    out, stack = [], [tree["tree_structure"]]
    while stack:
        node = stack.pop()
        if "split_index" in node:
            out.append(node)
            stack += [node["left_child"], node["right_child"]]
    return out


def test_tables_need_one_binary_booster_per_margin(explained: Explained) -> None:  # noqa: F811
    with pytest.raises(ValueError, match="expected 2 boosters"):
        build_tables(explained.cascade.boosters[:1])


def test_given_reference_rows_when_mixing_reasons_then_the_shares_the_handler_answers_with(
    explained: Explained,  # noqa: F811
) -> None:
    from collections import Counter

    from credit_score.modelling.conversion import run_graph
    from credit_score.modelling.explainer import reason_mix
    from credit_score.runtime.model import Model
    from credit_score.runtime.payload import prepare_payload
    from credit_score.runtime.predict import predict_batch

    records = synthetic_records(1_200, seed=41)
    for record in records[::5]:
        record["Outstanding_Debt"] = None  # not known: explained as a missing value
    batch = prepare_payload({"data": records}, len(records))
    _, _, margins = run_graph(explained.bundle.model_path.read_bytes(), batch.matrix)

    mix = reason_mix(load_tables(explained.tables), batch.matrix, margins, explained.bundle.thresholds)

    served = predict_batch(batch, Model.load(explained.bundle.path, threads=1), request_id="reference")
    assert served.reasons is not None
    cited = Counter(code for codes in served.reasons for code in codes)
    assert mix["explained_records"] == len(records)
    assert mix["shares"] == {code: round(count / len(records), 6) for code, count in cited.items()}
    assert len(mix["shares"]) > 3
