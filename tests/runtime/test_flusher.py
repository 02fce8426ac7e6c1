"""The flusher as an internal extension of the Runtime and Extensions API emulator, the runtime's side
played by hand: registered for INVOKE only, stores run after the handler is done and before the
invoke ends, a failing store does not stop it, no flusher where there is no Extensions API."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import threading
import time

import pytest

from credit_score.runtime import flusher as flusher_module
from credit_score.runtime.flusher import EXTENSION_NAME, Flusher
from credit_score.runtime.logs import Log
from tests.support.runtime_api import RUNTIME, RuntimeApi


def runtime_call(api: RuntimeApi, method: str, path: str, body: bytes | None = None) -> tuple[int, dict, bytes]:
    host, port = api.address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, RUNTIME + path, body=body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def last_next(api: RuntimeApi) -> None:
    """The runtime's poll after the last invoke: it waits until the emulator closes."""
    with contextlib.suppress(OSError, http.client.HTTPException):
        runtime_call(api, "GET", "/invocation/next")


def environment(api: RuntimeApi | None, **extra: str) -> dict[str, str]:
    env = {"CAPTURE_URI": "s3://bucket/prefix", **extra}
    if api is not None:
        env["AWS_LAMBDA_RUNTIME_API"] = api.address
    return env


def serve_one(api: RuntimeApi, flusher: Flusher, stores: list, events: list[str]) -> None:
    """The runtime's part of one invoke: next, defer the stores, answer, done, next (in the background)."""
    _, headers, _ = runtime_call(api, "GET", "/invocation/next")
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    flusher.begin(request_id)
    for store in stores:
        assert flusher.defer(store)
    runtime_call(api, "POST", f"/invocation/{request_id}/response", b'{"statusCode": 200}')
    events.append("answered")
    flusher.done(request_id)


@pytest.mark.parametrize(
    "env",
    [
        {"CAPTURE_URI": "s3://bucket/prefix"},  # no AWS_LAMBDA_RUNTIME_API: not in Lambda
        {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9"},  # capture off
        {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "CAPTURE_URI": "s3://b/p", "CAPTURE_AFTER_ANSWER": "false"},
    ],
)
def test_given_no_lambda_or_no_capture_or_switched_off_when_started_then_no_flusher_and_no_call(env):
    assert Flusher.start(env) is None  # port 9 would refuse: no call is even attempted


def test_given_a_malformed_switch_when_started_then_no_flusher_and_the_reason_logged():
    stream = io.StringIO()
    env = {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "CAPTURE_URI": "s3://b/p", "CAPTURE_AFTER_ANSWER": "later"}
    assert Flusher.start(env, log=Log("t", stream=stream)) is None
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert (line["message"], "CAPTURE_AFTER_ANSWER" in line["reason"]) == ("capture_synchronous", True)


def test_given_runtime_api_without_extensions_when_started_then_none_and_one_warning():
    stream = io.StringIO()
    with RuntimeApi(extensions_api=False) as api:
        assert Flusher.start(environment(api), log=Log("t", stream=stream)) is None
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["message"] == "capture_synchronous"


def test_given_flusher_when_invoked_then_stores_run_after_the_answer_and_before_the_invoke_ends():
    events: list[str] = []
    stored_at: list[float] = []

    def store() -> int:
        events.append("stored")
        stored_at.append(time.monotonic())
        return 0

    with RuntimeApi() as api:
        flusher = Flusher.start(environment(api), log=Log("t", stream=io.StringIO()))
        assert flusher is not None
        [extension] = api.extensions.values()
        assert (extension.name, extension.events, extension.external) == (EXTENSION_NAME, ("INVOKE",), False)
        invocations = [api.submit({"n": n}) for n in range(3)]
        for invocation in invocations:
            serve_one(api, flusher, [store, store], events)
            invocation.wait_response(10)
        # the runtime asks for its next event, so that the last invoke may end too
        threading.Thread(target=last_next, args=(api,), daemon=True).start()
        for invocation in invocations:
            invocation.wait_end(10)
    assert events == ["answered", "stored", "stored"] * 3
    for index, invocation in enumerate(invocations):
        first, second = stored_at[2 * index : 2 * index + 2]
        assert invocation.responded_at < first <= second <= invocation.extensions_done_at[EXTENSION_NAME]


def test_given_a_store_that_raises_when_flushed_then_logged_and_the_next_invoke_still_flushed():
    stream = io.StringIO()
    ran: list[str] = []

    def broken() -> int:
        raise RuntimeError("bug")

    with RuntimeApi() as api:
        flusher = Flusher.start(environment(api), log=Log("t", stream=stream))
        assert flusher is not None
        first, second = api.submit({}), api.submit({})
        serve_one(api, flusher, [broken, lambda: ran.append("first")], [])
        serve_one(api, flusher, [lambda: ran.append("second")], [])  # its next ends the first invoke
        first.wait_end(10)
        deadline = time.monotonic() + 10
        while ran != ["first", "second"] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert second.responded_at is not None
        assert ran == ["first", "second"]
        assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["capture_store_failed"]


def test_given_a_handler_that_never_starts_when_invoked_then_the_invoke_still_ends_and_a_late_handler_stores_itself(
    monkeypatch,
):
    """The runtime may answer without calling the handler (a payload it cannot unmarshal): the extension
    must not hold the invoke until its deadline, and a handler starting after it gave up stores at once."""
    monkeypatch.setattr(flusher_module, "BEGIN_WAIT_S", 0.2)
    ran: list[str] = []
    with RuntimeApi(timeout_seconds=60) as api:
        flusher = Flusher.start(environment(api), log=Log("t", stream=io.StringIO()))
        assert flusher is not None
        invocation = api.submit({})
        _, headers, _ = runtime_call(api, "GET", "/invocation/next")
        request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        runtime_call(api, "POST", f"/invocation/{request_id}/error", b'{"errorType": "Runtime.UnmarshalError"}')
        threading.Thread(target=last_next, args=(api,), daemon=True).start()
        invocation.wait_end(10)  # well before the 60 s deadline
        flusher.begin(request_id)  # a handler that starts after all
        assert not flusher.defer(lambda: ran.append("deferred"))
        flusher.done(request_id)
    assert ran == []
