"""The 21 input fields: names, units, plausible domains, known categories and parsing.

Training and serving both read values through this module, so the rules cannot drift apart:
training calls :func:`clean_value` (junk and corrupt numbers become missing), serving calls
:func:`parse_record` (the same junk is reported back as a field problem). Messages never contain
the submitted value: a credit application is customer data.

Raw-data conventions understood everywhere:

* numbers may arrive as JSON numbers or strings; a trailing ``_`` is ignored (``"52312.68_"``);
* ``Credit_History_Age`` may be ``"N Years and M Months"``; the API unit is months;
* ``_``, ``_______``, ``!@9#%8``, ``__10000__``-style sentinels and empty strings mean "no value":
  missing for numbers, ``Unknown`` for categories that have an Unknown bucket. The seed
  project's ``"Desconhecido"`` is accepted as Unknown.

This module imports numpy only: it runs in the Lambda image.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

UNKNOWN = "Unknown"
UNKNOWN_ALIASES = frozenset({"unknown", "desconhecido"})
PLACEHOLDERS = frozenset({"", "_", "_______", "!@9#%8", "nan", "none", "null", "na", "n/a"})

MISSING = "missing"
NOT_A_NUMBER = "not_a_number"
NOT_A_WHOLE_NUMBER = "not_a_whole_number"
OUT_OF_DOMAIN = "out_of_domain"
UNKNOWN_CATEGORY = "unknown_category"
NOT_A_STRING = "not_a_string"
PROBLEM_KINDS = (MISSING, NOT_A_NUMBER, NOT_A_WHOLE_NUMBER, OUT_OF_DOMAIN, UNKNOWN_CATEGORY, NOT_A_STRING)

_YEARS_MONTHS = re.compile(r"\s*(\d+)\s+Years?\s+and\s+(\d+)\s+Months?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Field:
    """One input field. Numbers carry an inclusive domain; categories their allowed values."""

    name: str
    description: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    categories: tuple[str, ...] = ()
    allows_unknown: bool = False

    @property
    def is_numeric(self) -> bool:
        return not self.categories

    @property
    def levels(self) -> tuple[str, ...]:
        """Categories in encoding order, Unknown last where the field has that bucket."""
        return self.categories + ((UNKNOWN,) if self.allows_unknown else ())

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.is_numeric:
            spec.update(
                type="integer" if self.integer else "number",
                unit=self.unit,
                minimum=self.minimum,
                maximum=self.maximum,
            )
        else:
            spec.update(type="category", categories=list(self.levels))
        return spec


def _number(name, description, unit, minimum, maximum, integer=False) -> Field:
    return Field(name, description, unit, float(minimum), float(maximum), integer)


def _category(name, description, categories, allows_unknown) -> Field:
    return Field(name, description, categories=tuple(categories), allows_unknown=allows_unknown)


# Domains: wide enough for any real applicant, narrow enough to catch the raw data's corrupt
# entries (ages of 8,698, 1,500 credit cards, 5,000 % interest, incomes in the tens of millions).
FIELDS: tuple[Field, ...] = (
    _number("Age", "Age of the applicant", "years", 14, 100, integer=True),
    _number("Annual_Income", "Annual income", "currency", 0, 1_000_000),
    _number("Monthly_Inhand_Salary", "Monthly take-home salary", "currency", 0, 100_000),
    _number("Num_Bank_Accounts", "Bank accounts held", "count", 0, 20, integer=True),
    _number("Num_Credit_Card", "Credit cards held", "count", 0, 20, integer=True),
    _number("Interest_Rate", "Interest rate on the credit card", "percent", 0, 100),
    _number("Num_of_Loan", "Loans taken", "count", 0, 20, integer=True),
    _number("Delay_from_due_date", "Average delay from the payment due date", "days", -31, 365),
    _number("Num_of_Delayed_Payment", "Payments delayed", "count", 0, 100, integer=True),
    _number("Changed_Credit_Limit", "Change of the credit card limit", "percent", -100, 100),
    _number("Num_Credit_Inquiries", "Credit card inquiries", "count", 0, 50, integer=True),
    _number("Outstanding_Debt", "Debt still to pay", "currency", 0, 1_000_000),
    _number("Credit_Utilization_Ratio", "Credit utilisation ratio", "percent", 0, 100),
    _number("Credit_History_Age", "Age of the credit history", "months", 0, 1200),
    _number("Total_EMI_per_month", "Monthly instalments (EMI) paid", "currency", 0, 100_000),
    _number("Amount_invested_monthly", "Amount invested each month", "currency", 0, 100_000),
    _number("Monthly_Balance", "Monthly balance", "currency", -100_000, 1_000_000),
    _category(
        "Occupation",
        "Occupation of the applicant",
        (
            "Accountant",
            "Architect",
            "Developer",
            "Doctor",
            "Engineer",
            "Entrepreneur",
            "Journalist",
            "Lawyer",
            "Manager",
            "Mechanic",
            "Media_Manager",
            "Musician",
            "Scientist",
            "Teacher",
            "Writer",
        ),
        allows_unknown=True,
    ),
    _category("Credit_Mix", "Mix of credit products", ("Bad", "Standard", "Good"), True),
    _category(
        "Payment_of_Min_Amount",
        "Whether only the minimum amount was paid (NM: not mentioned)",
        ("Yes", "No", "NM"),
        allows_unknown=False,
    ),
    _category(
        "Payment_Behaviour",
        "Spending and payment behaviour",
        (
            "High_spent_Large_value_payments",
            "High_spent_Medium_value_payments",
            "High_spent_Small_value_payments",
            "Low_spent_Large_value_payments",
            "Low_spent_Medium_value_payments",
            "Low_spent_Small_value_payments",
        ),
        allows_unknown=True,
    ),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
NUMERIC_FIELDS: tuple[Field, ...] = tuple(f for f in FIELDS if f.is_numeric)
CATEGORICAL_FIELDS: tuple[Field, ...] = tuple(f for f in FIELDS if not f.is_numeric)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in NUMERIC_FIELDS) + tuple(
    f"{f.name}={level}" for f in CATEGORICAL_FIELDS for level in f.levels
)


class FieldError(ValueError):
    """A value that cannot be used for ``field``; ``problem`` is one of PROBLEM_KINDS."""

    def __init__(self, field_name: str, problem: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.problem = problem
        self.message = message


@dataclass(frozen=True)
class FieldProblem:
    """A field-level validation problem; never carries the submitted value."""

    field: str
    problem: str
    message: str
    index: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "index": self.index, "problem": self.problem, "message": self.message}


def _domain_text(f: Field) -> str:
    kind = "a whole number" if f.integer else "a number"
    unit = f" {f.unit}" if f.unit and f.unit not in ("count", "currency") else ""
    return f"must be {kind} between {f.minimum:.15g} and {f.maximum:.15g}{unit}"


def _is_placeholder(text: str) -> bool:
    stripped = text.strip()
    lowered = stripped.lower()
    return lowered in PLACEHOLDERS or (len(stripped) > 4 and stripped.startswith("__") and stripped.endswith("__"))


def _dirty_number(f: Field, text: str) -> float:
    """Slow path for strings that ``float()`` refused: raw-data suffixes, durations, sentinels."""
    if _is_placeholder(text):
        raise FieldError(f.name, MISSING, f"is required; {_domain_text(f)}")
    stripped = text.strip()
    if f.name == "Credit_History_Age":
        match = _YEARS_MONTHS.fullmatch(stripped)
        if match:
            try:
                return float(int(match.group(1)) * 12 + int(match.group(2)))
            except (ValueError, OverflowError):  # hundreds of digits: beyond any domain
                raise FieldError(f.name, OUT_OF_DOMAIN, _domain_text(f)) from None
    candidate = stripped.rstrip("_")
    if candidate != stripped and candidate and not candidate.startswith("_"):
        try:
            return float(candidate)
        except ValueError:
            pass
    raise FieldError(f.name, NOT_A_NUMBER, _domain_text(f))


def parse_number(f: Field, raw: Any) -> float:
    """Return the value of numeric field ``f`` or raise :class:`FieldError`."""
    kind = type(raw)
    if kind is float or kind is int:
        try:
            value = float(raw)
        except OverflowError:  # a JSON integer beyond float's range
            raise FieldError(f.name, OUT_OF_DOMAIN, _domain_text(f)) from None
    elif kind is str:
        try:
            value = float(raw)
        except ValueError:
            value = _dirty_number(f, raw)
    elif raw is None:
        raise FieldError(f.name, MISSING, f"is required; {_domain_text(f)}")
    else:  # bool, list, dict, ...
        raise FieldError(f.name, NOT_A_NUMBER, _domain_text(f))
    if not math.isfinite(value):
        raise FieldError(f.name, NOT_A_NUMBER, _domain_text(f))
    if not f.minimum <= value <= f.maximum:  # type: ignore[operator]
        raise FieldError(f.name, OUT_OF_DOMAIN, _domain_text(f))
    if f.integer and not value.is_integer():
        raise FieldError(f.name, NOT_A_WHOLE_NUMBER, _domain_text(f))
    return value


def _category_lookup(f: Field) -> dict[str, str]:
    table = {level: level for level in f.categories}
    table.update({level.lower(): level for level in f.categories})
    if f.allows_unknown:
        table.update({alias: UNKNOWN for alias in UNKNOWN_ALIASES | PLACEHOLDERS})
        table[UNKNOWN] = UNKNOWN
    return table


_CATEGORY_LOOKUPS: dict[str, dict[str, str]] = {f.name: _category_lookup(f) for f in CATEGORICAL_FIELDS}


def _allowed_text(f: Field) -> str:
    return "must be one of: " + ", ".join(f.levels)


def parse_category(f: Field, raw: Any) -> str:
    """Return the canonical category of field ``f`` or raise :class:`FieldError`."""
    if raw is None:
        raise FieldError(f.name, MISSING, f"is required; {_allowed_text(f)}")
    if type(raw) is not str:
        raise FieldError(f.name, NOT_A_STRING, _allowed_text(f))
    lookup = _CATEGORY_LOOKUPS[f.name]
    level = lookup.get(raw)
    if level is None:
        level = lookup.get(raw.strip().lower())
    if level is None:
        if _is_placeholder(raw):
            raise FieldError(f.name, MISSING, f"is required; {_allowed_text(f)}")
        raise FieldError(f.name, UNKNOWN_CATEGORY, _allowed_text(f))
    return level


def parse_value(f: Field, raw: Any) -> float | str:
    return parse_number(f, raw) if f.is_numeric else parse_category(f, raw)


_PARSERS = tuple((f.name, parse_number if f.is_numeric else parse_category, f) for f in FIELDS)


def parse_record(record: Mapping[str, Any], index: int = 0) -> tuple[dict[str, float | str], list[FieldProblem]]:
    """Parse one request record strictly; every problem is reported, none is fatal on its own.

    Fields outside the 21 are ignored, as the raw data carries identifiers the model never sees.
    """
    values: dict[str, float | str] = {}
    problems: list[FieldProblem] = []
    get = record.get
    for name, parser, f in _PARSERS:
        try:
            values[name] = parser(f, get(name))
        except FieldError as error:
            problems.append(FieldProblem(name, error.problem, f"{name} {error.message}", index))
    return values, problems


def clean_value(f: Field, raw: Any) -> float | str | None:
    """Lenient parse for training: anything serving would reject becomes missing.

    Missing categories become Unknown where the field has that bucket, else ``None``.
    """
    try:
        return parse_value(f, raw)
    except FieldError:
        if f.is_numeric:
            return None
        return UNKNOWN if f.allows_unknown else None


def _column_offsets() -> dict[str, dict[str, int]]:
    offsets: dict[str, dict[str, int]] = {}
    column = len(NUMERIC_FIELDS)
    for f in CATEGORICAL_FIELDS:
        offsets[f.name] = {}
        for level in f.levels:
            offsets[f.name][level] = column
            column += 1
    return offsets


_ONE_HOT_COLUMNS = _column_offsets()
_NUMERIC_NAMES = tuple(f.name for f in NUMERIC_FIELDS)
_CATEGORICAL_NAMES = tuple(f.name for f in CATEGORICAL_FIELDS)


def encode(records: Sequence[Mapping[str, float | str | None]]) -> np.ndarray:
    """Parsed records → the model's float32 matrix: 17 numbers (NaN when missing), then one-hot.

    A missing category leaves all of its columns at zero.
    """
    matrix = np.zeros((len(records), len(FEATURE_NAMES)), dtype=np.float32)
    numeric = [[_nan_if_none(record.get(name)) for name in _NUMERIC_NAMES] for record in records]
    if records:
        matrix[:, : len(_NUMERIC_NAMES)] = numeric
    for row, record in enumerate(records):
        for name in _CATEGORICAL_NAMES:
            column = _ONE_HOT_COLUMNS[name].get(record.get(name))  # type: ignore[arg-type]
            if column is not None:
                matrix[row, column] = 1.0
    return matrix


def _nan_if_none(value: Any) -> float:
    return math.nan if value is None else value


def schema() -> list[dict[str, Any]]:
    """The field definitions as JSON, for the bundle's metadata and the API description."""
    return [f.to_dict() for f in FIELDS]
