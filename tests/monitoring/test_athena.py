"""The Athena SQL: run on SQLite over the same captured records, it gives the Python job's PSI."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from credit_score.contract.bundle import load_bundle
from credit_score.contract.capture import RECORD_FIELDS, object_key
from credit_score.contract.fields import FIELDS
from credit_score.monitoring.athena import athena_source, ddl, main, partition_predicate, psi_query
from credit_score.monitoring.cli import EXIT_ERROR
from credit_score.monitoring.cli import main as drift_main
from credit_score.monitoring.reader import Window
from credit_score.monitoring.stats import Reference
from tests.monitoring.conftest import MODEL, dated_records, lines

TODAY = datetime.now(UTC).date()


def sqlite_with_math() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("SELECT ln(2.0), json_extract('{\"a\": 1}', '$.a')").fetchone()
    except sqlite3.OperationalError:
        pytest.skip(f"SQLite {sqlite3.sqlite_version} lacks ln() or JSON functions (needs 3.35+ with math functions)")
    return connection


def sqlite_source() -> str:
    """What the Athena table gives, flattened from raw JSON lines with SQLite's json_extract."""
    columns = ", ".join(f"json_extract(line, '$.input.{f.name}') AS \"{f.name}\"" for f in FIELDS)
    return (
        "SELECT json_extract(line, '$.inference_id') AS inference_id, json_extract(line, '$.timestamp') AS ts, "  # noqa: S608
        f"{columns}, json_extract(line, '$.prediction') AS prediction FROM capture_lines"
    )


@pytest.fixture(scope="module")
def capture(captures, tmp_path_factory) -> Path:
    """The shifted population, one copy of a file (duplicates) and records of a day outside the window."""
    root = tmp_path_factory.mktemp("athena") / "capture"
    shutil.copytree(captures.shifted, root)
    first = sorted(root.rglob("*.jsonl"))[0]
    shutil.copy(first, first.with_name("copy-" + first.name))
    old = datetime.combine(TODAY - timedelta(days=3), datetime.min.time(), UTC)
    outside = root / object_key(MODEL, "3", old, "old")
    outside.parent.mkdir(parents=True)
    outside.write_bytes(lines(dated_records(300, old, seed=8)))
    return root


def test_given_the_same_records_when_the_sql_runs_on_sqlite_then_psi_equals_the_python_job(captures, capture, tmp_path):
    report = tmp_path / "report.json"
    since, until = str(TODAY - timedelta(days=1)), str(TODAY + timedelta(days=1))
    drift_main(["--capture", str(capture), "--bundle", str(captures.bundle), "--json", str(report),
                "--since", since, "--until", until])  # fmt: skip
    document = json.loads(report.read_text())
    connection = sqlite_with_math()
    connection.execute("CREATE TABLE capture_lines (line TEXT)")
    raw = [line for path in capture.rglob("*.jsonl") for line in path.read_text().splitlines()]
    connection.executemany("INSERT INTO capture_lines VALUES (?)", [(line,) for line in raw])
    reference = Reference.from_profile(load_bundle(captures.bundle).metadata["reference_profile"])

    rows = connection.execute(psi_query(reference, sqlite_source(), Window.parse(since, until))).fetchall()

    by_feature = {name: (n, value) for name, n, value in rows}
    assert document["counts"]["duplicates"] > 0
    assert document["counts"]["outside_window"] == 0
    assert len(raw) > document["counts"]["compared"]  # the copies and the old day are in the table too
    for entry in [*document["features"], document["prediction_mix"]]:
        n, value = by_feature.pop(entry["name"])
        assert n == entry["rows"], entry["name"]
        assert value == pytest.approx(entry["psi"], rel=1e-9, abs=1e-12), entry["name"]
    assert by_feature == {}


def test_given_a_window_across_months_when_pruned_then_exactly_its_days_match(tmp_path):
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE partitions (model TEXT, version TEXT, year TEXT, month TEXT, day TEXT)")
    days = [date(2024, 12, 1) + timedelta(days=n) for n in range(120)]
    rows = [(m, v, f"{d:%Y}", f"{d:%m}", f"{d:%d}") for d in days for m in (MODEL, "other") for v in ("3", "4")]
    connection.executemany("INSERT INTO partitions VALUES (?, ?, ?, ?, ?)", rows)
    window = Window.parse("2025-01-30", "2025-03-02")

    where = partition_predicate(window, model_name=MODEL, model_version="3")
    found = connection.execute(f"SELECT model, version, year, month, day FROM partitions WHERE {where}").fetchall()  # noqa: S608

    assert {(m, v) for m, v, *_ in found} == {(MODEL, "3")}
    assert [date(int(y), int(m), int(d)) for *_, y, m, d in found] == window.days()


def test_given_the_ddl_when_its_location_template_is_filled_then_it_is_the_capture_key_layout():
    text = ddl("s3://capture-bucket/capture/", table="monitoring.capture")
    when = datetime(2025, 5, 2, 7, 3, 4, tzinfo=UTC)

    template = re.search(r"'storage.location.template' = '([^']+)'", text).group(1)
    values = {"model": MODEL, "version": "3", "year": "2025", "month": "05", "day": "02", "hour": "07"}
    for key, value in values.items():
        template = template.replace("${" + key + "}", value)

    assert template == "s3://capture-bucket/capture/" + object_key(MODEL, "3", when, "r").rsplit("/", 1)[0] + "/"
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS monitoring.capture" in text
    for field in FIELDS:
        assert f"{field.name}:{'double' if field.is_numeric else 'string'}" in text
    for key in values:
        assert f"'projection.{key}.type'" in text
    for key in ("month", "day", "hour"):
        assert f"'projection.{key}.digits' = '2'" in text


@pytest.mark.parametrize(
    "call",
    [
        lambda w: athena_source(w, model_name="x' OR '1'='1", model_version="3"),
        lambda w: athena_source(w, model_name=MODEL, model_version="3", table="capture; DROP TABLE x"),
        lambda w: ddl("s3://bucket/it's"),
        lambda w: ddl("/local/folder"),
    ],
)
def test_given_unsafe_names_when_building_sql_then_refused(call):
    with pytest.raises(ValueError, match="must"):
        call(Window.parse("2025-05-01", "2025-05-02"))


def test_given_the_query_command_when_run_then_one_statement_on_the_athena_table(captures, capsys):
    code = main(["query", "--since", "2025-05-01", "--until", "2025-05-07", "--model-name", MODEL, "--model-version",
                 "3", "--bundle", str(captures.bundle), "--table", "monitoring.capture"])  # fmt: skip

    out = capsys.readouterr().out
    assert code == 0
    assert out.count(";") == 1
    assert out.rstrip().endswith(";")
    assert "FROM monitoring.capture" in out
    assert 'input.annual_income AS "Annual_Income"' in out
    assert "day IN ('01', '02', '03', '04', '05', '06', '07')" in out


def test_given_commands_when_run_with_bad_input_then_exit_four(capsys):
    assert main(["ddl", "--location", "/local/folder"]) == EXIT_ERROR
    assert main(["query", "--since", "2025-05-01", "--until", "2025-05-07", "--model-name", MODEL,
                 "--model-version", "3", "--bundle", "/no/such/bundle"]) == EXIT_ERROR  # fmt: skip
    assert capsys.readouterr().err.count("error") == 2


def test_given_the_ddl_when_its_columns_are_read_then_every_capture_record_field_in_order():
    text = ddl("s3://capture-bucket/capture/")
    body = text[text.index("(\n") + 2 : text.index("\n)\nPARTITIONED")]
    columns = [line.strip().split(" ", 1)[0].strip("`") for line in body.splitlines() if line.startswith("  `")]
    assert tuple(columns) == RECORD_FIELDS
    assert "`correlation_id` string" in text
