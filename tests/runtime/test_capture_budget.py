"""Capture's time budget, the AWS timeouts derived from it, the circuit breaker and deferral."""

from __future__ import annotations

import io
import json
import socket
import threading

import pytest

from credit_score.runtime import capture
from credit_score.runtime.capture import (
    AFTER_ANSWER_BUDGET_S,
    ATTEMPTS,
    BREAKER_FAILURES,
    CIRCUIT_OPEN,
    MARGIN_S,
    MIN_ATTEMPT_S,
    OUT_OF_TIME,
    Breaker,
    Capture,
    S3Sink,
    build_capture,
    client_options,
)
from credit_score.runtime.config import Settings, capture_after_answer
from credit_score.runtime.errors import ConfigError
from credit_score.runtime.logs import Log
from credit_score.runtime.service import Service
from tests.support.moto import fake_aws_environment


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakySink:
    """Fails (raising) while ``failing``, each call taking ``cost_s`` of the fake clock."""

    def __init__(self, clock: Clock, cost_s: float = 0.001) -> None:
        self.clock = clock
        self.cost_s = cost_s
        self.failing = True
        self.calls = 0
        self.timeouts: list[float] = []
        self.stored: list[bytes] = []

    def ready(self):
        self.clock.now += 5.0  # building a client is slow, and outside the budget

    def put(self, key, lines, timeout_s):
        self.calls += 1
        self.timeouts.append(round(timeout_s, 6))
        self.clock.now += self.cost_s
        if self.failing:
            raise ConnectionError("down")
        self.stored.extend(lines)
        return []


def fallback_reasons(stream: io.StringIO) -> list[str]:
    return [json.loads(line)["reason"] for line in stream.getvalue().splitlines()]


def capture_with(sink, clock: Clock, stream: io.StringIO, **options) -> Capture:
    return Capture(sink, log=Log("t", stream=stream), breaker=Breaker(clock=clock), clock=clock, **options)


def test_given_an_attempt_timeout_when_client_options_derived_then_connect_and_read_fill_it_and_no_botocore_retry():
    options = client_options(0.3)
    assert options["connect_timeout"] + options["read_timeout"] == pytest.approx(0.3)
    assert options["retries"]["total_max_attempts"] == 1


def test_given_fast_failures_when_stored_then_every_attempt_made_then_fallback():
    clock, stream = Clock(), io.StringIO()
    sink = FlakySink(clock)
    assert capture_with(sink, clock, stream).store([{"a": 1}], "k") == 1
    assert sink.calls == ATTEMPTS
    assert fallback_reasons(stream) == ["ConnectionError"]


def test_given_a_budget_when_stored_then_the_first_attempt_may_use_all_of_it():
    clock, stream = Clock(), io.StringIO()
    sink = FlakySink(clock, cost_s=0.25)  # slow, within the budget
    sink.failing = False
    writer = capture_with(sink, clock, stream, budget_s=0.3)
    for _ in range(3 * BREAKER_FAILURES):
        assert writer.store([{"a": 1}], "k") == 0
    assert sink.timeouts == [0.3] * 3 * BREAKER_FAILURES
    assert stream.getvalue() == "", "slowness within the budget is neither a fallback nor a breaker failure"


def test_given_a_slow_failure_when_time_is_left_then_the_retry_gets_what_is_left_and_none_below_the_minimum():
    clock, stream = Clock(), io.StringIO()
    sink = FlakySink(clock, cost_s=0.2)
    capture_with(sink, clock, stream, budget_s=0.3).store([{"a": 1}], "k")
    assert sink.timeouts == [0.3, pytest.approx(0.1)]
    sink = FlakySink(clock, cost_s=0.3 - MIN_ATTEMPT_S / 2)
    capture_with(sink, clock, stream, budget_s=0.3).store([{"a": 1}], "k")
    assert sink.calls == 1


def test_given_lambda_nearly_out_of_time_when_written_then_no_attempt_and_records_logged():
    clock, stream = Clock(), io.StringIO()
    sink = FlakySink(clock)
    sink.failing = False
    remaining_ms = int((MARGIN_S + MIN_ATTEMPT_S / 2) * 1000)  # less than the least attempt after the margin
    assert (
        capture_with(sink, clock, stream, budget_s=0.3).write([{"a": 1}, {"a": 2}], "k", remaining_ms=remaining_ms) == 2
    )
    assert sink.calls == 0
    assert fallback_reasons(stream) == [OUT_OF_TIME] * 2


def test_given_repeated_failures_when_breaker_opens_then_straight_to_fallback_then_one_probe_closes_it():
    clock, stream = Clock(), io.StringIO()
    sink = FlakySink(clock)
    writer = capture_with(sink, clock, stream)
    for _ in range(BREAKER_FAILURES):
        writer.store([{"a": 1}], "k")
    calls = sink.calls
    assert writer.store([{"a": 2}], "k") == 1
    assert sink.calls == calls, "an open breaker must not touch the sink"
    assert fallback_reasons(stream)[-1] == CIRCUIT_OPEN

    clock.now += capture.BREAKER_OPEN_S  # the period is over: one probe, which fails and reopens
    writer.store([{"a": 3}], "k")
    assert sink.calls == calls + ATTEMPTS
    writer.store([{"a": 4}], "k")
    assert sink.calls == calls + ATTEMPTS

    clock.now += capture.BREAKER_OPEN_S
    sink.failing = False
    assert writer.store([{"a": 5}], "k") == 0
    assert writer.store([{"a": 6}], "k") == 0
    assert len(sink.stored) == 2


def test_given_failures_not_in_a_row_when_stored_then_breaker_stays_closed():
    clock, stream = Clock(), io.StringIO()
    sink = FlakySink(clock)
    writer = capture_with(sink, clock, stream)
    for _ in range(3 * BREAKER_FAILURES):
        for failing in [True] * (BREAKER_FAILURES - 1) + [False]:
            sink.failing = failing
            writer.store([{"a": 1}], "k")
    assert CIRCUIT_OPEN not in fallback_reasons(stream)


def test_given_defer_when_written_then_stored_only_when_the_deferred_store_runs_and_late_fallbacks_reported():
    clock, stream = Clock(), io.StringIO()
    sink = FlakySink(clock)
    deferred, late = [], []
    writer = capture_with(sink, clock, stream, defer=lambda store: deferred.append(store) or True)
    assert writer.write([{"a": 1}, {"a": 2}], "k", late_fallbacks=late.append) == 0
    assert sink.calls == 0
    assert stream.getvalue() == ""
    [store] = deferred
    assert store() == 2
    assert late == [2]
    assert fallback_reasons(stream) == ["ConnectionError"] * 2


def test_given_defer_refused_when_written_then_stored_at_once():
    clock, stream = Clock(), io.StringIO()
    sink = FlakySink(clock)
    sink.failing = False
    writer = capture_with(sink, clock, stream, defer=lambda store: False)
    assert writer.write([{"a": 1}], "k") == 0
    assert len(sink.stored) == 1


@pytest.fixture
def hung_endpoint(monkeypatch):
    """A socket that accepts every connection and never answers; yields what clients sent."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    received: list[bytes] = []

    def accept() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            connection.settimeout(2)
            try:
                received.append(connection.recv(65536))
            except OSError:
                received.append(b"")

    threading.Thread(target=accept, daemon=True).start()
    fake_aws_environment(monkeypatch, f"http://127.0.0.1:{server.getsockname()[1]}")
    yield received
    server.close()


def test_given_s3_that_never_answers_when_captured_then_read_timeouts_no_100_continue_and_fallback(hung_endpoint):
    stream = io.StringIO()
    writer = build_capture("s3://bucket-x/p", log=Log("t", stream=stream), budget_s=0.2)
    assert writer.write([{"a": 1}], "k.jsonl") == 1
    assert set(fallback_reasons(stream)) == {"ReadTimeoutError"}
    assert 1 <= len(hung_endpoint) <= ATTEMPTS
    request = hung_endpoint[0]
    assert request.startswith(b"PUT ")
    assert b"expect:" not in request.lower(), "botocore would wait a fixed second for 100 Continue"


def test_given_refused_keys_when_stored_then_sink_untouched_and_breaker_still_closed():
    clock, stream = Clock(), io.StringIO()
    sink = FlakySink(clock)
    sink.failing = False
    writer = capture_with(sink, clock, stream)
    for _ in range(2 * BREAKER_FAILURES):
        assert writer.store([{"a": 1}], "../outside.jsonl") == 1
    assert sink.calls == 0
    assert writer.store([{"a": 2}], "k.jsonl") == 0
    assert set(fallback_reasons(stream)) == {"UnsafeKey"}


@pytest.mark.parametrize("text", ["5", "0.3", "soon"])
def test_given_a_budget_under_10_ms_or_not_whole_when_configured_then_config_error_naming_it(text):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"MODEL_DIR": "/m", "CAPTURE_BUDGET_MS": text})
    assert "CAPTURE_BUDGET_MS" in error.value.reason


def test_given_budget_and_after_answer_settings_when_read_then_values_and_defaults():
    assert Settings.from_env({"MODEL_DIR": "/m"}).capture_budget_ms is None  # the default of where capture runs
    assert Settings.from_env({"MODEL_DIR": "/m", "CAPTURE_BUDGET_MS": "750"}).capture_budget_ms == 750
    assert capture_after_answer({}) is True
    assert capture_after_answer({"CAPTURE_AFTER_ANSWER": "false"}) is False
    with pytest.raises(ConfigError) as error:
        capture_after_answer({"CAPTURE_AFTER_ANSWER": "later"})
    assert "CAPTURE_AFTER_ANSWER" in error.value.reason


class _Flusher:
    def defer(self, store):
        return True


@pytest.mark.parametrize(
    ("flusher", "budget_ms", "expected_s"), [(None, None, 0.3), (_Flusher(), None, 2.0), (_Flusher(), 750, 0.75)]
)
def test_given_where_capture_runs_when_the_service_builds_it_then_the_default_budget_of_that_place(
    tmp_path, flusher, budget_ms, expected_s
):
    settings = Settings(model_dir=tmp_path, capture_uri=str(tmp_path / "c"), capture_budget_ms=budget_ms)
    service = Service(settings, log=Log("t", stream=io.StringIO()), flusher=flusher)
    assert service.capture.budget_s == expected_s
    assert (AFTER_ANSWER_BUDGET_S, capture.BUDGET_S) == (2.0, 0.3)


@pytest.mark.parametrize("budget_s", [0.3, 2.0])
def test_given_a_budget_when_the_sink_is_ready_then_every_retry_client_is_built_and_none_outlasts_the_time_left(
    budget_s,
):
    built: list[float] = []
    sink = S3Sink(
        "b", "p", client_factory=lambda service, timeout_s: built.append(timeout_s) or timeout_s, budget_s=budget_s
    )
    sink.ready()
    assert built[0] == budget_s
    assert built[-1] <= MIN_ATTEMPT_S
    count = len(built)
    for left in (budget_s, budget_s * 0.9, budget_s / 3, 0.2, 0.1, MIN_ATTEMPT_S):
        timeout = sink._clients.get(left)
        assert timeout <= left
    assert len(built) == count, "no client is built inside the budget"


def test_given_time_passing_before_the_first_attempt_when_stored_then_it_still_gets_the_whole_budget():
    """The first attempt's timeout is the budget itself, not the budget less the microseconds since the
    deadline was set: the sink would pick a shorter client and fail storage that is slow but in budget."""
    clock, stream = Clock(), io.StringIO()
    sink = FlakySink(clock)
    sink.failing = False

    def advancing() -> float:
        clock.now += 0.001  # every reading of the clock takes a millisecond
        return clock.now

    ticking = capture_with(sink, advancing, stream, budget_s=2.0)
    ticking.store([{"a": 1}], "k")
    assert sink.timeouts == [2.0]
