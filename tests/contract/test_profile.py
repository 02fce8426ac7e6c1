from __future__ import annotations

import json

import numpy as np
import pytest

from credit_score.contract.fields import CATEGORICAL_FIELDS, FIELD_NAMES, NUMERIC_FIELDS, encode_fields
from credit_score.contract.profile import BINS, bin_fractions, reference_profile


def encoded(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    records = []
    for index in range(rows):
        record: dict[str, float | str | None] = {f.name: float(rng.integers(0, 50)) for f in NUMERIC_FIELDS}
        record["Age"] = None if index % 4 == 0 else float(18 + index % 60)  # a quarter missing
        record["Credit_Mix"] = ("Bad", "Standard", "Good", "Unknown")[index % 4]
        record["Payment_of_Min_Amount"] = None if index % 10 == 0 else "Yes"  # no Unknown bucket: missing
        record["Occupation"] = "Doctor"
        record["Payment_Behaviour"] = "Unknown"
        records.append(record)
    return encode_fields(records)


def test_given_values_when_binning_then_edges_are_lower_inclusive() -> None:
    values = np.array([0.0, 1.0, 1.5, 2.0, 5.0, np.nan])

    fractions = bin_fractions(values, [1.0, 2.0])

    assert fractions == [0.2, 0.4, 0.4]  # NaN ignored; 1.0 falls in the second bin, 2.0 in the third


def test_given_only_missing_values_when_binning_then_all_zero() -> None:
    assert bin_fractions(np.array([np.nan, np.nan]), [1.0]) == [0.0, 0.0]


def test_given_training_rows_when_profiling_then_numeric_bins_hold_deciles_and_missing_share() -> None:
    features = encoded(1000)

    profile = reference_profile(features, np.zeros(10, dtype=np.int64))

    age = profile["numeric"]["Age"]
    assert age["missing"] == pytest.approx(0.25)
    assert len(age["edges"]) == BINS - 1
    assert age["edges"] == sorted(age["edges"])
    assert len(age["fractions"]) == len(age["edges"]) + 1
    assert sum(age["fractions"]) == pytest.approx(1.0, abs=1e-5)  # rounded to 6 digits each
    assert max(age["fractions"]) < 0.2  # deciles of a spread-out field split it evenly
    assert set(profile["numeric"]) == {f.name for f in NUMERIC_FIELDS}
    assert profile["rows"] == 1000


def test_given_constant_field_when_profiling_then_duplicate_edges_collapse() -> None:
    features = encoded(200)
    features[:, FIELD_NAMES.index("Num_of_Loan")] = 3.0

    loans = reference_profile(features, np.zeros(1, dtype=np.int64))["numeric"]["Num_of_Loan"]

    assert loans["edges"] == [3.0]
    assert loans["fractions"] == [0.0, 1.0]


def test_given_categories_when_profiling_then_level_frequencies_include_unknown_and_missing() -> None:
    profile = reference_profile(encoded(1000), np.zeros(1, dtype=np.int64))

    mix = profile["categorical"]["Credit_Mix"]
    assert mix["frequencies"] == {"Bad": 0.25, "Standard": 0.25, "Good": 0.25, "Unknown": 0.25}
    assert mix["missing"] == 0.0
    minimum = profile["categorical"]["Payment_of_Min_Amount"]
    assert minimum["frequencies"]["Yes"] == pytest.approx(0.9)
    assert minimum["missing"] == pytest.approx(0.1)
    assert set(profile["categorical"]) == {f.name for f in CATEGORICAL_FIELDS}


def test_given_eval_predictions_when_profiling_then_prediction_mix_by_label() -> None:
    predictions = np.array([0, 1, 1, 1, 2, 1, 0, 1])

    profile = reference_profile(encoded(20), predictions)

    assert profile["prediction_mix"] == {"Poor": 0.25, "Standard": 0.625, "Good": 0.125}


def test_given_profile_when_serialised_then_plain_json_without_nan() -> None:
    features = encoded(300)
    features[:, FIELD_NAMES.index("Monthly_Balance")] = np.nan

    text = json.dumps(reference_profile(features, np.zeros(3, dtype=np.int64)), allow_nan=False)

    assert json.loads(text)["numeric"]["Monthly_Balance"] == {"edges": [], "fractions": [0.0], "missing": 1.0}


def test_given_wrong_width_when_profiling_then_refused() -> None:
    with pytest.raises(ValueError, match="the 21 fields"):
        reference_profile(np.zeros((3, 5), dtype=np.float32), np.zeros(3, dtype=np.int64))


def test_given_class_probabilities_when_profiling_then_deciles_of_p_poor_and_p_good() -> None:
    probabilities = np.random.default_rng(4).dirichlet([1, 1, 1], size=1000)

    profile = reference_profile(encoded(1000), np.zeros(1000, dtype=np.int64), probabilities)

    assert set(profile["probabilities"]) == {"Poor", "Good"}
    good = profile["probabilities"]["Good"]
    assert good["edges"] == pytest.approx(np.quantile(probabilities[:, 2], np.linspace(0, 1, 11)[1:-1]), abs=1e-6)
    assert good["fractions"] == pytest.approx([0.1] * 10, abs=1e-3)
    assert "probabilities" not in reference_profile(encoded(1000), np.zeros(1, dtype=np.int64))


def test_given_probabilities_of_other_rows_when_profiling_then_refused() -> None:
    with pytest.raises(ValueError, match="class probabilities per profiled row"):
        reference_profile(encoded(20), np.zeros(20, dtype=np.int64), np.full((19, 3), 1 / 3))
