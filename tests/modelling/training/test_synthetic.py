from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from credit_score.contract.fields import FEATURE_NAMES, FIELDS_BY_NAME, clean_value
from credit_score.modelling.training import synthetic
from credit_score.modelling.training.cascade import fit_cascade
from credit_score.modelling.training.data import LABELS, RAW_COLUMNS, to_dataset

ROWS = 6000


@pytest.fixture(scope="module")
def profile() -> dict:
    return synthetic.load_profile()


@pytest.fixture(scope="module")
def rows(profile: dict) -> pd.DataFrame:
    return synthetic.generate(ROWS, seed=5, profile=profile)


def expected_token_rate(profile: dict, field: str, token: str) -> float:
    classes = profile["classes"]
    return sum(spec["share"] * spec["categorical_frequencies"][field].get(token, 0.0) for spec in classes.values())


def test_given_a_row_count_when_generating_then_raw_kaggle_text_rows_one_per_customer(rows: pd.DataFrame) -> None:
    assert list(rows.columns) == list(RAW_COLUMNS)
    assert len(rows) == ROWS
    assert rows["Customer_ID"].is_unique
    assert all(isinstance(value, str) for value in rows.iloc[0])
    assert set(rows["Credit_Score"]) == set(LABELS)


def test_given_same_seed_when_generating_then_identical_and_other_seed_differs(profile: dict) -> None:
    first = synthetic.generate(300, seed=1, profile=profile)

    assert first.equals(synthetic.generate(300, seed=1, profile=profile))
    assert not first.equals(synthetic.generate(300, seed=2, profile=profile))


def test_given_profile_when_generating_then_class_shares_follow_it(rows: pd.DataFrame, profile: dict) -> None:
    shares = rows["Credit_Score"].value_counts(normalize=True)

    for label in LABELS:
        assert shares[label] == pytest.approx(profile["classes"][label]["share"], abs=0.02)


@pytest.mark.parametrize(
    ("field", "token"),
    [("Credit_Mix", "_"), ("Occupation", "_______"), ("Payment_Behaviour", "!@9#%8")],
)
def test_given_profile_when_generating_then_category_placeholders_at_real_rates(
    rows: pd.DataFrame, profile: dict, field: str, token: str
) -> None:
    expected = expected_token_rate(profile, field, token)

    assert expected > 0.03
    assert (rows[field] == token).mean() == pytest.approx(expected, abs=0.015)


def test_given_profile_when_generating_then_numeric_dirt_at_real_rates(rows: pd.DataFrame, profile: dict) -> None:
    fields = profile["fields"]
    invested = fields["Amount_invested_monthly"]["placeholders"]["__10000__"]
    assert (rows["Amount_invested_monthly"] == "__10000__").mean() == pytest.approx(invested, abs=0.01)
    assert (rows["Changed_Credit_Limit"] == "_").mean() == pytest.approx(
        fields["Changed_Credit_Limit"]["placeholders"]["_"], abs=0.01
    )
    suffixed = rows["Annual_Income"].str.match(r"^[\d.]+_$").mean()
    assert suffixed == pytest.approx(fields["Annual_Income"]["suffix_rate"], abs=0.015)
    assert suffixed > 0.03


@pytest.mark.parametrize("field", ["Age", "Num_of_Loan", "Num_Bank_Accounts", "Interest_Rate"])
def test_given_profile_when_generating_then_corrupt_numbers_fall_outside_the_domain(
    rows: pd.DataFrame, profile: dict, field: str
) -> None:
    spec = FIELDS_BY_NAME[field]
    numbers = pd.to_numeric(rows[field].str.rstrip("_"), errors="coerce")
    outside = (numbers < spec.minimum) | (numbers > spec.maximum)

    assert outside.mean() == pytest.approx(profile["fields"][field]["corrupt_rate"], abs=0.012)
    assert outside.any()
    assert all(clean_value(spec, text) is None for text in rows.loc[outside, field])


def test_given_profile_when_generating_then_history_age_written_in_years_and_months(rows: pd.DataFrame) -> None:
    assert rows["Credit_History_Age"].str.fullmatch(r"\d+ Years and \d+ Months").all()


def test_given_generated_rows_when_cleaned_then_class_signal_points_the_real_way(rows: pd.DataFrame) -> None:
    dataset = to_dataset(rows)
    debt = dataset.features[:, FEATURE_NAMES.index("Outstanding_Debt")]
    bad_mix = dataset.features[:, FEATURE_NAMES.index("Credit_Mix")] == 0.0  # the worst rank
    minimum_only = dataset.features[:, FEATURE_NAMES.index("Payment_of_Min_Amount")] == 0.0  # "Yes"

    poor, good = dataset.labels == 0, dataset.labels == 2
    assert np.nanmedian(debt[poor]) > 1.5 * np.nanmedian(debt[good])
    assert bad_mix[poor].mean() > 3 * bad_mix[good].mean()
    assert minimum_only[poor].mean() > 2 * minimum_only[good].mean()  # the ranks carry the real order


def test_given_raw_frame_when_building_profile_then_marginals_and_correlations_are_valid(rows: pd.DataFrame) -> None:
    built = synthetic.build_profile(rows)

    assert built["source_rows"] == ROWS
    for spec in built["classes"].values():
        for quantiles in spec["numeric_quantiles"].values():
            assert quantiles == sorted(quantiles)
            assert len(quantiles) == len(built["quantile_levels"])
        correlation = np.asarray(spec["correlation"])
        assert np.allclose(correlation, correlation.T)
        assert np.allclose(np.diag(correlation), 1.0)
        assert np.linalg.eigvalsh(correlation).min() > 0
        assert sum(spec["categorical_frequencies"]["Credit_Mix"].values()) == pytest.approx(1.0, abs=1e-5)
    text = json.dumps(built)
    # figures, never identifiers or rows
    assert "CUS_0x" not in text
    assert "Synthetic Customer" not in text


def test_given_written_profile_when_loaded_then_same_figures(rows: pd.DataFrame, tmp_path: Path) -> None:
    built = synthetic.build_profile(rows.head(1500))

    path = synthetic.write_profile(built, tmp_path / "figures.json")

    assert synthetic.load_profile(path) == json.loads(json.dumps(built))


def test_given_profile_of_other_format_when_loading_then_refused(tmp_path: Path) -> None:
    path = tmp_path / "figures.json"
    path.write_text(json.dumps({"format_version": 99}))

    with pytest.raises(ValueError, match="format_version"):
        synthetic.load_profile(path)


def test_given_a_class_with_too_few_rows_when_building_profile_then_refused(rows: pd.DataFrame) -> None:
    few_good = pd.concat([rows[rows["Credit_Score"] != "Good"], rows[rows["Credit_Score"] == "Good"].head(3)])

    with pytest.raises(ValueError, match="Good"):
        synthetic.build_profile(few_good)


def test_given_zero_rows_when_generating_then_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        synthetic.generate(0)


def test_given_real_data_when_rebuilding_figures_then_committed_profile_is_current(real_frame: pd.DataFrame) -> None:
    rebuilt = json.loads(json.dumps(synthetic.build_profile(real_frame)))

    assert rebuilt == synthetic.load_profile()


@pytest.mark.slow
def test_given_model_trained_on_20000_synthetic_rows_when_scoring_real_data_then_macro_f1_at_least_045(
    real_frame: pd.DataFrame,
) -> None:
    training = to_dataset(synthetic.generate(20000, seed=42))
    real = to_dataset(real_frame)

    cascade = fit_cascade(training.features, training.labels, training.groups, seed=42)
    probabilities = cascade.probabilities(real.features)

    macro_f1 = f1_score(real.labels, cascade.labels(real.features), average="macro")
    auc = roc_auc_score(real.labels, probabilities, multi_class="ovr", average="weighted")
    print(f"synthetic → real: macro-F1 {macro_f1:.4f}, weighted AUC {auc:.4f}")
    assert macro_f1 >= 0.45
