"""Raw Kaggle-schema rows → the encoded matrix and class codes, and the train/evaluation split.

Raw files are read as text (``dtype=str, keep_default_na=False``): the dirty values (``52312.68_``,
``_``, ``!@9#%8``, ``22 Years and 1 Months``) must reach :func:`features.clean_value` untouched, so
training cleans exactly as serving parses. Rows whose ``Credit_Score`` is not a known class are
dropped and counted, never guessed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from credit_score.contract.bundle import CLASSES
from credit_score.contract.fields import FIELDS, clean_value, encode_fields, model_matrix

TARGET = "Credit_Score"
CUSTOMER = "Customer_ID"
RAW_COLUMNS: tuple[str, ...] = (
    "ID",
    CUSTOMER,
    "Month",
    "Name",
    "Age",
    "SSN",
    "Occupation",
    "Annual_Income",
    "Monthly_Inhand_Salary",
    "Num_Bank_Accounts",
    "Num_Credit_Card",
    "Interest_Rate",
    "Num_of_Loan",
    "Type_of_Loan",
    "Delay_from_due_date",
    "Num_of_Delayed_Payment",
    "Changed_Credit_Limit",
    "Num_Credit_Inquiries",
    "Credit_Mix",
    "Outstanding_Debt",
    "Credit_Utilization_Ratio",
    "Credit_History_Age",
    "Payment_of_Min_Amount",
    "Total_EMI_per_month",
    "Amount_invested_monthly",
    "Payment_Behaviour",
    "Monthly_Balance",
    TARGET,
)
DEFAULT_SEED = 42  # the default split (and booster seed) of training and evaluation
DEFAULT_EVAL_FRACTION = 0.2  # share of customers held out for evaluation
LABEL_CODES: dict[str, int] = {label: code for code, label in CLASSES}
LABELS: tuple[str, ...] = tuple(label for _, label in CLASSES)


class DataError(ValueError):
    """The raw data cannot be used for training or evaluation."""


@dataclass(frozen=True)
class Dataset:
    """Encoded rows with their class codes; ``groups`` keeps a customer's rows together.

    ``features`` is the model's matrix (FEATURE_NAMES), ``fields`` all 21 fields (``encode_fields``)
    for the reference profile, which also describes the fields the model does not use.
    """

    features: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    fields: np.ndarray
    dropped_rows: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, rows: np.ndarray) -> Dataset:
        return Dataset(self.features[rows], self.labels[rows], self.groups[rows], self.fields[rows])


def read_raw_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a Kaggle-schema CSV as text; refuse a file lacking any model field or the label."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {path}: {type(error).__name__}") from None
    missing = [name for name in (*(f.name for f in FIELDS), TARGET) if name not in frame.columns]
    if missing:
        raise DataError(f"{path} lacks the columns {', '.join(missing)}")
    return frame


def clean_records(frame: pd.DataFrame) -> list[dict[str, float | str | None]]:
    """Every row's 21 fields through the lenient training parser (junk → missing / Unknown)."""
    columns = [(f, frame[f.name].tolist()) for f in FIELDS]
    return [{f.name: clean_value(f, values[row]) for f, values in columns} for row in range(len(frame))]


def to_dataset(frame: pd.DataFrame) -> Dataset:
    """Encode a raw frame; rows without a known ``Credit_Score`` are dropped and counted."""
    labels = frame[TARGET].str.strip().map(LABEL_CODES)
    keep = labels.notna().to_numpy()
    kept = frame.loc[keep]
    if kept.empty:
        raise DataError(f"no row has a {TARGET} among {', '.join(LABELS)}")
    groups = kept[CUSTOMER].to_numpy() if CUSTOMER in kept.columns else np.arange(len(kept)).astype(str)
    fields = encode_fields(clean_records(kept))
    return Dataset(
        features=model_matrix(fields),
        labels=labels[keep].to_numpy(dtype=np.int64),
        groups=np.asarray(groups, dtype=str),
        fields=fields,
        dropped_rows=int((~keep).sum()),
    )


def split(dataset: Dataset, eval_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Hold out about ``eval_fraction`` of the customers, stratified by class, whole customers only.

    A customer with several rows (the 8-month Kaggle file) lands entirely on one side, so the
    evaluation never scores a customer the model has seen. Stratification uses each customer's most
    frequent class.
    """
    if not 0.0 < eval_fraction < 1.0:
        raise DataError("the evaluation fraction must be between 0 and 1")
    customers, inverse = np.unique(dataset.groups, return_inverse=True)
    counts = np.zeros((len(customers), len(CLASSES)), dtype=np.int64)
    np.add.at(counts, (inverse, dataset.labels), 1)
    customer_class = counts.argmax(axis=1)
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(customers), dtype=bool)
    for code in range(len(CLASSES)):
        members = np.flatnonzero(customer_class == code)
        take = round(len(members) * eval_fraction)
        if len(members) > 1:
            take = min(max(take, 1), len(members) - 1)
        held_out[rng.choice(members, size=take, replace=False)] = True
    if held_out.all() or not held_out.any():
        raise DataError("too few customers to hold out an evaluation set; supply more rows")
    eval_rows = held_out[inverse]
    return dataset.subset(np.flatnonzero(~eval_rows)), dataset.subset(np.flatnonzero(eval_rows))
