"""The handler end to end: real-shaped events, every payload form, rejections, capture, EMF and logs."""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app
from credit_score.runtime.config import Settings
from credit_score.runtime.logs import Log
from credit_score.runtime.metrics import Metrics
from credit_score.runtime.service import MODEL_RETRY_SECONDS, Service
from tests.support.bundles import synthetic_records, tiny_bundle  # noqa: F401
from tests.support.events import POST_EVENTS
from tests.support.lambda_context import LambdaContext
from tests.support.paths import EVENTS, ROOT

SEED = json.loads((ROOT / "data.json").read_text())
HEALTH_EVENTS = sorted(path.name for path in EVENTS.glob("*_get_health.json"))


REQUEST_ID = "7d3c9b1e-2f4a-4b6c-8d0e-1f2a3b4c5d6e"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def http_event(payload, *, method: str = "POST", path: str = "/predict") -> dict:
    event = load("http_api_post.json")
    event["requestContext"]["http"].update(method=method, path=path)
    event["rawPath"] = path
    event["body"] = payload if isinstance(payload, str) else json.dumps(payload)
    return event


@pytest.fixture
def env(container):
    """The shared fresh container (tests/functional/conftest.py), under the name these tests use."""
    return container


class Output:
    def __init__(self, text: str):
        documents = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        self.emf = [d for d in documents if "_aws" in d]
        self.logs = [d for d in documents if "_aws" not in d]
        self.text = text

    def messages(self) -> list[str]:
        return [line["message"] for line in self.logs]

    def metric(self, name: str) -> list:
        return [d[name] for d in self.emf if name in d]


def invoke(capsys, event) -> tuple[dict, dict, Output]:
    capsys.readouterr()
    response = app.handler(copy.deepcopy(event), LambdaContext(REQUEST_ID))
    return response, json.loads(response["body"]), Output(capsys.readouterr().out)


@pytest.mark.parametrize("name", POST_EVENTS)
def test_given_each_source_when_posting_the_seed_then_one_prediction_in_its_envelope(env, capsys, name):
    event = load(name)
    response, body, _ = invoke(capsys, event)
    assert response["statusCode"] == 200
    assert type(body["prediction"]) is int
    assert body["prediction"] in (0, 1, 2)
    assert body["label"] == ("Poor", "Standard", "Good")[body["prediction"]]
    assert set(body["probabilities"]) == {"Poor", "Standard", "Good"}
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert (body["version"], body["model"]) == ("7", "credit-score-classifier")
    headers = response.get("headers") or {k: v[0] for k, v in response["multiValueHeaders"].items()}
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Model-Version"] == "7"
    assert headers["X-Request-Id"] == body["request_id"]
    assert body["request_id"] == REQUEST_ID
    if name.startswith(("alb", "vpc_lattice")):
        assert response["statusDescription"] == "200 OK"
    if name.startswith("direct"):
        assert set(response) == {"statusCode", "headers", "body"}


def test_given_the_seeds_data_json_when_invoked_directly_then_prediction_int_and_version(env, capsys):
    response, body, _ = invoke(capsys, SEED)
    assert response["statusCode"] == 200
    assert isinstance(body["prediction"], int)
    assert body["version"] == "7"
    assert body["request_id"] == REQUEST_ID


def test_given_same_record_through_every_source_then_same_answer(env, capsys):
    answers = {json.dumps(invoke(capsys, load(name))[1]["probabilities"]) for name in POST_EVENTS}
    assert len(answers) == 1


@pytest.mark.parametrize("name", HEALTH_EVENTS)
def test_given_get_health_when_invoked_then_model_identity(env, capsys, name):
    response, body, _ = invoke(capsys, load(name))
    assert response["statusCode"] == 200
    assert body == {"status": "ok", "model": "credit-score-classifier", "version": "7", "alias": "champion"}


def test_given_staged_health_path_when_invoked_then_still_health(env, capsys):
    response, _, _ = invoke(capsys, http_event("", method="GET", path="/prod/health/"))
    assert response["statusCode"] == 200


def test_given_unknown_get_path_when_invoked_then_json_404(env, capsys):
    response, body, _ = invoke(capsys, http_event("", method="GET", path="/admin"))
    assert response["statusCode"] == 404
    assert body["error"] == "not_found"
    assert body["request_id"] == REQUEST_ID


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_given_other_method_when_invoked_then_json_405_with_allow(env, capsys, method):
    response, body, _ = invoke(capsys, http_event(SEED, method=method))
    assert response["statusCode"] == 405
    assert body["error"] == "method_not_allowed"
    assert response["headers"]["Allow"] == "GET, POST"


def batch_payloads(records):
    columns = list(records[0])
    return {
        "data": {"data": records},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "dataframe_split": {
            "dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in records]}
        },
    }


@pytest.mark.parametrize("form", ["data", "dataframe_records", "instances", "dataframe_split"])
def test_given_batch_form_when_posted_then_one_prediction_per_record_equal_to_single_calls(env, capsys, form):
    records = synthetic_records(6, seed=21)
    _, body, _ = invoke(capsys, http_event(batch_payloads(records)[form]))
    assert len(body["predictions"]) == 6
    assert (body["version"], body["model"]) == ("7", "credit-score-classifier")
    singles = [invoke(capsys, {"data": record})[1] for record in records]
    assert [p["probabilities"] for p in body["predictions"]] == [s["probabilities"] for s in singles]
    assert [p["prediction"] for p in body["predictions"]] == [s["prediction"] for s in singles]


def test_given_numbers_instead_of_strings_when_posted_then_same_prediction(env, capsys):
    numbers = {k: (v if not v.replace(".", "").isdigit() else float(v)) for k, v in SEED["data"].items()}
    assert invoke(capsys, {"data": numbers})[1]["probabilities"] == invoke(capsys, SEED)[1]["probabilities"]


SECRET_INCOME = "98765.4321"
SECRET_KEY = "customer-ssn-913-74-1218"


def test_given_every_problem_kind_when_posted_then_422_lists_all_and_echoes_nothing(env, capsys):
    good = {**SEED["data"], "Annual_Income": SECRET_INCOME, SECRET_KEY: "913-74-1218"}
    bad = {**good, "Age": "forty", "Num_of_Loan": "2.5", "Interest_Rate": "5000", "Occupation": "Astronaut"}
    del bad["Credit_Mix"]
    bad["Payment_Behaviour"] = 7
    response, body, out = invoke(
        capsys, http_event({"data": [good, bad, {**good, "Monthly_Balance": SECRET_INCOME + "x"}]})
    )
    assert response["statusCode"] == 422
    assert body["error"] == "validation_error"
    assert {(d["index"], d["field"], d["problem"]) for d in body["details"]} == {
        (1, "Age", "not_a_number"),
        (1, "Num_of_Loan", "not_a_whole_number"),
        (1, "Interest_Rate", "out_of_domain"),
        (1, "Occupation", "unknown_category"),
        (1, "Credit_Mix", "missing"),
        (1, "Payment_Behaviour", "not_a_string"),
        (2, "Monthly_Balance", "not_a_number"),
    }
    occupation = next(d for d in body["details"] if d["field"] == "Occupation")
    assert "Accountant" in occupation["message"]
    assert "Astronaut" not in occupation["message"]
    for secret in (SECRET_INCOME, SECRET_KEY, "Astronaut", "forty", "913-74-1218"):
        assert secret not in response["body"]
        assert secret not in out.text
    assert sorted(out.metric("problem")) == sorted(
        ["not_a_number", "not_a_whole_number", "out_of_domain", "unknown_category", "missing", "not_a_string"]
    )
    assert dict(zip(out.metric("problem"), out.metric("ValidationErrors"), strict=True))["not_a_number"] == 2


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("{not json", 400, "bad_request"),
        ("", 400, "bad_request"),
        (json.dumps([1, 2]), 400, "bad_request"),
        (json.dumps({"records": []}), 400, "bad_request"),
        (json.dumps({"data": []}), 400, "bad_request"),
    ],
)
def test_given_malformed_request_when_posted_then_4xx_json(env, capsys, body, status, error):
    response, answer, out = invoke(capsys, http_event(body))
    assert response["statusCode"] == status
    assert answer["error"] == error
    assert answer["request_id"] == REQUEST_ID
    assert out.metric("ValidationErrors") == [1]


def test_given_unknown_event_when_invoked_then_clear_400_in_the_seed_envelope(env, capsys):
    response, body, _ = invoke(capsys, {"Records": [{"eventSource": "aws:sqs"}]})
    assert response["statusCode"] == 400
    assert body["error"] == "unsupported_event"
    assert "API Gateway" in body["message"]
    assert body["request_id"] == REQUEST_ID


def test_given_batch_over_max_batch_size_when_posted_then_413(env, capsys, monkeypatch):
    monkeypatch.setenv("MAX_BATCH_SIZE", "3")
    response, body, _ = invoke(capsys, http_event({"data": synthetic_records(4)}))
    assert response["statusCode"] == 413
    assert body["error"] == "payload_too_large"
    assert invoke(capsys, http_event({"data": synthetic_records(3)}))[0]["statusCode"] == 200


def test_given_body_over_max_body_bytes_when_posted_then_413(env, capsys, monkeypatch):
    monkeypatch.setenv("MAX_BODY_BYTES", "200")
    response, body, _ = invoke(capsys, load("http_api_post_base64.json"))
    assert response["statusCode"] == 413
    assert "200 bytes" in body["message"]


def test_given_bad_base64_when_posted_then_400(env, capsys):
    event = load("rest_api_post_base64.json")
    event["body"] = "%%%"
    response, _, _ = invoke(capsys, event)
    assert response["statusCode"] == 400
    assert response["multiValueHeaders"]["X-Request-Id"]


def captured_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.jsonl")) if folder.exists() else []


def test_given_predictions_when_captured_then_one_file_per_invocation_with_every_record(env, capsys):
    invoke(capsys, load("http_api_post.json"))
    records = synthetic_records(5, seed=8)
    _, body, _ = invoke(capsys, http_event({"dataframe_records": records}))
    files = captured_files(env)
    assert len(files) == 2
    batch_file = next(
        f for f in files if f.name.endswith(f"-{REQUEST_ID}.jsonl") and len(f.read_text().splitlines()) == 5
    )
    relative = batch_file.relative_to(env).as_posix()
    assert relative.startswith("model=credit-score-classifier/version=7/year=")
    lines = [json.loads(line) for line in batch_file.read_text().splitlines()]
    assert [line["prediction"] for line in lines] == [p["prediction"] for p in body["predictions"]]
    assert {line["event_source"] for line in lines} == {"http_api"}
    assert {(line["request_id"], line["correlation_id"]) for line in lines} == {(REQUEST_ID, "UkXq1jvHoAMEbwQ=")}
    assert lines[0]["input"]["Age"] == int(records[0]["Age"])


def test_given_rejected_requests_when_counted_then_not_captured(env, capsys):
    invoke(capsys, http_event("{broken"))
    invoke(capsys, http_event({"data": {"Age": "x"}}))
    assert captured_files(env) == []


def test_given_zero_sampling_when_predicting_then_nothing_captured(env, capsys, monkeypatch):
    monkeypatch.setenv("CAPTURE_SAMPLING_PERCENT", "0")
    assert invoke(capsys, SEED)[0]["statusCode"] == 200
    assert captured_files(env) == []


def test_given_capture_storage_down_when_predicting_then_200_fallback_line_and_metric(env, capsys, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for key, value in {
        "CAPTURE_URI": "s3://capture-bucket/predictions",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }.items():
        monkeypatch.setenv(key, value)
    response, body, out = invoke(capsys, http_event({"data": synthetic_records(2, seed=4)}))
    assert response["statusCode"] == 200
    assert len(body["predictions"]) == 2
    fallbacks = [line for line in out.logs if line["message"] == "capture_fallback"]
    assert len(fallbacks) == 2
    assert [f["record"]["prediction"] for f in fallbacks] == [p["prediction"] for p in body["predictions"]]
    assert fallbacks[0]["record"]["request_id"] == REQUEST_ID
    assert fallbacks[0]["record"]["correlation_id"] == "UkXq1jvHoAMEbwQ="
    assert out.metric("CaptureFailures") == [2]


def test_given_invocations_when_metrics_read_from_stdout_then_emf_with_cold_start_once(env, capsys):
    _, body, first = invoke(capsys, SEED)
    _, _, second = invoke(capsys, http_event({"data": synthetic_records(4, seed=2)}))
    assert first.metric("ColdStart") == [1]
    assert second.metric("ColdStart") == []
    [main] = [d for d in first.emf if "Latency" in d]
    assert main["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "CreditScore"
    assert (main["service"], main["model_version"], main["label"]) == ("credit-score", "7", body["label"])
    assert main["BatchSize"] == 1
    assert main["Predictions"] == 1
    assert main["CaptureFailures"] == 0
    assert not [key for key in main if key.startswith("Input.")]
    assert main["Latency"] > 0
    assert sum(second.metric("Predictions")) == 4
    assert second.metric("BatchSize") == [4]


def test_given_metrics_disabled_when_invoked_then_no_emf(env, capsys, monkeypatch):
    monkeypatch.setenv("METRICS_ENABLED", "false")
    _, _, out = invoke(capsys, SEED)
    assert out.emf == []
    assert "request" in out.messages()


def test_given_invocations_when_logged_then_one_structured_line_each_without_values(env, capsys):
    record = {**SEED["data"], "Annual_Income": SECRET_INCOME}
    _, _, out = invoke(capsys, http_event({"data": record}))
    [line] = [line for line in out.logs if line["message"] == "request"]
    assert line["request_id"] == REQUEST_ID
    assert line["correlation_id"] == "UkXq1jvHoAMEbwQ="
    assert line["model_version"] == "7"
    assert line["cold_start"] is True
    assert line["latency_ms"] > 0
    assert line["status"] == 200
    assert line["source"] == "http_api"
    assert line["service"] == "credit-score"
    assert line["level"] == "INFO"
    assert "model_loaded" in out.messages()
    assert all(SECRET_INCOME not in json.dumps(log) for log in out.logs)
    _, _, warm = invoke(capsys, SEED)
    assert [line["cold_start"] for line in warm.logs if line["message"] == "request"] == [False]


def test_given_log_level_warning_when_invoked_then_request_lines_silenced(env, capsys, monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    _, _, out = invoke(capsys, SEED)
    assert "request" not in out.messages()


def test_given_missing_bundle_when_invoked_then_500_generic_and_reason_logged(env, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "no-model"))
    response, body, out = invoke(capsys, load("alb_post.json"))
    assert response["statusCode"] == 500
    assert response["statusDescription"] == "500 Internal Server Error"
    assert body["error"] == "model_unavailable"
    assert "request id" in body["message"]
    assert "no-model" not in response["body"]
    [line] = [line for line in out.logs if line["message"] == "model_unavailable"]
    assert line["level"] == "ERROR"
    assert "metadata.json" in line["reason"]
    assert invoke(capsys, load("http_api_get_health.json"))[0]["statusCode"] == 500


def test_given_tampered_bundle_when_invoked_then_500_and_sha256_reason(env, capsys, monkeypatch, tmp_path, tiny_bundle):  # noqa: F811
    copy_dir = tmp_path / "model"
    shutil.copytree(tiny_bundle, copy_dir)
    (copy_dir / "model.onnx").write_bytes((copy_dir / "model.onnx").read_bytes()[:-10] + b"0123456789")
    monkeypatch.setenv("MODEL_DIR", str(copy_dir))
    response, _, out = invoke(capsys, SEED)
    assert response["statusCode"] == 500
    assert any("sha256" in line.get("reason", "") for line in out.logs)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_given_unloadable_model_when_retried_then_at_most_once_per_interval(tmp_path, tiny_bundle):  # noqa: F811
    stream, clock = io.StringIO(), Clock()
    service = Service(
        Settings.from_env({}, model_dir=tmp_path / "model", metrics_enabled=False),
        log=Log("t", stream=stream),
        clock=clock,
    )
    assert service.handle(SEED, LambdaContext(REQUEST_ID))["statusCode"] == 500
    shutil.copytree(tiny_bundle, tmp_path / "model")
    assert service.handle(SEED, LambdaContext(REQUEST_ID))["statusCode"] == 500, "too soon to retry"
    clock.now += MODEL_RETRY_SECONDS
    assert service.handle(SEED, LambdaContext(REQUEST_ID))["statusCode"] == 200
    messages = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert messages.count("model_load_failed") == 1
    assert messages.count("model_loaded") == 1
    assert messages.count("model_unavailable") == 2, "each refused request says why"


def test_given_bad_configuration_when_invoked_then_500_naming_the_key_in_the_log(env, capsys, monkeypatch):
    monkeypatch.setenv("MAX_BATCH_SIZE", "lots")
    response, body, out = invoke(capsys, load("http_api_post.json"))
    assert response["statusCode"] == 500
    assert body["error"] == "configuration_error"
    assert response["isBase64Encoded"] is False
    assert "MAX_BATCH_SIZE" in out.logs[0]["reason"]
    assert "MAX_BATCH_SIZE" not in response["body"]


class BrokenModel:
    name, version, alias, labels = "m", "1", None, ("Poor", "Standard", "Good")

    def predict(self, matrix):
        raise RuntimeError(f"kaboom with a value {matrix[0, 1]}")


def test_given_internal_fault_when_predicting_then_generic_500_with_request_id_and_stack(tmp_path):
    stream = io.StringIO()
    service = Service(Settings.from_env({}, model_dir=tmp_path, metrics_enabled=False), log=Log("t", stream=stream))
    service._model = BrokenModel()
    response = service.handle(SEED, LambdaContext(REQUEST_ID))
    body = json.loads(response["body"])
    assert response["statusCode"] == 500
    assert body["error"] == "internal_error"
    assert body["request_id"] == REQUEST_ID
    [line] = [json.loads(text) for text in stream.getvalue().splitlines() if '"internal_error"' in text]
    assert line["error_type"] == "RuntimeError"
    assert line["stack"]
    assert "100000" not in stream.getvalue()
    assert "kaboom" not in stream.getvalue()


@pytest.fixture(scope="module")
def quiet_service(tiny_bundle):  # noqa: F811
    settings_ = Settings.from_env({}, model_dir=tiny_bundle, metrics_enabled=True)
    sink = io.StringIO()
    return Service(
        settings_,
        log=Log("t", stream=sink),
        metrics=Metrics(namespace="N", service="s", stream=sink),
        capture=None,
    ), sink


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(10**300, 10**400) | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)
field_names = st.sampled_from([*SEED["data"], "data", "body", "requestContext", "httpMethod", "version"])
near_records = st.dictionaries(field_names, json_values | st.sampled_from(list(SEED["data"].values())), max_size=25)


def fuzz_events():
    bodies = st.one_of(
        st.text(max_size=60),
        json_values.map(json.dumps),
        st.builds(lambda r: json.dumps({"data": r}), near_records),
        st.builds(lambda r: json.dumps({"data": [r, SEED["data"]]}), near_records),
        st.builds(
            lambda r: json.dumps({"dataframe_split": {"columns": list(r), "data": [list(r.values())]}}), near_records
        ),
    )
    http = st.builds(
        lambda body, b64, method, path: {
            **http_event(
                base64.b64encode(body.encode("utf-8", "surrogatepass")).decode() if b64 else body,
                method=method,
                path=path,
            ),
            "isBase64Encoded": b64,
        },
        bodies,
        st.booleans(),
        st.sampled_from(["POST", "GET", "PUT", "post", "", "HEAD"]),
        st.sampled_from(["/predict", "/health", "/", "/x/y"]),
    )
    shaped = st.builds(
        lambda base, extra: {**load(base), **extra},
        st.sampled_from([*POST_EVENTS, *HEALTH_EVENTS]),
        st.dictionaries(field_names, json_values, max_size=3),
    )
    return st.one_of(
        json_values,
        st.dictionaries(field_names, json_values, max_size=5),
        near_records.map(lambda r: {"data": r}),
        http,
        shaped,
    )


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "400")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(event=fuzz_events())
def test_given_any_event_when_handled_then_never_a_server_error(quiet_service, event):
    service, sink = quiet_service
    response = service.handle(event, LambdaContext(REQUEST_ID))
    assert response["statusCode"] < 500, response["body"]
    json.loads(response["body"])
    sink.seek(0)
    sink.truncate()


def run_python(code: str, env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]), **env_overrides}
    env.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_given_import_of_app_when_nothing_invoked_then_no_side_effects(tmp_path):
    code = (
        "import sys, app\n"
        "heavy = sorted(m for m in ('onnxruntime', 'boto3', 'botocore', 'aws_lambda_powertools') if m in sys.modules)\n"
        "print(heavy, app._service)"
    )
    result = run_python(code, {"MODEL_DIR": str(tmp_path / "absent"), "CAPTURE_URI": "s3://no-such-bucket"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] None"


def test_given_requests_when_served_then_no_pandas_sklearn_mlflow_nor_boto3_for_local_capture(tiny_bundle, tmp_path):  # noqa: F811
    code = (
        "import json, sys, app\n"
        "seed = json.load(open('data.json'))\n"
        "batch = {'data': [seed['data']] * 3}\n"
        "statuses = [app.handler(seed, None)['statusCode'], app.handler(batch, None)['statusCode']]\n"
        "loaded = [m for m in ('pandas', 'sklearn', 'mlflow', 'scipy', 'skl2onnx', 'boto3') if m in sys.modules]\n"
        "sys.stderr.write(json.dumps([statuses, loaded]))"
    )
    result = run_python(code, {"MODEL_DIR": str(tiny_bundle), "CAPTURE_URI": str(tmp_path / "c")})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stderr) == [[200, 200], []]


def test_given_test_script_when_run_on_data_json_then_pretty_envelope_and_capture(tiny_bundle, tmp_path):  # noqa: F811
    env = {**os.environ, "MODEL_DIR": str(tiny_bundle), "CAPTURE_URI": str(tmp_path / "capture")}
    result = subprocess.run(
        [sys.executable, "test.py", "data.json"], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    envelope_text = result.stdout[result.stdout.index('{\n  "statusCode"') :]
    envelope = json.loads(envelope_text)
    assert envelope["statusCode"] == 200
    assert isinstance(envelope["body"]["prediction"], int)
    assert envelope["body"]["version"] == "7"
    assert len(list((tmp_path / "capture").rglob("*.jsonl"))) == 1


def test_given_test_script_when_run_on_an_error_then_exit_status_1(tiny_bundle, tmp_path):  # noqa: F811
    payload = tmp_path / "bad.json"
    payload.write_text(json.dumps({"data": {"Age": "x"}}))
    env = {**os.environ, "MODEL_DIR": str(tiny_bundle), "CAPTURE_URI": str(tmp_path / "capture")}
    result = subprocess.run(
        [sys.executable, "test.py", str(payload)], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 1
    assert '"statusCode": 422' in result.stdout


def test_given_integer_beyond_float_range_when_posted_then_422_not_500(env, capsys):
    response, body, _ = invoke(capsys, {"data": {**SEED["data"], "Age": 10**400}})
    assert response["statusCode"] == 422
    assert body["details"] == [
        {
            "field": "Age",
            "index": 0,
            "problem": "out_of_domain",
            "message": "Age must be a whole number between 14 and 100 years",
        }
    ]
