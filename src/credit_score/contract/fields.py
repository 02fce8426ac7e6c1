"""The 21 input fields: names, units, plausible domains, known categories, the number grammar, parsing.

Training and serving both read values through this module, so the rules cannot drift apart:
training calls :func:`clean_value` (junk and corrupt numbers become missing), serving calls
:func:`parse_batch` (the same junk is reported back as a field problem). Every rule lives once, in
:data:`RULES`: the strict per-value parser, the batch fast path and the published OpenAPI patterns
all read it. Messages never contain the submitted value: a credit application is customer data.

The number grammar (the published one, :func:`number_pattern`): a JSON number, or a string of ASCII
digits with an optional leading ``-`` and an optional fraction (``"52312.68"``). No ``+``, exponent,
underscore inside, Unicode digit, ``inf``/``nan`` or surrounding whitespace. Raw-data conventions
understood everywhere:

* one trailing ``_`` is ignored (``"52312.68_"``);
* ``Credit_History_Age`` may be ``"N Years and M Months"`` (words in any case, singular or plural,
  ASCII spaces between them); the API unit is months;
* ``_``, ``_______``, ``!@9#%8``, ``__10000__``-style sentinels and empty strings mean "no value":
  missing for numbers, ``Unknown`` for categories that have an Unknown bucket. The seed
  project's ``"Desconhecido"`` is accepted as Unknown.

Missing values at serving time: a number sent as JSON ``null`` is "not known" and parses as NaN, the
missing value the boosters were trained with (the training rows' junk becomes exactly that), so it is
scored, listed by :func:`missing_fields` and captured as ``null``. The raw-data sentinels above stay a
``missing`` problem when served (a client that means "not known" says ``null``), as do an absent key
(:data:`ABSENT`) and a category's ``null`` (a category has no missing value in the encoding: its
Unknown bucket is a level the client names).

Categories are compared on exact ASCII spellings after one documented normalisation (:func:`spelling`:
surrounding ASCII spaces dropped, ASCII case folded); a value with any other character (homoglyphs,
control characters, non-ASCII whitespace) is ``unknown_category``.

This module imports numpy only: it runs in the Lambda image.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter, le
from typing import Any

import numpy as np

UNKNOWN = "Unknown"
UNKNOWN_ALIASES = frozenset({"unknown", "desconhecido"})
PLACEHOLDERS = frozenset({"", "_", "_______", "!@9#%8", "nan", "none", "null", "na", "n/a"})
# A numeric "nan" reads as not-a-number, as a JSON NaN does; for categories it is a placeholder.
_NUMERIC_PLACEHOLDERS = PLACEHOLDERS - {"nan"}

MISSING = "missing"
NOT_A_NUMBER = "not_a_number"
NOT_A_WHOLE_NUMBER = "not_a_whole_number"
OUT_OF_DOMAIN = "out_of_domain"
UNKNOWN_CATEGORY = "unknown_category"
NOT_A_STRING = "not_a_string"
DUPLICATE_FIELD = "duplicate_field"
PROBLEM_KINDS = (
    MISSING,
    NOT_A_NUMBER,
    NOT_A_WHOLE_NUMBER,
    OUT_OF_DOMAIN,
    UNKNOWN_CATEGORY,
    NOT_A_STRING,
    DUPLICATE_FIELD,
)

# The number grammar as regex fragments, valid alike for Python's re and ECMA-262 (JSON Schema).
DECIMAL = r"-?[0-9]+(?:\.[0-9]+)?"
RAW_SUFFIX = "_?"
DURATION = r"([0-9]+) +[Yy][Ee][Aa][Rr][Ss]? +[Aa][Nn][Dd] +([0-9]+) +[Mm][Oo][Nn][Tt][Hh][Ss]?"
DURATION_FIELD = "Credit_History_Age"


class _Marker:
    """A value JSON decoding puts in place of one the parsers must refuse with a specific problem."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


DUPLICATE = _Marker("DUPLICATE")  # the value of a key its JSON object repeats (which one won is unknowable)
OVERSIZED_INTEGER = _Marker("OVERSIZED_INTEGER")  # a JSON integer too long for int(): beyond every domain
ABSENT = _Marker("ABSENT")  # the value of a field the record does not hold (unlike null, which says "not known")


@dataclasses.dataclass(frozen=True)
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
# Where a count by field name puts a name outside the contract: a client's own key is customer data.
OTHER_FIELD = "_other"
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
NUMERIC_FIELDS: tuple[Field, ...] = tuple(f for f in FIELDS if f.is_numeric)
CATEGORICAL_FIELDS: tuple[Field, ...] = tuple(f for f in FIELDS if not f.is_numeric)

# ---------------------------------------------------------------- each field's credit direction: the one table

INCREASING = "increasing"  # more is better: a higher value can only raise the answer
DECREASING = "decreasing"  # more is worse: a higher value can only lower the answer
ORDERED = "ordered"  # a category with an order: its levels in ORDERED_LEVELS, worst first
# The credit officer's side of every field the model uses. Training constrains both boosters to it, the
# step test worsens each field its way, a reason's direction is read from it, and docs/model.md shows it.
CREDIT_DIRECTION: dict[str, str] = {
    "Annual_Income": INCREASING,
    "Monthly_Inhand_Salary": INCREASING,
    "Num_Bank_Accounts": DECREASING,
    "Num_Credit_Card": DECREASING,
    "Interest_Rate": DECREASING,
    "Num_of_Loan": DECREASING,
    "Delay_from_due_date": DECREASING,
    "Num_of_Delayed_Payment": DECREASING,
    "Changed_Credit_Limit": INCREASING,  # a limit raised more is the lender's own vote of confidence
    "Num_Credit_Inquiries": DECREASING,
    "Outstanding_Debt": DECREASING,
    "Credit_Utilization_Ratio": DECREASING,
    "Credit_History_Age": INCREASING,
    "Total_EMI_per_month": DECREASING,
    "Amount_invested_monthly": INCREASING,
    "Monthly_Balance": INCREASING,
    "Credit_Mix": ORDERED,
    "Payment_of_Min_Amount": ORDERED,
}
# Worst to best. A level not listed (Unknown; NM, "not mentioned") is no information, so it is missing.
ORDERED_LEVELS: dict[str, tuple[str, ...]] = {
    "Credit_Mix": ("Bad", "Standard", "Good"),
    "Payment_of_Min_Amount": ("Yes", "No"),
}
# Validated and captured (fairness monitoring reads Age) but never scored, and why.
OUTSIDE_MODEL: dict[str, str] = {
    "Age": "Regulation B 1002.6(b)(2): age may never count against an applicant aged 62 or more; no measurable gain",
    "Occupation": "no defensible credit direction",
    "Payment_Behaviour": "no defensible credit direction",
}
MODEL_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.name in CREDIT_DIRECTION)
# The model's columns: one per used field, in FIELDS order; an ordered category is its level's rank.
FEATURE_NAMES: tuple[str, ...] = MODEL_FIELDS


class FieldError(ValueError):
    """A value that cannot be used for ``field``; ``problem`` is one of PROBLEM_KINDS."""

    def __init__(self, field_name: str, problem: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.problem = problem
        self.message = message


@dataclasses.dataclass(frozen=True)
class FieldProblem:
    """A field-level validation problem; never carries the submitted value."""

    field: str
    problem: str
    message: str
    index: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "index": self.index, "problem": self.problem, "message": self.message}


# ---------------------------------------------------------------- parsed records: 17 numbers and 4 level codes

NUMERIC_NAMES: tuple[str, ...] = tuple(f.name for f in NUMERIC_FIELDS)
CATEGORICAL_NAMES: tuple[str, ...] = tuple(f.name for f in CATEGORICAL_FIELDS)
# Every level of every category numbered once, in CATEGORICAL_FIELDS order: the parser reports a
# record's categories as these codes (one per categorical field).
_LEVEL_STARTS = np.cumsum([0] + [len(f.levels) for f in CATEGORICAL_FIELDS]).tolist()
LEVEL_CODES: tuple[dict[str, int], ...] = tuple(
    {level: start + position for position, level in enumerate(f.levels)}
    for f, start in zip(CATEGORICAL_FIELDS, _LEVEL_STARTS, strict=False)
)
LEVEL_OF_CODE: dict[int, str] = {code: level for table in LEVEL_CODES for level, code in table.items()}
_LEVEL_CODES_BY_NAME = dict(zip(CATEGORICAL_NAMES, LEVEL_CODES, strict=True))
_NUMERIC_POSITION = {name: position for position, name in enumerate(NUMERIC_NAMES)}
_CATEGORY_POSITION = {name: position for position, name in enumerate(CATEGORICAL_NAMES)}

# The model's columns from a parsed record: numbers as they are, an ordered category as its rank.
_MODEL_NUMBERS = tuple(_NUMERIC_POSITION[name] for name in FEATURE_NAMES if name in _NUMERIC_POSITION)
_MODEL_CATEGORIES = tuple(_CATEGORY_POSITION[name] for name in FEATURE_NAMES if name in _CATEGORY_POSITION)
if tuple(NUMERIC_NAMES[p] for p in _MODEL_NUMBERS) != FEATURE_NAMES[: len(_MODEL_NUMBERS)]:
    raise RuntimeError("encode_rows writes the model's numbers first: FEATURE_NAMES must list them first")
_RANKS = [
    float(ORDERED_LEVELS[f.name].index(level)) if level in ORDERED_LEVELS.get(f.name, ()) else math.nan
    for f in CATEGORICAL_FIELDS
    for level in f.levels
]  # per level code: the level's rank in its ordered category, NaN for a level without one
_RANK_OF_CODE = np.array(_RANKS)


# ---------------------------------------------------------------- every rule, in one place


def _spellings(f: Field, columns: Mapping[str, int]) -> dict[str, int]:
    """Accepted spellings of ``f`` (canonical, lower case, Unknown aliases) → the level's code."""
    table = {level: columns[level] for level in f.categories}
    table.update({level.lower(): columns[level] for level in f.categories})
    if f.allows_unknown:
        table.update({alias: columns[UNKNOWN] for alias in UNKNOWN_ALIASES | PLACEHOLDERS})
        table[UNKNOWN] = columns[UNKNOWN]
    return table


def _picker(positions: tuple[int, ...]) -> Callable[[Sequence[float]], tuple[float, ...]]:
    """``row → tuple of row[p] for p in positions``, as fast as itemgetter, whatever the count."""
    if len(positions) > 1:
        return itemgetter(*positions)
    if positions:
        only = positions[0]
        return lambda row: (row[only],)
    return lambda row: ()


@dataclasses.dataclass(frozen=True, eq=False)
class Rules:
    """Every parsing and domain rule, as the tables the strict parser and the fast path both read.

    Built once from :data:`FIELDS` and the grammar fragments above; the OpenAPI patterns are
    :attr:`patterns`. ``decimal`` must hold no capturing group (the duration's two are the years
    and the months). Nothing else states a rule: an altered copy (``dataclasses.replace``) put in
    place of :data:`RULES` changes the served answers accordingly.
    """

    minimum: tuple[float, ...]  # per numeric field, NUMERIC_FIELDS order, inclusive
    maximum: tuple[float, ...]
    whole: tuple[int, ...]  # positions of the whole-number fields
    spellings: tuple[Mapping[str, int], ...]  # per categorical field: accepted spelling → level code
    decimal: str = DECIMAL
    suffix: str = RAW_SUFFIX
    duration: str = DURATION  # "" when the duration form is not accepted

    # derived in __post_init__: the published, anchored pattern of each numeric field's strings and
    # the matchers built from the fragments (``are_decimals`` matches comma-joined decimals)
    patterns: tuple[str, ...] = dataclasses.field(init=False, repr=False)
    matchers: tuple[Callable[[str], re.Match[str] | None], ...] = dataclasses.field(init=False, repr=False)
    is_decimal: Callable[[str], re.Match[str] | None] = dataclasses.field(init=False, repr=False)
    are_decimals: Callable[[str], re.Match[str] | None] = dataclasses.field(init=False, repr=False)
    whole_values: Callable[[Sequence[float]], tuple[float, ...]] = dataclasses.field(init=False, repr=False)
    tables: tuple[tuple[str, Mapping[str, int]], ...] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        patterns = tuple(self._pattern(name) for name in NUMERIC_NAMES)
        derived = {
            "patterns": patterns,
            "matchers": tuple(re.compile(pattern).fullmatch for pattern in patterns),
            "is_decimal": re.compile(self.decimal).fullmatch,
            # possessive: a decimal never holds a comma, so giving an item back can never help
            "are_decimals": re.compile(f"(?:{self.decimal},)*+{self.decimal}").fullmatch,
            "whole_values": _picker(self.whole),
            "tables": tuple(zip(CATEGORICAL_NAMES, self.spellings, strict=True)),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    def _pattern(self, name: str) -> str:
        number = f"({self.decimal}){self.suffix}"
        if name == DURATION_FIELD and self.duration:
            number += "|" + self.duration
        return f"^(?:{number})$"


RULES = Rules(
    minimum=tuple(f.minimum for f in NUMERIC_FIELDS),  # type: ignore[misc]
    maximum=tuple(f.maximum for f in NUMERIC_FIELDS),  # type: ignore[misc]
    whole=tuple(position for position, f in enumerate(NUMERIC_FIELDS) if f.integer),
    spellings=tuple(_spellings(f, codes) for f, codes in zip(CATEGORICAL_FIELDS, LEVEL_CODES, strict=True)),
)


def number_pattern(f: Field) -> str:
    """The published pattern of ``f``'s numeric strings (JSON Schema ``pattern``, ECMA-262): the parser's own."""
    return RULES.patterns[_NUMERIC_POSITION[f.name]]


# ---------------------------------------------------------------- the strict parser, value by value


def _domain_text(f: Field) -> str:
    kind = "a whole number" if f.integer else "a number"
    unit = f" {f.unit}" if f.unit and f.unit not in ("count", "currency") else ""
    return f"must be {kind} between {f.minimum:.15g} and {f.maximum:.15g}{unit}"


def _required_text(f: Field) -> str:
    return f"is required; {_domain_text(f)}, or null when not known"


def _allowed_text(f: Field) -> str:
    return "must be one of: " + ", ".join(f.levels)


_DUPLICATE_TEXT = "is given more than once; send each field once"


_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*").fullmatch


def spelling(text: str) -> str | None:
    """The one normalisation a category spelling gets: surrounding ASCII spaces dropped, ASCII letters
    lower-cased. ``None`` for anything holding a character outside printable ASCII (a homoglyph such as
    the Kelvin sign, a control character, non-ASCII whitespace): compared only on exact ASCII spellings,
    it can never match (``str.lower`` would turn U+212A into ``k``, ``str.strip`` drop U+3000 or \\x1f).
    """
    if not text.isascii() or _PRINTABLE_ASCII(text) is None:
        return None
    return text.strip(" ").lower()


def _is_placeholder(text: str, placeholders: frozenset[str]) -> bool:
    stripped = spelling(text)
    if stripped is None:
        return False
    return stripped in placeholders or (len(stripped) > 4 and stripped.startswith("__") and stripped.endswith("__"))


def _read_string(rules: Rules, position: int, f: Field, text: str) -> float:
    """A numeric string read by the grammar: a decimal (raw-data suffix allowed) or, for one field, a duration."""
    match = rules.matchers[position](text)
    if match is None:
        if _is_placeholder(text, _NUMERIC_PLACEHOLDERS):
            raise FieldError(f.name, MISSING, _required_text(f))
        raise FieldError(f.name, NOT_A_NUMBER, _domain_text(f))
    decimal = match.group(1)
    if decimal is not None:
        return float(decimal)  # hundreds of digits give inf: out of every domain
    try:
        return float(int(match.group(2)) * 12 + int(match.group(3)))
    except (ValueError, OverflowError):  # thousands of digits: beyond any domain
        raise FieldError(f.name, OUT_OF_DOMAIN, _domain_text(f)) from None


def parse_number(f: Field, raw: Any) -> float:
    """Return the value of numeric field ``f`` (NaN for JSON ``null``: not known) or raise :class:`FieldError`."""
    rules = RULES
    position = _NUMERIC_POSITION[f.name]
    kind = type(raw)
    if kind is float or kind is int:
        try:
            value = float(raw)
        except OverflowError:  # a JSON integer beyond float's range
            raise FieldError(f.name, OUT_OF_DOMAIN, _domain_text(f)) from None
        if not math.isfinite(value):  # JSON's NaN and Infinity
            raise FieldError(f.name, NOT_A_NUMBER, _domain_text(f))
    elif kind is str:
        value = _read_string(rules, position, f, raw)
    elif raw is None:
        return math.nan
    elif raw is ABSENT:
        raise FieldError(f.name, MISSING, _required_text(f))
    elif raw is DUPLICATE:
        raise FieldError(f.name, DUPLICATE_FIELD, _DUPLICATE_TEXT)
    elif raw is OVERSIZED_INTEGER:
        raise FieldError(f.name, OUT_OF_DOMAIN, _domain_text(f))
    else:  # bool, list, dict, ...
        raise FieldError(f.name, NOT_A_NUMBER, _domain_text(f))
    if not rules.minimum[position] <= value <= rules.maximum[position]:
        raise FieldError(f.name, OUT_OF_DOMAIN, _domain_text(f))
    if position in rules.whole and not value.is_integer():
        raise FieldError(f.name, NOT_A_WHOLE_NUMBER, _domain_text(f))
    return value


def _category_column(f: Field, raw: Any) -> int:
    if raw is None or raw is ABSENT:
        unknown = f"; {UNKNOWN} when not known" if f.allows_unknown else ""
        raise FieldError(f.name, MISSING, f"is required; {_allowed_text(f)}{unknown}")
    if raw is DUPLICATE:
        raise FieldError(f.name, DUPLICATE_FIELD, _DUPLICATE_TEXT)
    if type(raw) is not str:
        raise FieldError(f.name, NOT_A_STRING, _allowed_text(f))
    table = RULES.spellings[_CATEGORY_POSITION[f.name]]
    column = table.get(raw)
    if column is None:
        column = table.get(spelling(raw))  # type: ignore[arg-type] # None is never a key
    if column is None:
        if _is_placeholder(raw, PLACEHOLDERS):
            raise FieldError(f.name, MISSING, f"is required; {_allowed_text(f)}")
        raise FieldError(f.name, UNKNOWN_CATEGORY, _allowed_text(f))
    return column


def parse_category(f: Field, raw: Any) -> str:
    """Return the canonical category of field ``f`` or raise :class:`FieldError`."""
    return LEVEL_OF_CODE[_category_column(f, raw)]


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
            values[name] = parser(f, get(name, ABSENT))
        except FieldError as error:
            problems.append(FieldProblem(name, error.problem, f"{name} {error.message}", index))
    return values, problems


# ---------------------------------------------------------------- the batch parser the service uses

_SMALL_BATCH = 8  # below this, plain Python checks beat numpy's per-call overhead
_PLAIN_MISSES = (KeyError, TypeError, ValueError, OverflowError)


def _read_plain(rules: Rules, record: Mapping[str, Any]) -> tuple[list[float] | None, list[int]]:
    """The numbers and level codes of a record of plain decimals and exact spellings, else ``None``.

    Plain means the grammar's decimals (read by one match over the comma-joined strings: a comma
    inside a value makes ``float`` refuse it) or JSON numbers; domains are checked afterwards.
    """
    get = record.get
    raw = list(map(get, NUMERIC_NAMES))
    try:
        columns = [table[get(name)] for name, table in rules.tables]
        try:
            joined = ",".join(raw)
        except TypeError:  # not all strings: JSON numbers, perhaps mixed with strings
            for value in raw:
                kind = type(value)
                if kind is str:
                    if rules.is_decimal(value) is None:
                        return None, []
                elif kind is not float and kind is not int:  # None, bool, list, dict, markers
                    return None, []
        else:
            if rules.are_decimals(joined) is None:
                return None, []
        return list(map(float, raw)), columns
    except _PLAIN_MISSES:
        return None, []


def _inside(rules: Rules, row: list[float]) -> bool:
    """Every number inside its domain (NaN never is) and whole where the field says so."""
    return (
        all(map(le, rules.minimum, row))
        and all(map(le, row, rules.maximum))
        and all(map(float.is_integer, rules.whole_values(row)))
    )


def _outside(rules: Rules, rows: list[list[float] | None]) -> list[int]:
    """Indexes of the rows the plain reading could not vouch for: unread, or a number outside its domain."""
    if None not in rows:
        unread: list[int] = []
        read: Sequence[int] = range(len(rows))
    else:
        unread = [index for index, row in enumerate(rows) if row is None]
        read = [index for index, row in enumerate(rows) if row is not None]
        if not read:
            return unread
    if len(read) <= _SMALL_BATCH:
        bad = [index for index in read if not _inside(rules, rows[index])]  # type: ignore[arg-type]
    else:
        numeric = np.array([rows[index] for index in read] if unread else rows, dtype=np.float64)
        inside = ((numeric >= np.array(rules.minimum)) & (numeric <= np.array(rules.maximum))).all(axis=1)
        if rules.whole:
            whole = numeric[:, list(rules.whole)]
            inside &= (whole == np.floor(whole)).all(axis=1)
        bad = [read[i] for i in np.flatnonzero(~inside).tolist()]
    return sorted(unread + bad) if unread else bad


def parse_batch(records: Sequence[Mapping[str, Any]]) -> tuple[list[list[float]], list[list[int]], list[FieldProblem]]:
    """Parse request records: the 17 numbers and 4 level codes of each, and every problem of all.

    Records of plain decimals and exact spellings are read in bulk; :func:`parse_record` reads
    the rest and has the last word, so both give the same answer from the same :data:`RULES`.
    When problems are returned (in record order) the rows of the refused records are ``None``.
    """
    rules = RULES
    rows: list[list[float] | None] = []
    columns: list[list[int]] = []
    for record in records:
        row, levels = _read_plain(rules, record)
        rows.append(row)
        columns.append(levels)
    problems: list[FieldProblem] = []
    for index in _outside(rules, rows):
        values, found = parse_record(records[index], index)
        if found:
            problems.extend(found)
            continue
        rows[index] = [values[name] for name in NUMERIC_NAMES]  # type: ignore[misc]
        columns[index] = [table[values[name]] for name, table in _LEVEL_CODES_BY_NAME.items()]  # type: ignore[index]
    return rows, columns, problems  # type: ignore[return-value]


def missing_fields(row: Sequence[float]) -> list[str]:
    """The numeric fields of one parsed record sent as ``null`` (NaN), in FIELDS order."""
    total = sum(row)  # NaN exactly when one is: every other value is finite and inside its domain
    if total == total:
        return []
    return [name for name, value in zip(NUMERIC_NAMES, row, strict=True) if value != value]


def normalised(row: Sequence[float], columns: Sequence[int]) -> dict[str, float | int | str | None]:
    """The normalised input of one parsed record (whole-number fields as ints, canonical levels, ``None``
    for a number sent as ``null``), for capture."""
    record: dict[str, float | int | str | None] = dict(zip(NUMERIC_NAMES, row, strict=True))
    for position in RULES.whole:
        value = row[position]
        record[NUMERIC_NAMES[position]] = int(value) if value == value else None
    for name in missing_fields(row):
        record[name] = None
    record.update(zip(CATEGORICAL_NAMES, map(LEVEL_OF_CODE.__getitem__, columns), strict=True))
    return record


def clean_value(f: Field, raw: Any) -> float | str | None:
    """Lenient parse for training: anything serving would reject becomes missing.

    Missing numbers are ``None`` (a ``None`` read as NaN included); missing categories become Unknown where
    the field has that bucket, else ``None``.
    """
    try:
        value = parse_value(f, raw)
        return None if value != value else value
    except FieldError:
        if f.is_numeric:
            return None
        return UNKNOWN if f.allows_unknown else None


def encode_fields(records: Sequence[Mapping[str, float | str | None]]) -> np.ndarray:
    """Parsed records → all 21 fields as float64 columns in FIELD_NAMES order, for profiles and monitoring.

    Numbers as they are, a category as its level's position in :attr:`Field.levels`; NaN when missing.
    """
    positions = {f.name: {level: float(p) for p, level in enumerate(f.levels)} for f in CATEGORICAL_FIELDS}
    matrix = np.empty((len(records), len(FIELDS)), dtype=np.float64)
    for row, record in enumerate(records):
        matrix[row] = [
            _nan_if_none(record.get(f.name)) if f.is_numeric else positions[f.name].get(record.get(f.name), math.nan)  # type: ignore[arg-type]
            for f in FIELDS
        ]
    return matrix


def model_matrix(fields: np.ndarray) -> np.ndarray:
    """:func:`encode_fields`' matrix → the model's float32 columns (FEATURE_NAMES): used fields, ranks."""
    matrix = np.empty((len(fields), len(FEATURE_NAMES)), dtype=np.float32)
    for column, name in enumerate(FEATURE_NAMES):
        values = fields[:, FIELD_NAMES.index(name)]
        if name in ORDERED_LEVELS:
            start, end = _LEVEL_STARTS[_CATEGORY_POSITION[name] : _CATEGORY_POSITION[name] + 2]
            ranks = np.array([*_RANKS[start:end], math.nan])  # a missing level (NaN) takes the last, NaN
            values = ranks[np.where(np.isnan(values), end - start, values).astype(np.intp)]
        matrix[:, column] = values
    return matrix


def encode(records: Sequence[Mapping[str, float | str | None]]) -> np.ndarray:
    """Parsed records → the model's float32 matrix (FEATURE_NAMES); NaN where a used field is missing."""
    return model_matrix(encode_fields(records))


_pick_model_numbers = _picker(_MODEL_NUMBERS)


def encode_rows(rows: Sequence[list[float]], columns: Sequence[Sequence[int]]) -> np.ndarray:
    """:func:`parse_batch`'s rows and level codes → the same float32 matrix :func:`encode` gives."""
    if len(rows) <= _SMALL_BATCH:  # numpy's per-call overhead outweighs the work for a few rows
        numbers, ranks, categories = _pick_model_numbers, _RANKS, _MODEL_CATEGORIES
        encoded = [
            [*numbers(row), *[ranks[codes[p]] for p in categories]] for row, codes in zip(rows, columns, strict=True)
        ]
        return np.array(encoded, dtype=np.float32).reshape(len(rows), len(FEATURE_NAMES))
    matrix = np.empty((len(rows), len(FEATURE_NAMES)), dtype=np.float32)
    matrix[:, : len(_MODEL_NUMBERS)] = np.asarray(rows, dtype=np.float64)[:, _MODEL_NUMBERS]
    matrix[:, len(_MODEL_NUMBERS) :] = _RANK_OF_CODE[np.asarray(columns, dtype=np.intp)[:, _MODEL_CATEGORIES]]
    return matrix


def _nan_if_none(value: Any) -> float:
    return math.nan if value is None else value


def schema() -> list[dict[str, Any]]:
    """The field definitions as JSON, for the bundle's metadata and the API description."""
    return [f.to_dict() for f in FIELDS]
