"""The Runtime and Extensions API emulator of tests/support, driven by hand and by the real runtime client.

The protocol tests speak HTTP to the emulator directly. The runtime-client tests start
``python -m awslambdaric app.handler`` (AWS's own client, as in the image) with
``AWS_LAMBDA_RUNTIME_API`` pointing at it, on the host, no container engine needed; one of them
adds an internal extension thread registered during init and proves the order Lambda
guarantees: the answer is out while the extension still works, the invoke ends after it, and
the next invoke waits for it.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundles import tiny_bundle  # noqa: F401 - fixture
from tests.support.events import load_event
from tests.support.paths import ROOT
from tests.support.runtime_api import EXTENSION, FUNCTION_ARN, RUNTIME, RuntimeApi

pytestmark = pytest.mark.integration

START_TIMEOUT = 60.0


def request(
    api: RuntimeApi, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = api.address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        payload = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        connection.request(method, path, body=payload, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def in_background(function: Any, *args: Any) -> dict[str, Any]:
    """Run a blocking call (a long poll) in a thread; the dict receives its result."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = function(*args)
        except OSError as error:  # the emulator closed while the poll waited
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    outcome["thread"] = thread
    return outcome


def register(api: RuntimeApi, name: str, events: list[str]) -> tuple[int, dict[str, str], bytes]:
    return request(api, "POST", f"{EXTENSION}/register", {"events": events}, {"Lambda-Extension-Name": name})


# --- protocol, by hand -------------------------------------------------------------------------


def test_given_invoke_when_runtime_polls_then_event_with_lambda_headers_and_answer_recorded() -> None:
    with RuntimeApi(timeout_seconds=30) as api:
        invocation = api.submit({"data": {"Age": "23"}})
        status, headers, body = request(api, "GET", f"{RUNTIME}/invocation/next")
        assert status == 200
        assert json.loads(body) == {"data": {"Age": "23"}}
        assert headers["Lambda-Runtime-Aws-Request-Id"] == invocation.request_id
        assert headers["Lambda-Runtime-Invoked-Function-Arn"] == FUNCTION_ARN
        assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
        deadline = int(headers["Lambda-Runtime-Deadline-Ms"])
        assert time.time() * 1000 < deadline <= (time.time() + 30) * 1000
        answer = request(api, "POST", f"{RUNTIME}/invocation/{invocation.request_id}/response", b'{"ok": true}')
        assert answer[0] == 202
        assert invocation.wait_response(5).status == "success"
        assert invocation.json() == {"ok": True}
        assert not invocation.ended  # the runtime has not asked for its next event yet
        poll = in_background(request, api, "GET", f"{RUNTIME}/invocation/next")
        invocation.wait_end(5)
        assert invocation.started_at <= invocation.responded_at <= invocation.ended_at
        assert poll["thread"].is_alive()  # nothing more to run: the runtime waits


def test_given_runtime_error_when_posted_then_invocation_failed_with_its_type() -> None:
    with RuntimeApi() as api:
        invocation = api.submit({})
        _, headers, _ = request(api, "GET", f"{RUNTIME}/invocation/next")
        error = {"errorMessage": "boom", "errorType": "ValueError"}
        request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        status, _, _ = request(
            api,
            "POST",
            f"{RUNTIME}/invocation/{request_id}/error",
            error,
            {"Lambda-Runtime-Function-Error-Type": "Unhandled"},
        )
        assert status == 202
        assert invocation.wait_response(5).status == "error"
        assert (invocation.error_type, invocation.json()) == ("Unhandled", error)


def test_given_unknown_request_id_when_answered_then_400_and_nothing_recorded() -> None:
    with RuntimeApi() as api:
        invocation = api.submit({})
        request(api, "GET", f"{RUNTIME}/invocation/next")
        status, _, body = request(api, "POST", f"{RUNTIME}/invocation/not-this-one/response", b"{}")
        assert status == 400
        assert json.loads(body)["errorType"] == "InvalidRequestID"
        assert invocation.status is None


def test_given_response_over_6_mb_when_posted_then_413_and_invoke_failed() -> None:
    with RuntimeApi() as api:
        invocation = api.submit({})
        _, headers, _ = request(api, "GET", f"{RUNTIME}/invocation/next")
        too_big = b'"' + b"x" * (6 * 1024 * 1024) + b'"'
        path = f"{RUNTIME}/invocation/{headers['Lambda-Runtime-Aws-Request-Id']}/response"
        assert request(api, "POST", path, too_big)[0] == 413
        assert invocation.wait_response(5).error_type == "Function.ResponseSizeTooLarge"


def test_given_internal_extension_when_registering_for_shutdown_then_403_as_lambda_refuses() -> None:
    with RuntimeApi() as api:
        status, headers, body = register(api, "flusher", ["INVOKE", "SHUTDOWN"])
        assert status == 403
        assert json.loads(body)["errorType"] == "ShutdownEventNotSupportedForInternalExtension"
        assert "Lambda-Extension-Identifier" not in headers
        assert api.extensions == {}


@pytest.mark.parametrize(
    ("headers", "body", "error_type"),
    [
        pytest.param({}, {"events": ["INVOKE"]}, "Extension.InvalidExtensionName", id="no-name"),
        pytest.param({"Lambda-Extension-Name": "x"}, {"events": ["LOGS"]}, "Extension.InvalidEventType", id="event"),
    ],
)
def test_given_bad_registration_when_posted_then_refused_with_reason(
    headers: dict[str, str], body: Any, error_type: str
) -> None:
    with RuntimeApi() as api:
        status, _, answer = request(api, "POST", f"{EXTENSION}/register", body, headers)
        assert status == 403
        assert json.loads(answer)["errorType"] == error_type


def test_given_runtime_past_init_when_extension_registers_then_403() -> None:
    with RuntimeApi() as api:
        in_background(request, api, "GET", f"{RUNTIME}/invocation/next")
        api.wait_for_init(5)
        status, _, body = register(api, "late", ["INVOKE"])
        assert status == 403
        assert json.loads(body)["errorType"] == "Extension.InvalidState"


def test_given_registered_extension_when_invoked_then_invoke_event_and_end_waits_for_its_next() -> None:
    with RuntimeApi() as api:
        status, headers, body = register(api, "flusher", ["INVOKE"])
        assert status == 200
        assert json.loads(body)["functionName"] == "credit-score"
        identifier = {"Lambda-Extension-Identifier": headers["Lambda-Extension-Identifier"]}
        extension_poll = in_background(request, api, "GET", f"{EXTENSION}/event/next", None, identifier)
        runtime_poll = in_background(request, api, "GET", f"{RUNTIME}/invocation/next")
        invocation = api.submit({"n": 1})
        runtime_poll["thread"].join(5)
        extension_poll["thread"].join(5)
        event = json.loads(extension_poll["result"][2])
        assert event["eventType"] == "INVOKE"
        assert event["requestId"] == invocation.request_id
        assert event["invokedFunctionArn"] == FUNCTION_ARN
        assert event["deadlineMs"] == invocation.deadline_ms
        request(api, "POST", f"{RUNTIME}/invocation/{invocation.request_id}/response", b"1")
        in_background(request, api, "GET", f"{RUNTIME}/invocation/next")
        invocation.wait_response(5)
        with pytest.raises(TimeoutError, match="extensions still working: \\['flusher'\\]"):
            invocation.wait_end(0.3)
        in_background(request, api, "GET", f"{EXTENSION}/event/next", None, identifier)
        invocation.wait_end(5)
        assert invocation.responded_at < invocation.extensions_done_at["flusher"] <= invocation.ended_at


def test_given_external_extension_when_emulator_shuts_down_then_shutdown_event_delivered() -> None:
    with RuntimeApi(external_extensions=["capture-agent"]) as api:
        status, headers, _ = register(api, "capture-agent", ["INVOKE", "SHUTDOWN"])
        assert status == 200
        identifier = {"Lambda-Extension-Identifier": headers["Lambda-Extension-Identifier"]}
        poll = in_background(request, api, "GET", f"{EXTENSION}/event/next", None, identifier)
        time.sleep(0.1)  # let the long poll arrive; shutdown() would queue the event for it anyway
        assert api.shutdown("spindown", timeout=5) == ["capture-agent"]
        poll["thread"].join(5)
        event = json.loads(poll["result"][2])
        assert event["eventType"] == "SHUTDOWN"
        assert event["shutdownReason"] == "spindown"
        assert event["deadlineMs"] > time.time() * 1000


def test_given_extension_names_when_registering_then_duplicates_and_an_eleventh_refused() -> None:
    with RuntimeApi() as api:
        assert register(api, "ext-0", [])[0] == 200
        status, _, body = register(api, "ext-0", [])
        assert (status, json.loads(body)["errorType"]) == (403, "Extension.AlreadyRegistered")
        for number in range(1, 10):
            assert register(api, f"ext-{number}", [])[0] == 200
        status, _, body = register(api, "ext-10", [])
        assert (status, json.loads(body)["errorType"]) == (403, "Extension.TooManyExtensions")


def test_given_accept_feature_account_id_when_registering_then_account_in_the_answer() -> None:
    with RuntimeApi() as api:
        headers = {"Lambda-Extension-Name": "x", "Lambda-Extension-Accept-Feature": "accountId"}
        _, _, body = request(api, "POST", f"{EXTENSION}/register", {"events": []}, headers)
        assert json.loads(body)["accountId"] == "123456789012"
        assert "accountId" not in json.loads(register(api, "y", [])[2])


def test_given_extension_error_reports_when_posted_then_recorded_with_their_type() -> None:
    with RuntimeApi() as api:
        _, headers, _ = register(api, "flusher", ["INVOKE"])
        identifier = headers["Lambda-Extension-Identifier"]
        for kind in ("init", "exit"):
            error_headers = {"Lambda-Extension-Identifier": identifier, "Lambda-Extension-Function-Error-Type": "X.Y"}
            assert request(api, "POST", f"{EXTENSION}/{kind}/error", {"errorMessage": kind}, error_headers)[0] == 202
        assert [(kind, error_type) for kind, error_type, _ in api.extensions[identifier].errors] == [
            ("init", "X.Y"),
            ("exit", "X.Y"),
        ]


def test_given_runtime_init_error_when_reported_after_init_then_403() -> None:
    with RuntimeApi() as api:
        in_background(request, api, "GET", f"{RUNTIME}/invocation/next")
        api.wait_for_init(5)
        status, _, body = request(api, "POST", f"{RUNTIME}/init/error", {"errorMessage": "late"})
        assert (status, json.loads(body)["errorType"]) == (403, "InvalidStateTransition")
        assert api.init_errors == []


def test_given_chunked_response_body_when_posted_then_reassembled() -> None:
    with RuntimeApi() as api:
        invocation = api.submit({})
        _, headers, _ = request(api, "GET", f"{RUNTIME}/invocation/next")
        host, port = api.address.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        path = f"{RUNTIME}/invocation/{headers['Lambda-Runtime-Aws-Request-Id']}/response"
        connection.request("POST", path, body=iter([b'{"a": ', b"1}"]), encode_chunked=True)
        assert connection.getresponse().status == 202
        connection.close()
        assert invocation.wait_response(5).json() == {"a": 1}


def test_given_unknown_extension_identifier_when_polling_then_403() -> None:
    with RuntimeApi() as api:
        status, _, body = request(api, "GET", f"{EXTENSION}/event/next", None, {"Lambda-Extension-Identifier": "x"})
        assert status == 403
        assert json.loads(body)["errorType"] == "Extension.UnknownExtensionIdentifier"


def test_given_connection_when_served_then_nagle_is_off() -> None:
    with RuntimeApi() as api:
        host, port = api.address.split(":")
        with socket.create_connection((host, int(port))) as client:
            client.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            assert client.recv(65536).startswith(b"HTTP/1.1 404")
            served = list(api._connections)
            assert served
            assert all(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for sock in served)


# --- the real runtime client -------------------------------------------------------------------

EXTENSION_APP = '''
"""The app behind an internal extension that finishes its work only when the test opens a gate."""
import json, os, pathlib, threading, time, urllib.request

import app

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"
GATES = pathlib.Path(os.environ["EXTENSION_GATES"])


def _call(path, body=None, headers=None):
    call = urllib.request.Request(API + path, data=body, headers=headers or {}, method="POST" if body else "GET")
    with urllib.request.urlopen(call) as answer:
        return answer.headers, json.loads(answer.read())


headers, _ = _call("/register", json.dumps({"events": ["INVOKE"]}).encode(), {"Lambda-Extension-Name": "flusher"})
IDENTIFIER = {"Lambda-Extension-Identifier": headers["Lambda-Extension-Identifier"]}


def _work():
    while True:
        _, event = _call("/event/next", headers=IDENTIFIER)
        gate = GATES / event["requestId"]
        while not gate.exists():
            time.sleep(0.005)
        (GATES / (event["requestId"] + ".done")).write_text(repr(time.monotonic()))


threading.Thread(target=_work, daemon=True).start()
handler = app.handler
'''


@contextmanager
def runtime_client(
    api: RuntimeApi, handler: str, *, workdir: Path, env: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``python -m awslambdaric HANDLER`` against the emulator; yields the process and the path of its output."""
    log_path = workdir / "runtime.log"
    child_env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "CAPTURE_"))}
    child_env |= {
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT / "src")]),
        "METRICS_ENABLED": "false",
        **env,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", handler],
            cwd=workdir,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, log_path
    finally:
        process.kill()
        process.wait(10)


@pytest.fixture
def runtime_env(tiny_bundle: Path) -> dict[str, str]:  # noqa: F811 - the imported fixture
    return {"MODEL_DIR": str(tiny_bundle)}


def test_given_real_runtime_client_when_seed_invoked_directly_and_via_http_api_then_200(
    tmp_path: Path, runtime_env: dict[str, str]
) -> None:
    with RuntimeApi() as api, runtime_client(api, "app.handler", workdir=tmp_path, env=runtime_env) as (_, log):
        direct = api.invoke(load_event("direct.json"), timeout=START_TIMEOUT)
        assert direct.status == "success", log.read_text()
        assert direct.json()["statusCode"] == 200
        answer = json.loads(direct.json()["body"])
        assert answer["prediction"] in {0, 1, 2}
        assert answer["request_id"] == direct.request_id  # the context the client built from our headers
        assert api.invoke(load_event("http_api_post.json")).json()["statusCode"] == 200
        health = api.invoke(load_event("http_api_get_health.json"))
        assert json.loads(health.json()["body"])["version"] == "7"
        assert api.runtime_next_calls == 4


def test_given_real_runtime_client_when_payload_is_not_json_then_unmarshal_error_and_runtime_lives_on(
    tmp_path: Path, runtime_env: dict[str, str]
) -> None:
    with RuntimeApi() as api, runtime_client(api, "app.handler", workdir=tmp_path, env=runtime_env):
        broken = api.invoke(b"{not json", timeout=START_TIMEOUT)
        assert (broken.status, broken.error_type) == ("error", "Runtime.UnmarshalError")
        assert api.invoke(load_event("direct.json")).json()["statusCode"] == 200


def test_given_missing_handler_module_when_runtime_starts_then_init_error_reported(tmp_path: Path) -> None:
    with RuntimeApi() as api, runtime_client(api, "no_such_module.handler", workdir=tmp_path, env={}):
        failed = api.invoke({}, timeout=START_TIMEOUT)
        assert failed.status == "init_error"
        assert failed.error_type == "Runtime.ImportModuleError"
        assert api.runtime_next_calls == 0


def test_given_internal_extension_when_invoked_then_answer_first_and_invoke_ends_after_extension(
    tmp_path: Path, runtime_env: dict[str, str]
) -> None:
    (tmp_path / "extension_app.py").write_text(EXTENSION_APP)
    gates = tmp_path / "gates"
    gates.mkdir()
    env = {**runtime_env, "EXTENSION_GATES": str(gates)}
    with RuntimeApi() as api, runtime_client(api, "extension_app.handler", workdir=tmp_path, env=env) as (_, log):
        first = api.submit(load_event("direct.json"))
        second = api.submit(load_event("direct.json"))
        first.wait_response(START_TIMEOUT)
        assert [(ext.name, ext.events, ext.external) for ext in api.extensions.values()] == [
            ("flusher", ("INVOKE",), False)
        ], log.read_text()
        assert first.status == "success"
        assert first.json()["statusCode"] == 200
        assert not first.ended  # the answer is out while the extension still works
        assert second.started_at is None  # and the next invoke waits for it
        (gates / first.request_id).touch()
        first.wait_end(10)
        extension_done = float((gates / f"{first.request_id}.done").read_text())
        assert first.responded_at < extension_done <= first.extensions_done_at["flusher"] <= first.ended_at
        (gates / second.request_id).touch()
        second.wait_end(10)
        assert first.ended_at <= second.started_at
        assert second.json()["statusCode"] == 200


def test_given_runtime_client_waiting_for_an_event_when_sigterm_then_it_exits_cleanly(
    tmp_path: Path, runtime_env: dict[str, str]
) -> None:
    with RuntimeApi() as api, runtime_client(api, "app.handler", workdir=tmp_path, env=runtime_env) as (process, log):
        api.wait_for_init(START_TIMEOUT)
        process.send_signal(signal.SIGTERM)
        # 0, not -SIGTERM: app.py's own SIGTERM thread ended the process (as PID 1 nothing else would)
        assert process.wait(10) == 0, log.read_text()
