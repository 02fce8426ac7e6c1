"""The same PSI in SQL, for Athena over the Hive-partitioned capture when one machine is not enough.

    python -m credit_score.monitoring.athena ddl --location s3://bucket/prefix [--table credit_score_capture]
    python -m credit_score.monitoring.athena query --since DATE --until DATE --model-name NAME --model-version V
        [--table credit_score_capture] [--bundle model | --reference FILE]

``ddl`` is a ``CREATE EXTERNAL TABLE`` over the handler's capture objects (OpenX JSON SerDe) with
partition projection: ``model`` and ``version`` are *injected* (every query names them, as the one
below does), ``year``/``month``/``day``/``hour`` are projected integers, so no crawler or
``MSCK REPAIR`` is ever needed. ``query`` prints one statement that returns, per feature and for the
prediction mix, the number of values compared and the PSI against the reference profile: bins as
``CASE WHEN`` on the reference edges (the rule of ``stats``), counts per bin, a join with the
reference shares, and ``SUM((cur - ref) * LN(cur / ref))`` with the same epsilon floor. Copies of a
record (same ``inference_id``) count once. Verdicts and thresholds stay with the caller.

The statement sticks to what Trino (Athena engine v3) and SQLite (3.35+ with math functions) both
run: CTEs with column lists, ``VALUES``, ``CASE``, ``ROW_NUMBER() OVER``, ``substr``, ``CAST(… AS
DOUBLE)``, ``LN``, double literals in exponent form (a plain ``0.1`` would be a DECIMAL in Trino). The
tests run it on SQLite over the same records and compare it with the Python job's PSI.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import date

from credit_score.contract import capture
from credit_score.contract.bundle import BundleError
from credit_score.contract.decision import QUESTIONS
from credit_score.contract.fields import CATEGORICAL_FIELDS, FIELDS, NUMERIC_FIELDS
from credit_score.monitoring.reader import Window
from credit_score.monitoring.reference import load_reference
from credit_score.monitoring.report import EXIT_ERROR
from credit_score.monitoring.stats import EPSILON, LABELS, PREDICTION, Reference

DEFAULT_TABLE = "credit_score_capture"
FIRST_YEAR = 2024
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _double(value: float) -> str:
    return f"{value:.17e}"


def _table(name: str) -> str:
    if not _TABLE.fullmatch(name):
        raise ValueError("the table must be NAME or DATABASE.NAME (letters, digits, underscores)")
    return name


def record_columns() -> str:
    """One column per field of the capture record, in :data:`capture.RECORD_FIELDS` order."""
    inputs = ",\n    ".join(f"{f.name}:{'double' if f.is_numeric else 'string'}" for f in FIELDS)
    probabilities = ",".join(f"{label}:double" for label in LABELS)
    types = {
        capture.INPUT: f"struct<\n    {inputs}>",
        capture.PREDICTION: "int",
        capture.PROBABILITIES: f"struct<{probabilities}>",
        capture.REASONS: "array<string>",
        capture.DECISION: "struct<" + ",".join(f"{name}:struct<p:double,cutoff:double>" for name in QUESTIONS) + ">",
    }
    return ",\n".join(f"  `{name}` {types.get(name, 'string')}" for name in capture.RECORD_FIELDS)


def ddl(location: str, *, table: str = DEFAULT_TABLE, last_year: int = 2099) -> str:
    """The capture table, partitioned as ``credit_score.contract.capture.object_key`` writes."""
    if not location.startswith("s3://") or "'" in location:
        raise ValueError("the location must be an s3:// URI")
    root = location.rstrip("/") + "/"
    template = capture.projection_template(root)
    partitions = ", ".join(f"{name} string" for name in capture.PARTITIONS)
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS {_table(table)} (
{record_columns()}
)
PARTITIONED BY ({partitions})
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
LOCATION '{root}'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.model.type' = 'injected',
  'projection.version.type' = 'injected',
  'projection.year.type' = 'integer',
  'projection.year.range' = '{FIRST_YEAR},{last_year}',
  'projection.month.type' = 'integer',
  'projection.month.range' = '1,12',
  'projection.month.digits' = '2',
  'projection.day.type' = 'integer',
  'projection.day.range' = '1,31',
  'projection.day.digits' = '2',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = '{template}'
)"""


def _days_predicate(days: Sequence[date]) -> str:
    """Partition pruning: one ``year AND month AND day IN (...)`` group per month of the window."""
    months: dict[tuple[int, int], list[str]] = {}
    for day in days:
        months.setdefault((day.year, day.month), []).append(_text(f"{day.day:02d}"))
    groups = [
        f"(year = {_text(str(year))} AND month = {_text(f'{month:02d}')} AND day IN ({', '.join(values)}))"
        for (year, month), values in months.items()
    ]
    return "(" + " OR ".join(groups) + ")"


def partition_predicate(window: Window, *, model_name: str, model_version: str) -> str:
    """Static equalities on the injected keys, then the window's days: all Athena needs to prune."""
    if not _NAME.fullmatch(model_name) or not _NAME.fullmatch(model_version):
        raise ValueError("model name and version must be letters, digits, '.', '_' or '-'")
    return f"model = {_text(model_name)} AND version = {_text(model_version)} AND {_days_predicate(window.days())}"


def athena_source(window: Window, *, model_name: str, model_version: str, table: str = DEFAULT_TABLE) -> str:
    """The capture rows of one model version and the window's days, flattened for :func:`psi_query`."""
    where = partition_predicate(window, model_name=model_name, model_version=model_version)
    columns = ",\n    ".join(f'input.{f.name.lower()} AS "{f.name}"' for f in FIELDS)
    return f"""SELECT
    inference_id,
    "timestamp" AS ts,
    {columns},
    prediction
  FROM {_table(table)}
  WHERE {where}"""  # noqa: S608 - names checked, literals quoted


def _quoted(name: str) -> str:
    return f'"{name}"'


def _bin_case(name: str, edges: Sequence[float]) -> str:
    column = _quoted(name)
    steps = " ".join(f"WHEN {column} < {_double(edge)} THEN {index}" for index, edge in enumerate(edges))
    return f"CASE WHEN {column} IS NULL THEN NULL {steps} ELSE {len(edges)} END"


def _level_case(column: str, levels: Sequence[str | int]) -> str:
    steps = " ".join(
        f"WHEN {_text(level) if isinstance(level, str) else level} THEN {index}" for index, level in enumerate(levels)
    )
    return f"CASE {column} {steps} END"


def psi_query(reference: Reference, source: str, window: Window, *, epsilon: float = EPSILON) -> str:
    """PSI per feature and for the prediction mix; ``source`` yields inference_id, ts, the 21 fields, prediction."""
    selects = [
        f"SELECT {_text(f.name)} AS feature, {_bin_case(f.name, reference.numeric[f.name].edges)} AS bin"
        for f in NUMERIC_FIELDS
    ]
    selects += [
        f"SELECT {_text(f.name)} AS feature, {_level_case(_quoted(f.name), f.levels)} AS bin"
        for f in CATEGORICAL_FIELDS
    ]
    selects.append(f"SELECT {_text(PREDICTION)} AS feature, {_level_case('prediction', range(len(LABELS)))} AS bin")
    binned = "\n    UNION ALL\n    ".join(f"{select} FROM deduplicated" for select in selects)
    shares = [(f.name, reference.numeric[f.name].shares) for f in NUMERIC_FIELDS]
    shares += [(f.name, reference.categorical[f.name].shares) for f in CATEGORICAL_FIELDS]
    shares.append((PREDICTION, reference.prediction))
    values = ",\n    ".join(
        f"({_text(name)}, {index}, {_double(share)})" for name, row in shares for index, share in enumerate(row)
    )
    floor = _double(epsilon)
    fraction = "CAST(c.n AS DOUBLE) / t.total"
    return f"""WITH captured AS (
  {source}
),
windowed AS (
  SELECT * FROM captured
  WHERE substr(ts, 1, 19) >= {_text(window.low)} AND substr(ts, 1, 19) < {_text(window.high)}
    AND prediction IN (0, 1, 2)
),
ranked AS (
  SELECT windowed.*, ROW_NUMBER() OVER (PARTITION BY inference_id ORDER BY ts) AS copy FROM windowed
),
deduplicated AS (
  SELECT * FROM ranked WHERE copy = 1 OR inference_id IS NULL
),
binned AS (
    {binned}
),
current_counts AS (
  SELECT feature, bin, COUNT(*) AS n FROM binned WHERE bin IS NOT NULL GROUP BY feature, bin
),
totals AS (
  SELECT feature, SUM(n) AS total FROM current_counts GROUP BY feature
),
reference (feature, bin, share) AS (
  VALUES
    {values}
),
shares AS (
  SELECT
    r.feature AS feature,
    COALESCE(t.total, 0) AS total,
    CASE WHEN r.share < {floor} THEN {floor} ELSE r.share END AS ref,
    CASE WHEN c.n IS NULL OR {fraction} < {floor} THEN {floor} ELSE {fraction} END AS cur
  FROM reference r
  LEFT JOIN current_counts c ON c.feature = r.feature AND c.bin = r.bin
  LEFT JOIN totals t ON t.feature = r.feature
)
SELECT feature, MAX(total) AS n, SUM((cur - ref) * LN(cur / ref)) AS psi
FROM shares
GROUP BY feature
ORDER BY feature"""  # noqa: S608 - built from the profile's numbers and the fixed field names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m credit_score.monitoring.athena", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    table = commands.add_parser("ddl", help="CREATE EXTERNAL TABLE with partition projection")
    table.add_argument("--location", required=True, help="the capture prefix, s3://bucket/prefix")
    table.add_argument("--table", default=DEFAULT_TABLE)
    query = commands.add_parser("query", help="the PSI statement for one model version and window")
    query.add_argument("--since", required=True)
    query.add_argument("--until", required=True)
    query.add_argument("--model-name", required=True)
    query.add_argument("--model-version", required=True)
    query.add_argument("--table", default=DEFAULT_TABLE)
    source = query.add_mutually_exclusive_group()
    source.add_argument("--bundle", default="model")
    source.add_argument("--reference")
    args = parser.parse_args(argv)
    try:
        if args.command == "ddl":
            print(ddl(args.location, table=args.table) + ";")
            return 0
        window = Window.parse(args.since, args.until)
        reference, _ = load_reference(args.bundle, args.reference)
        source_sql = athena_source(
            window, model_name=args.model_name, model_version=args.model_version, table=args.table
        )
        print(psi_query(reference, source_sql, window) + ";")
    except (ValueError, OSError, BundleError) as error:  # ProfileError is a ValueError
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
