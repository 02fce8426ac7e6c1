"""The local server: HTTP in, an HTTP API 2.0 event to the handler, its envelope back out as HTTP."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from credit_score.devtools import openapi
from credit_score.devtools.serve import LambdaContext, Server, build_event, make_server, to_response
from credit_score.runtime.config import Settings
from credit_score.runtime.events import HttpApi, detect
from credit_score.runtime.service import Service
from tests.support.bundles import tiny_bundle  # noqa: F401 - the session fixture
from tests.support.paths import ROOT

LIMIT = 2048


class RecordingHandler:
    """A stand-in Lambda function: keeps each event and context, answers what it is told to."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], Any]] = []
        self.answer: Any = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}
        self.active = 0
        self.overlaps = 0
        self.delay = 0.0

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.active += 1
        self.overlaps += self.active > 1
        time.sleep(self.delay)
        self.calls.append((event, context))
        self.active -= 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def start(handler: Any, settings: Settings) -> Server:
    server = make_server("127.0.0.1", 0, handler=handler, settings=settings)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def fake() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def server(fake: RecordingHandler) -> Iterator[Server]:
    running = start(fake, Settings(model_dir=Path("unused"), max_body_bytes=LIMIT, max_batch_size=20))
    yield running
    running.shutdown()
    running.server_close()


def request(server: Server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def raw_exchange(server: Server, data: bytes) -> bytes:
    with socket.create_connection(server.server_address[:2], timeout=10) as connection:
        connection.sendall(data)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_given_post_when_served_then_handler_gets_an_http_api_v2_event(server, fake):
    status, _, _ = request(
        server,
        "POST",
        "/predict?mode=fast&mode=slow&empty=",
        b'{"data": {}}',
        {"Content-Type": "application/json", "X-Custom": "One", "Cookie": "a=1; b=2", "User-Agent": "tester/1"},
    )
    assert status == 200
    event, context = fake.calls[0]
    assert isinstance(detect(event), HttpApi)
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/predict"
    assert event["rawQueryString"] == "mode=fast&mode=slow&empty="
    assert event["queryStringParameters"] == {"mode": "fast,slow", "empty": ""}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["x-custom"] == "One"
    assert all(key == key.lower() for key in event["headers"])
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-amzn-trace-id"].startswith("Root=1-")
    assert event["body"] == '{"data": {}}'
    assert event["isBase64Encoded"] is False
    http_context = event["requestContext"]["http"]
    assert http_context == {
        "method": "POST",
        "path": "/predict",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tester/1",
    }
    request_context = event["requestContext"]
    assert re.fullmatch(r"[A-Za-z0-9]{15}=", request_context["requestId"])
    assert request_context["stage"] == "$default"
    assert abs(request_context["timeEpoch"] / 1000 - time.time()) < 60
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", request_context["time"])
    assert re.fullmatch(r"[0-9a-f-]{36}", context.aws_request_id)
    assert 0 < context.get_remaining_time_in_millis() <= 30_000


def test_given_percent_encoded_target_when_served_then_raw_path_and_query_as_sent(server, fake):
    request(server, "GET", "/a%20b/%2F?q=%41&r=1")
    event, _ = fake.calls[0]
    assert (event["rawPath"], event["rawQueryString"]) == ("/a%20b/%2F", "q=%41&r=1")
    assert event["queryStringParameters"] == {"q": "A", "r": "1"}


def test_given_query_string_when_served_then_access_line_leaves_it_out(server, fake, capsys):
    request(server, "POST", "/predict?customer=s3cr3t", b"{}")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert {"message": "http_access", "method": "POST", "path": "/predict", "status": 200} in [
        {key: line[key] for key in ("message", "method", "path", "status")} for line in lines if "status" in line
    ]
    assert not any("s3cr3t" in json.dumps(line) for line in lines)


def test_given_binary_body_when_served_then_event_carries_it_base64_encoded(server, fake):
    payload = bytes(range(256))
    request(server, "POST", "/", payload, {"Content-Type": "application/octet-stream"})
    event, _ = fake.calls[0]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_given_get_without_body_when_served_then_event_has_no_body(server, fake):
    request(server, "GET", "/health")
    event, _ = fake.calls[0]
    assert "body" not in event
    assert event["requestContext"]["http"]["method"] == "GET"


def test_given_handler_envelope_when_served_then_status_headers_and_body_are_the_response(server, fake):
    fake.answer = {
        "statusCode": 422,
        "headers": {"Content-Type": "application/json", "X-Request-Id": "abc", "Content-Length": "999"},
        "cookies": ["session=1; HttpOnly"],
        "body": base64.b64encode(b'{"error":"validation_error"}').decode(),
        "isBase64Encoded": True,
    }
    status, headers, body = request(server, "POST", "/", b"{}")
    assert status == 422
    assert headers["X-Request-Id"] == "abc"
    assert headers["Set-Cookie"] == "session=1; HttpOnly"
    assert headers["Content-Length"] == str(len(body))
    assert body == b'{"error":"validation_error"}'


def test_given_plain_dict_result_when_served_then_gateway_infers_a_200_json_response(server, fake):
    fake.answer = {"hello": "world"}
    status, headers, body = request(server, "POST", "/", b"{}")
    assert (status, headers["Content-Type"], json.loads(body)) == (200, "application/json", {"hello": "world"})


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "200", "body": "{}"},
        {"statusCode": 200, "body": 5},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
        {"statusCode": 99, "body": ""},
    ],
)
def test_given_malformed_envelope_when_converted_then_generic_gateway_500(result):
    response = to_response(result)
    assert response.status == 500
    assert json.loads(response.body) == {"message": "Internal Server Error"}


def test_given_handler_crash_when_served_then_generic_500_and_server_keeps_serving(server, fake):
    fake.answer = RuntimeError("boom with secrets")
    status, _, body = request(server, "POST", "/", b"{}")
    assert status == 500
    assert b"secrets" not in body
    fake.answer = {"statusCode": 200, "body": "ok"}
    assert request(server, "GET", "/health")[0] == 200


def test_given_body_over_the_limit_when_sent_then_413_json_and_handler_never_called(server, fake):
    status, headers, body = request(server, "POST", "/", b"x" * (LIMIT + 1), {"Content-Type": "application/json"})
    assert status == 413
    assert json.loads(body)["error"] == "payload_too_large"
    assert headers["Connection"] == "close"
    assert fake.calls == []


def test_given_expect_continue_over_the_limit_when_sent_then_refused_before_the_body(server, fake):
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {LIMIT * 100}\r\nExpect: 100-continue\r\n\r\n").encode()
    answer = raw_exchange(server, head)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"payload_too_large" in answer
    assert fake.calls == []


def test_given_expect_continue_within_the_limit_when_sent_then_continue_then_the_answer(server, fake):
    body = b'{"data": {"Age": "40"}}'
    head = f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    with socket.create_connection(server.server_address[:2], timeout=10) as connection:
        connection.sendall(head.encode())
        assert connection.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
        connection.sendall(body)
        assert connection.recv(65536).startswith(b"HTTP/1.1 200")
    assert fake.calls[0][0]["body"] == body.decode()


def test_given_chunked_body_when_sent_then_handler_gets_it_whole(server, fake):
    data = b'{"data": {"Age": "40"}}'
    chunked = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (data[:7], data[7:])) + b"0\r\n\r\n"
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(server, head + chunked)
    assert answer.startswith(b"HTTP/1.1 200")
    assert fake.calls[0][0]["body"] == data.decode()


def test_given_chunked_body_with_a_bad_chunk_size_when_sent_then_json_400(server, fake):
    head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = raw_exchange(server, head + b"5\r\nhello\r\n-3\r\nabc\r\n0\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(body)["message"] == "malformed chunked body"
    assert fake.calls == []


def test_given_chunked_body_over_the_limit_when_sent_then_413(server, fake):
    chunk = b"x" * 1000
    chunked = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 3 + b"0\r\n\r\n"
    head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer = raw_exchange(server, head + chunked)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"payload_too_large" in answer
    assert fake.calls == []


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", b"400"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n", b"400"),
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET / HTTP/9.9\r\n\r\n", b"505"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400"),
    ],
)
def test_given_malformed_request_when_sent_then_json_error_without_echo(server, fake, data, status):
    answer = raw_exchange(server, data)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == status
    document = json.loads(body)
    assert set(document) == {"error", "message", "request_id"}
    assert b"GARBAGE" not in body
    assert b"lots" not in body
    assert fake.calls == []


def test_given_unknown_method_when_sent_then_405_with_allow(server, fake):
    status, headers, body = request(server, "BREW", "/")
    assert status == 405
    assert headers["Allow"] == "GET, POST"
    assert json.loads(body)["error"] == "method_not_allowed"


def test_given_head_when_sent_then_headers_without_body(server, fake):
    status, headers, body = request(server, "HEAD", "/openapi.json")
    get_status, _, get_body = request(server, "GET", "/openapi.json")
    assert status == get_status == 200
    assert body == b""
    assert headers["Content-Length"] == str(len(get_body))
    on_the_wire = raw_exchange(server, b"HEAD /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
    assert on_the_wire.startswith(b"HTTP/1.1 200")
    assert on_the_wire.endswith(b"\r\n\r\n")  # http.client never reads a HEAD body; the socket shows it
    fake.answer = {"statusCode": 405, "headers": {"Allow": "GET, POST"}, "body": '{"error":"method_not_allowed"}'}
    status, headers, body = request(server, "HEAD", "/health")
    assert (status, body, headers["Allow"]) == (405, b"", "GET, POST")
    assert fake.calls[0][0]["requestContext"]["http"]["method"] == "HEAD"


def test_given_openapi_path_when_requested_then_the_document_for_these_limits(server, fake):
    status, headers, body = request(server, "GET", "/openapi.json")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == openapi.document(max_batch_size=20, max_body_bytes=LIMIT)
    assert fake.calls == []


def test_given_docs_path_when_requested_then_swagger_ui_from_this_server_only(server, fake):
    status, headers, body = request(server, "GET", "/docs")
    page = body.decode()
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["connect-src"] == "'self'"  # no inline script, no other origin
    assert "://" not in page
    assert re.findall(r"<script(?: [^>]*)?>\s*[^<\s]", page) == []  # every script is a file served below
    for asset in re.findall(r'(?:src|href)="(/docs/[^"]+)"', page):
        status, asset_headers, asset_body = request(server, "GET", asset)
        assert status == 200, asset
        assert len(asset_body) > 100
        assert asset_headers["Content-Type"].startswith(("text/css", "text/javascript", "image/png"))
    assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"} <= set(re.findall(r'"(/docs/[^"]+)"', page))
    assert fake.calls == []


def test_given_the_swagger_ui_package_when_served_then_its_pinned_version_renders_openapi_31():
    """Swagger UI renders OpenAPI 3.1 from 5.0 on (swagger-ui-bundle 1.1.0 ships 4.15.5, which cannot)."""
    from swagger_ui_bundle import swagger_ui_path

    pinned = re.search(r"^swagger-ui-bundle-v2==(\S+)$", (ROOT / "requirements-build.txt").read_text(), re.M)
    assert pinned, "the Swagger UI package is pinned with the build requirements"
    assert swagger_ui_path.name == f"swagger-ui-{pinned.group(1)}"
    assert int(pinned.group(1).split(".")[0]) >= 5
    assert openapi.document()["openapi"].startswith("3.1")


def test_given_keep_alive_client_when_requests_follow_each_other_then_no_delayed_ack_stall(server, fake):
    """20 requests on one connection object (as requests.Session, browsers and load tools make them).

    A timed assert, on purpose: what it guards against is a timing fault, the 40 ms delayed-ACK
    stall of a server that writes each response in small pieces on a kept-alive connection (44 ms
    per request was measured on the hand-written server). An answer takes about a millisecond, so
    400 ms for all 20 leaves a loaded machine ten times the room while a stall (800 ms) still fails.
    """
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    statuses = []
    started = time.perf_counter()
    for _ in range(20):
        connection.request("POST", "/predict", body=b'{"data": {}}', headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        statuses.append(response.status)
        response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    assert statuses == [200] * 20
    assert len(fake.calls) == 20
    assert elapsed < 0.4, f"20 keep-alive requests took {elapsed * 1000:.0f} ms"


def test_given_concurrent_requests_when_served_then_handler_calls_never_overlap(server, fake):
    fake.delay = 0.02
    threads = [threading.Thread(target=request, args=(server, "POST", "/", b"{}")) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(fake.calls) == 8
    assert fake.overlaps == 0


def test_given_context_when_time_passes_then_remaining_time_shrinks_to_zero():
    context = LambdaContext(timeout_s=0.05)
    first = context.get_remaining_time_in_millis()
    time.sleep(0.06)
    assert 0 < first <= 50
    assert context.get_remaining_time_in_millis() == 0
    assert context.invoked_function_arn.endswith(":function:credit-score-local")


def test_given_event_builder_when_called_then_same_event_as_served_shape():
    event = build_event("POST", "/p", [("Host", "h.example"), ("X-A", "1"), ("x-a", "2")], b"\xff", now=1_700_000_000)
    assert event["headers"]["x-a"] == "1,2"
    assert event["requestContext"]["domainName"] == "h.example"
    assert event["requestContext"]["timeEpoch"] == 1_700_000_000_000
    assert event["requestContext"]["time"] == "14/Nov/2023:22:13:20 +0000"
    assert event["isBase64Encoded"] is True


@pytest.fixture
def real_server(tiny_bundle: Path) -> Iterator[Server]:  # noqa: F811 - the imported fixture
    settings = Settings.from_env({"MODEL_DIR": str(tiny_bundle), "METRICS_ENABLED": "false"})
    running = start(Service(settings).handle, settings)
    yield running
    running.shutdown()
    running.server_close()


def test_given_real_handler_when_data_json_posted_then_prediction_over_http(real_server):
    payload = (ROOT / "data.json").read_bytes()
    status, headers, body = request(real_server, "POST", "/predict", payload, {"Content-Type": "application/json"})
    document = json.loads(body)
    assert status == 200
    assert document["label"] in {"Poor", "Standard", "Good"}
    assert abs(sum(document["probabilities"].values()) - 1) < 1e-5
    assert headers["X-Request-Id"] == document["request_id"]
    assert headers["X-Model-Version"] == "7"
    status, _, body = request(real_server, "GET", "/health")
    assert (status, json.loads(body)["status"]) == (200, "ok")
    status, _, body = request(real_server, "POST", "/predict", b'{"data": {"Age": "x"}}')
    assert status == 422
    assert {problem["field"] for problem in json.loads(body)["details"]} >= {"Age", "Credit_Mix"}


def test_given_cli_when_started_on_a_free_port_then_it_serves_until_stopped(tiny_bundle):  # noqa: F811
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "METRICS_ENABLED": "false"}
    command = [sys.executable, "-m", "credit_score.devtools.serve", "--port", "0", "--model-dir", str(tiny_bundle)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        line = process.stderr.readline()
        url = re.search(r"serving on http://([\d.]+):(\d+)", line)
        assert url, line
        connection = http.client.HTTPConnection(url.group(1), int(url.group(2)), timeout=30)
        connection.request("GET", "/health")
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())["version"]) == (200, "7")
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_given_bad_configuration_when_cli_starts_then_exit_2_with_the_reason():
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "MAX_BATCH_SIZE": "many"}
    command = [sys.executable, "-m", "credit_score.devtools.serve", "--port", "0"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "MAX_BATCH_SIZE" in result.stderr


def test_given_port_in_use_when_cli_starts_then_exit_2_with_the_reason(tiny_bundle):  # noqa: F811
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "METRICS_ENABLED": "false"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        command = [sys.executable, "-m", "credit_score.devtools.serve", "--port", port, "--model-dir", str(tiny_bundle)]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
