"""Refused requests per day and problem kind, read from the handler's own log lines, never a value."""

from __future__ import annotations

import contextlib
import io
import json

import app
from credit_score.monitoring.cli import main
from credit_score.monitoring.quality import RequestLog, read_request_logs
from credit_score.runtime.config import Settings
from tests.monitoring.conftest import window
from tests.support.bundles import synthetic_records
from tests.support.lambda_context import LambdaContext


def handler_log(drift_bundle, capture) -> str:
    """Log lines of 6 answered and 4 refused requests through the real handler."""
    records = synthetic_records(10, seed=8)
    records[0]["Annual_Income"] = "-5"  # below the domain
    records[1]["Age"] = "abc"  # not a number
    records[2].pop("Credit_Mix")  # missing
    records[3]["Age"] = "abc"
    records[3]["Annual_Income"] = "-5"
    app.init(Settings.from_env({}, model_dir=drift_bundle, capture_uri=str(capture), metrics_enabled=False))
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            for number, record in enumerate(records):
                app.handler({"data": record}, LambdaContext(f"log-{number}"))
    finally:
        app._service = None
    return out.getvalue()


def test_given_the_handlers_log_when_read_then_refusals_by_day_and_kind_without_values(drift_bundle, tmp_path):
    text = handler_log(drift_bundle, tmp_path / "capture")
    exported = "\n".join(f"2025-05-01T00:00:00.000Z {line}" for line in text.splitlines())  # the export's prefix
    (tmp_path / "log.jsonl").write_text(exported + "\nnot json {\n")

    section = read_request_logs(str(tmp_path / "log.jsonl")).section()

    (day,) = section["by_day"].values()
    assert (day["requests"], day["refused"]) == (10, 4)
    assert sum(day["problems"].values()) == 5  # one request had two problems
    assert section["unreadable_lines"] == 1
    assert "-5" not in json.dumps(section)
    assert "abc" not in json.dumps(section)

    code = main(["--capture", str(tmp_path / "capture"), "--bundle", str(drift_bundle), *window(), "--min-rows", "1",
                 "--request-logs", str(tmp_path / "log.jsonl"), "--json", str(tmp_path / "r.json")])  # fmt: skip
    assert code < 4
    assert json.loads((tmp_path / "r.json").read_text())["data_quality"]["refusals"]["refused"] == 4


def test_given_lines_of_other_days_when_windowed_then_left_out(tmp_path) -> None:
    refused = {"message": "request", "status": 422, "problems": {"missing": 1}}
    lines = [
        json.dumps({**refused, "timestamp": f"{day}T10:00:00Z"}) for day in ("2025-05-01", "2025-05-02", "2025-05-08")
    ]
    lines.append(json.dumps({"message": "model_loaded", "timestamp": "2025-05-01T10:00:00Z"}))
    (tmp_path / "log").write_text("\n".join(lines))
    log = RequestLog()
    for line in lines:
        log.add_line(line)

    windowed = read_request_logs(str(tmp_path / "log"), since="2025-05-01T00:00:00", until="2025-05-08T00:00:00")

    assert set(log.section()["by_day"]) == {"2025-05-01", "2025-05-02", "2025-05-08"}
    assert set(windowed.section()["by_day"]) == {"2025-05-01", "2025-05-02"}
    assert log.section()["by_day"]["2025-05-01"]["problems"] == {"missing": 1}
