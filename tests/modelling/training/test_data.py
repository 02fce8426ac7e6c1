from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_score.contract.fields import FEATURE_NAMES, FIELD_NAMES, FIELDS_BY_NAME
from credit_score.modelling.training.data import RAW_COLUMNS, DataError, Dataset, read_raw_csv, split, to_dataset

CLEAN_ROW = {
    "ID": "0x1602",
    "Customer_ID": "CUS_0xd40",
    "Month": "August",
    "Name": "Test Person",
    "Age": "23",
    "SSN": "000-00-0001",
    "Occupation": "Scientist",
    "Annual_Income": "19114.12",
    "Monthly_Inhand_Salary": "1824.84",
    "Num_Bank_Accounts": "3",
    "Num_Credit_Card": "4",
    "Interest_Rate": "3",
    "Num_of_Loan": "4",
    "Type_of_Loan": "Auto Loan, and Home Equity Loan",
    "Delay_from_due_date": "3",
    "Num_of_Delayed_Payment": "7",
    "Changed_Credit_Limit": "11.27",
    "Num_Credit_Inquiries": "4.0",
    "Credit_Mix": "Good",
    "Outstanding_Debt": "809.98",
    "Credit_Utilization_Ratio": "26.82",
    "Credit_History_Age": "22 Years and 1 Months",
    "Payment_of_Min_Amount": "No",
    "Total_EMI_per_month": "49.57",
    "Amount_invested_monthly": "80.41",
    "Payment_Behaviour": "High_spent_Small_value_payments",
    "Monthly_Balance": "312.49",
    "Credit_Score": "Good",
}


def column(name: str) -> int:
    return FEATURE_NAMES.index(name)


def field(name: str) -> int:
    return FIELD_NAMES.index(name)


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    pd.DataFrame(rows, columns=list(RAW_COLUMNS)).to_csv(path, index=False)
    return path


def test_given_dirty_raw_values_when_reading_and_encoding_then_cleaned_like_serving(tmp_path: Path) -> None:
    dirty = {
        **CLEAN_ROW,
        "Annual_Income": "52312.68_",
        "Age": "8698",
        "Occupation": "_______",
        "Credit_Mix": "_",
        "Payment_Behaviour": "!@9#%8",
        "Amount_invested_monthly": "__10000__",
        "Changed_Credit_Limit": "_",
        "Num_of_Loan": "-100",
    }
    frame = read_raw_csv(write_csv(tmp_path / "raw.csv", [CLEAN_ROW, dirty]))

    dataset = to_dataset(frame)

    clean, soiled = dataset.features
    assert dataset.features.dtype == np.float32
    assert dataset.features.shape == (2, len(FEATURE_NAMES))
    assert clean[column("Credit_History_Age")] == 22 * 12 + 1
    assert clean[column("Num_Credit_Inquiries")] == 4.0
    assert soiled[column("Annual_Income")] == pytest.approx(52312.68)
    for name in ("Amount_invested_monthly", "Changed_Credit_Limit", "Num_of_Loan", "Credit_Mix"):
        assert math.isnan(soiled[column(name)]), name  # junk, and an Unknown mix, are missing
    # every field, used or not, for the reference profile: Age and the unranked categories too
    assert dataset.fields.shape == (2, len(FIELD_NAMES))
    assert math.isnan(dataset.fields[1, field("Age")])
    assert dataset.fields[1, field("Occupation")] == FIELDS_BY_NAME["Occupation"].levels.index("Unknown")
    assert dataset.fields[0, field("Occupation")] == FIELDS_BY_NAME["Occupation"].levels.index("Scientist")
    assert dataset.fields[1, field("Payment_Behaviour")] == FIELDS_BY_NAME["Payment_Behaviour"].levels.index("Unknown")
    assert dataset.labels.tolist() == [2, 2]


def test_given_na_like_text_when_reading_then_kept_as_text_not_missing(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "raw.csv", [{**CLEAN_ROW, "Payment_of_Min_Amount": "NM", "Name": "NA"}])

    frame = read_raw_csv(path)

    assert frame.loc[0, "Payment_of_Min_Amount"] == "NM"
    assert frame.loc[0, "Name"] == "NA"
    dataset = to_dataset(frame)
    assert dataset.fields[0, field("Payment_of_Min_Amount")] == FIELDS_BY_NAME["Payment_of_Min_Amount"].levels.index(
        "NM"
    )
    assert math.isnan(dataset.features[0, column("Payment_of_Min_Amount")])  # "not mentioned": no rank


def test_given_unknown_or_missing_labels_when_encoding_then_rows_dropped_and_counted() -> None:
    frame = pd.DataFrame([CLEAN_ROW, {**CLEAN_ROW, "Credit_Score": ""}, {**CLEAN_ROW, "Credit_Score": "Excellent"}])

    dataset = to_dataset(frame)

    assert len(dataset) == 1
    assert dataset.dropped_rows == 2


def test_given_no_labelled_row_when_encoding_then_refused() -> None:
    with pytest.raises(DataError, match="Credit_Score"):
        to_dataset(pd.DataFrame([{**CLEAN_ROW, "Credit_Score": "?"}]))


def test_given_csv_without_a_model_field_when_reading_then_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    pd.DataFrame([CLEAN_ROW]).drop(columns=["Outstanding_Debt"]).to_csv(path, index=False)

    with pytest.raises(DataError, match="Outstanding_Debt"):
        read_raw_csv(path)


@pytest.mark.parametrize("content", [None, b"", b"\xff\xfe\x00garbage"])
def test_given_absent_empty_or_undecodable_file_when_reading_then_data_error(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "raw.csv"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(DataError, match="cannot read"):
        read_raw_csv(path)


def dataset_of(customers: int, rows_per_customer: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"CUS_{index}" for index in range(customers)], rows_per_customer)
    labels = np.repeat(rng.choice(3, customers, p=[0.3, 0.5, 0.2]), rows_per_customer)
    features = rng.random((len(groups), len(FEATURE_NAMES))).astype(np.float32)
    return Dataset(features, labels, groups, rng.random((len(groups), len(FIELD_NAMES))))


def test_given_customers_with_several_rows_when_splitting_then_no_customer_on_both_sides() -> None:
    dataset = dataset_of(customers=400, rows_per_customer=8)

    training, evaluation = split(dataset, eval_fraction=0.2, seed=3)

    assert not set(training.groups) & set(evaluation.groups)
    assert len(training) + len(evaluation) == len(dataset)
    assert len(set(evaluation.groups)) == pytest.approx(80, abs=2)
    assert len(evaluation) % 8 == 0


def test_given_imbalanced_classes_when_splitting_then_each_class_held_out_in_proportion() -> None:
    dataset = dataset_of(customers=2000, rows_per_customer=1)

    _, evaluation = split(dataset, eval_fraction=0.25, seed=1)

    for code in range(3):
        share = (evaluation.labels == code).sum() / (dataset.labels == code).sum()
        assert share == pytest.approx(0.25, abs=0.002)


def test_given_same_seed_when_splitting_then_same_rows_and_other_seed_differs() -> None:
    dataset = dataset_of(customers=300, rows_per_customer=2)

    first = split(dataset, 0.2, seed=7)[1].groups
    again = split(dataset, 0.2, seed=7)[1].groups
    other = split(dataset, 0.2, seed=8)[1].groups

    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_given_fraction_outside_0_1_when_splitting_then_refused(fraction: float) -> None:
    with pytest.raises(DataError, match="between 0 and 1"):
        split(dataset_of(50, 1), fraction, seed=0)


def test_given_single_customer_when_splitting_then_refused() -> None:
    with pytest.raises(DataError, match="too few customers"):
        split(dataset_of(1, 5), 0.2, seed=0)
