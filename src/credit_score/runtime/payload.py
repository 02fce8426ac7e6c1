"""The accepted payload shapes, turned into validated records encoded for the model.

Shapes (values as strings or numbers; keys other than the 21 fields are ignored, never echoed):

* ``{"data": {...}}`` — one record, answered with one prediction (the seed's contract);
* ``{"data": [{...}, ...]}``, ``{"dataframe_records": [{...}, ...]}``, ``{"instances": [{...}, ...]}``,
  ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`` — a batch (MLflow scoring shapes).

Validation is :func:`credit_score.contract.fields.parse_record`'s. Clean records (plain numbers inside their
domains, categories spelt as canonical levels) take a vectorised path with exactly the same result;
any record it cannot vouch for goes through ``parse_record`` itself, which either accepts it (raw-data
spellings such as ``"52312.68_"``) or reports its problems. All problems of all records are reported
at once, in record order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter, le
from typing import Any

import numpy as np

from credit_score.contract.fields import CATEGORICAL_FIELDS, FEATURE_NAMES, NUMERIC_FIELDS, FieldProblem, parse_record
from credit_score.runtime.errors import BadRequest, PayloadTooLarge, ValidationFailed

SHAPES = ("data", "dataframe_records", "dataframe_split", "instances")
_SHAPE_HINT = "the payload must be a JSON object with one of: " + ", ".join(SHAPES)

_NUMERIC_NAMES = tuple(f.name for f in NUMERIC_FIELDS)
_CATEGORY_NAMES = tuple(f.name for f in CATEGORICAL_FIELDS)
_MINIMUM = np.array([f.minimum for f in NUMERIC_FIELDS])
_MAXIMUM = np.array([f.maximum for f in NUMERIC_FIELDS])
_WHOLE = np.array([i for i, f in enumerate(NUMERIC_FIELDS) if f.integer])
_COLUMNS: tuple[dict[str, int], ...] = tuple(
    {level: FEATURE_NAMES.index(f"{f.name}={level}") for level in f.levels} for f in CATEGORICAL_FIELDS
)
_LEVEL_OF_COLUMN: dict[int, str] = {column: level for table in _COLUMNS for level, column in table.items()}
_TABLES = tuple(zip(_CATEGORY_NAMES, _COLUMNS, strict=True))
_MINIMUM_LIST = _MINIMUM.tolist()
_MAXIMUM_LIST = _MAXIMUM.tolist()
_WHOLE_LIST = _WHOLE.tolist()
_WHOLE_NAMES = tuple(_NUMERIC_NAMES[i] for i in _WHOLE_LIST)
_whole_values = itemgetter(*_WHOLE_LIST)
_ONE_HOT_ZEROS = [0.0] * (len(FEATURE_NAMES) - len(_NUMERIC_NAMES))
_SMALL_BATCH = 8  # below this, plain Python checks beat numpy's per-call overhead
_FAST_PATH_MISSES = (KeyError, TypeError, ValueError, OverflowError)


@dataclass(frozen=True, slots=True)
class Batch:
    """Validated records: ``rows`` the 17 numbers of each, ``columns`` the one-hot column of each of its
    4 categories, ``matrix`` (n, 47) float32 in FEATURE_NAMES order for the model."""

    single: bool
    rows: list[list[float]]
    columns: list[list[int]]
    matrix: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def records(self) -> list[dict[str, float | int | str]]:
        """The normalised input of each record (whole-number fields as ints), for capture."""
        out = []
        for values, columns in zip(self.rows, self.columns, strict=True):
            record: dict[str, float | int | str] = dict(zip(_NUMERIC_NAMES, values, strict=True))
            for name in _WHOLE_NAMES:
                record[name] = int(record[name])
            record.update(zip(_CATEGORY_NAMES, (_LEVEL_OF_COLUMN[c] for c in columns), strict=True))
            out.append(record)
        return out


def parse_json(raw: str | bytes) -> Any:
    """Decode a request body; 400 for anything that is not JSON (never quoting it)."""
    if not raw:
        raise BadRequest("the request body is empty; " + _SHAPE_HINT)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise BadRequest("the request body is not valid JSON") from None


def extract_records(payload: Any, max_batch_size: int) -> tuple[list[Any], bool]:
    """The records of a payload and whether it was the single-record shape; 400/413 on shape."""
    if not isinstance(payload, dict):
        raise BadRequest(_SHAPE_HINT)
    present = [key for key in SHAPES if key in payload]
    if len(present) != 1:
        raise BadRequest(_SHAPE_HINT if not present else "send only one of: " + ", ".join(SHAPES))
    key = present[0]
    value = payload[key]
    single = False
    if key == "data" and isinstance(value, dict):
        records, single = [value], True
    elif key == "dataframe_split":
        records = _split_records(value, max_batch_size)
    elif isinstance(value, list):
        records = value
    else:
        raise BadRequest(f"'{key}' must be a list of objects" + (" or one object" if key == "data" else ""))
    if not records:
        raise BadRequest(f"'{key}' holds no records")
    if len(records) > max_batch_size:
        raise PayloadTooLarge(f"a request may carry at most {max_batch_size} records")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise BadRequest(f"record {index} of '{key}' must be a JSON object of field names to values")
    return records, single


def _split_records(split: Any, max_batch_size: int) -> list[dict[str, Any]]:
    if not isinstance(split, dict):
        raise BadRequest("'dataframe_split' must be an object with 'columns' and 'data'")
    columns, rows = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not all(type(c) is str for c in columns) or not isinstance(rows, list):
        raise BadRequest("'dataframe_split' needs 'columns' (a list of field names) and 'data' (a list of rows)")
    if len(rows) > max_batch_size:
        raise PayloadTooLarge(f"a request may carry at most {max_batch_size} records")
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise BadRequest(f"row {index} of 'dataframe_split' must be a list as long as 'columns'")
    return [dict(zip(columns, row, strict=True)) for row in rows]


def validate(records: Sequence[Mapping[str, Any]], single: bool = False) -> Batch:
    """Parse and encode every record; :class:`ValidationFailed` with every problem otherwise."""
    rows: list[list[float] | None] = []
    columns: list[list[int]] = []
    for record in records:
        get = record.get
        try:
            raw = list(map(get, _NUMERIC_NAMES))
            row = list(map(float, raw))  # refuses None, lists, objects and junk text
            if bool in map(type, raw):  # float() would take true/false; parse_record refuses them
                raise TypeError
            columns.append([table[get(name)] for name, table in _TABLES])
        except _FAST_PATH_MISSES:
            rows.append(None)
            columns.append([])
            continue
        rows.append(row)
    outside = _outside(rows)
    if outside:
        _slow_path(records, rows, columns, outside)
    if len(rows) <= _SMALL_BATCH:
        encoded = []
        for row, levels in zip(rows, columns, strict=True):
            vector = row + _ONE_HOT_ZEROS  # type: ignore[operator]
            for column in levels:
                vector[column] = 1.0
            encoded.append(vector)
        matrix = np.array(encoded, dtype=np.float32)
    else:
        matrix = np.zeros((len(rows), len(FEATURE_NAMES)), dtype=np.float32)
        matrix[:, : len(_NUMERIC_NAMES)] = rows
        matrix[np.arange(len(rows))[:, None], np.array(columns, dtype=np.intp)] = 1.0
    return Batch(single, rows, columns, matrix)  # type: ignore[arg-type]


def _outside(rows: list[list[float] | None]) -> list[int]:
    """Indexes of the rows the fast path could not vouch for: unparsed, or a number out of its domain."""
    if None not in rows:
        unparsed: list[int] = []
        parsed: Sequence[int] = range(len(rows))
    else:
        unparsed = [index for index, row in enumerate(rows) if row is None]
        parsed = [index for index, row in enumerate(rows) if row is not None]
        if not parsed:
            return unparsed
    if len(parsed) <= _SMALL_BATCH:
        bad = [index for index in parsed if not _inside(rows[index])]  # type: ignore[arg-type]
    else:
        numeric = np.array([rows[index] for index in parsed] if unparsed else rows, dtype=np.float64)
        inside = ((numeric >= _MINIMUM) & (numeric <= _MAXIMUM)).all(axis=1)
        whole = numeric[:, _WHOLE]
        inside &= (whole == np.floor(whole)).all(axis=1)
        bad = [parsed[i] for i in np.flatnonzero(~inside).tolist()]
    return sorted(unparsed + bad) if unparsed else bad


def _inside(row: list[float]) -> bool:
    """Every number inside its domain (NaN never is) and whole where the field says so."""
    return (
        all(map(le, _MINIMUM_LIST, row))
        and all(map(le, row, _MAXIMUM_LIST))
        and all(map(float.is_integer, _whole_values(row)))
    )


def _slow_path(
    records: Sequence[Mapping[str, Any]], rows: list[list[float] | None], columns: list[list[int]], outside: list[int]
) -> None:
    """``parse_record`` for the records the fast path could not vouch for, filling ``rows`` in place."""
    problems: list[FieldProblem] = []
    for index in outside:
        values, found = parse_record(records[index], index)
        if found:
            problems.extend(found)
            continue
        rows[index] = [float(values[name]) for name in _NUMERIC_NAMES]
        columns[index] = [table[values[name]] for name, table in _TABLES]  # type: ignore[index]
    if problems:
        raise ValidationFailed(problems)


def prepare_payload(payload: Any, max_batch_size: int) -> Batch:
    """Payload (already decoded) → validated :class:`Batch`; 400, 413 or 422 otherwise."""
    records, single = extract_records(payload, max_batch_size)
    return validate(records, single)
