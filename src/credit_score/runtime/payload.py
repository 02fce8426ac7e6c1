"""The accepted payload shapes, turned into validated records encoded for the model.

Shapes (values as strings or numbers; keys other than the 21 fields are ignored, never echoed):

* ``{"data": {...}}`` — one record, answered with one prediction (the seed's contract);
* ``{"data": [{...}, ...]}``, ``{"dataframe_records": [{...}, ...]}``, ``{"instances": [{...}, ...]}``,
  ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`` — a batch (MLflow scoring shapes).

Parsing, validation and encoding are :mod:`credit_score.contract.fields`' (:func:`parse_batch`,
:func:`encode_rows`); this module only finds the records. All problems of all records are reported
at once, in record order. JSON decoding keeps what ``json.loads`` would hide: a key repeated in an
object becomes :data:`DUPLICATE` (a field problem in a record, a 400 for a shape key) and an integer
too long for ``int`` becomes :data:`OVERSIZED_INTEGER` (out of every domain), so the other problems
of the request are still reported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from credit_score.contract.fields import (
    DUPLICATE,
    OVERSIZED_INTEGER,
    encode_rows,
    missing_fields,
    normalised,
    parse_batch,
)
from credit_score.runtime.errors import BadRequest, PayloadTooLarge, ValidationFailed

SHAPES = ("data", "dataframe_records", "dataframe_split", "instances")
_SHAPE_HINT = "the payload must be a JSON object with one of: " + ", ".join(SHAPES)
_SPLIT_KEYS = ("columns", "data")


@dataclass(frozen=True, slots=True)
class Batch:
    """Validated records: ``rows`` the 17 numbers of each, ``columns`` the level code of each of its
    4 categories, ``matrix`` float32 in FEATURE_NAMES order for the model."""

    single: bool
    rows: list[list[float]]
    columns: list[list[int]]
    matrix: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def records(self) -> list[dict[str, float | int | str | None]]:
        """The normalised input of each record (whole-number fields as ints, ``None`` for null), for capture."""
        return [normalised(row, columns) for row, columns in zip(self.rows, self.columns, strict=True)]

    def missing(self) -> list[list[str]]:
        """Each record's numeric fields sent as ``null``: scored as missing values."""
        return [missing_fields(row) for row in self.rows]


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, each repeated key's value replaced by :data:`DUPLICATE`."""
    decoded = dict(pairs)
    if len(decoded) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                decoded[key] = DUPLICATE
            seen.add(key)
    return decoded


def _integer(text: str) -> int | object:
    try:
        return int(text)
    except ValueError:  # more digits than int() converts (4,300 by default)
        return OVERSIZED_INTEGER


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs)
_LONG_INTEGER_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_int=_integer)


def parse_json(raw: str | bytes) -> Any:
    """Decode a request body; 400 for anything that is not JSON (never quoting it)."""
    if not raw:
        raise BadRequest("the request body is empty; " + _SHAPE_HINT)
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass") if isinstance(raw, bytes) else raw
        try:
            return _DECODER.decode(text)
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer over int()'s digit limit: decoded again, marking it, off the warm path
            return _LONG_INTEGER_DECODER.decode(text)
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
    if value is DUPLICATE:
        raise BadRequest(f"'{key}' is given more than once; send it once")
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
    for key in _SPLIT_KEYS:
        if split.get(key) is DUPLICATE:
            raise BadRequest(f"'dataframe_split' has '{key}' more than once; send it once")
    columns, rows = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not all(type(c) is str for c in columns) or not isinstance(rows, list):
        raise BadRequest("'dataframe_split' needs 'columns' (a list of field names) and 'data' (a list of rows)")
    if len(rows) > max_batch_size:
        raise PayloadTooLarge(f"a request may carry at most {max_batch_size} records")
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise BadRequest(f"row {index} of 'dataframe_split' must be a list as long as 'columns'")
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    repeated = _repeated(columns)
    if repeated:  # a repeated column is a repeated key of every record
        for record in records:
            record.update(repeated)
    return records


def _repeated(names: list[str]) -> dict[str, Any]:
    """``{name: DUPLICATE}`` for each name the list holds more than once."""
    if len(set(names)) == len(names):
        return {}
    seen: set[str] = set()
    repeated: dict[str, Any] = {}
    for name in names:
        if name in seen:
            repeated[name] = DUPLICATE
        seen.add(name)
    return repeated


def validate(records: Sequence[Mapping[str, Any]], single: bool = False) -> Batch:
    """Parse and encode every record; :class:`ValidationFailed` with every problem otherwise."""
    rows, columns, problems = parse_batch(records)
    if problems:
        raise ValidationFailed(problems)
    return Batch(single, rows, columns, encode_rows(rows, columns))


def prepare_payload(payload: Any, max_batch_size: int) -> Batch:
    """Payload (already decoded) → validated :class:`Batch`; 400, 413 or 422 otherwise."""
    records, single = extract_records(payload, max_batch_size)
    return validate(records, single)
