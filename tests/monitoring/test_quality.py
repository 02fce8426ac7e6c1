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


def refused_records() -> list[dict[str, str]]:
    """10 records, 4 of them refused: 5 problems in Annual_Income (2), Age (2) and Credit_Mix (1)."""
    records = synthetic_records(10, seed=8)
    records[0]["Annual_Income"] = "-5"  # below the domain
    records[1]["Age"] = "abc"  # not a number
    records[2].pop("Credit_Mix")  # missing
    records[3]["Age"] = "abc"
    records[3]["Annual_Income"] = "-5"
    return records


def handler_log(drift_bundle, capture, records: list[dict[str, str]]) -> str:
    """The handler's log lines for ``records``, one request each."""
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
    text = handler_log(drift_bundle, tmp_path / "capture", refused_records())
    exported = "\n".join(f"2025-05-01T00:00:00.000Z {line}" for line in text.splitlines())  # the export's prefix
    (tmp_path / "log.jsonl").write_text(exported + "\nnot json {\n")

    section = read_request_logs(str(tmp_path / "log.jsonl")).section()

    (day,) = section["by_day"].values()
    assert (day["requests"], day["refused"]) == (10, 4)
    assert sum(day["problems"].values()) == 5  # one request had two problems
    assert day["fields"] == {"Annual_Income": 2, "Age": 2, "Credit_Mix": 1}
    assert section["fields"] == day["fields"]
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


def test_given_a_client_key_with_a_secret_name_when_refused_then_no_log_line_names_it(drift_bundle, tmp_path):
    secret_key, secret_value = "ssn_913741218_card_4111111111111111", "sk_live_9f8e7d6c"
    record = {**synthetic_records(1, seed=3)[0], secret_key: secret_value, "Age": "abc"}

    text = handler_log(drift_bundle, tmp_path / "capture", [record])

    [line] = [json.loads(line) for line in text.splitlines() if '"request"' in line]
    assert (line["status"], line["problem_fields"]) == (422, {"Age": 1})
    assert secret_key not in text
    assert secret_value not in text
    assert "abc" not in text


def test_given_a_line_naming_a_field_outside_the_contract_when_read_then_counted_as_other():
    log = RequestLog()
    line = {"message": "request", "timestamp": "2025-05-01T10:00:00Z", "status": 422}
    log.add_line(json.dumps({**line, "problems": {"missing": 2}, "problem_fields": {"Age": 1, "ssn_913": 1}}))

    section = log.section()

    assert section["by_day"]["2025-05-01"]["fields"] == {"Age": 1, "_other": 1}
    assert "ssn_913" not in json.dumps(section)
