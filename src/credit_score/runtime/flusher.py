"""Capture after the answer: an internal Lambda extension that stores each invocation's records once
the response is posted and before the invoke ends.

Lambda sends each ``INVOKE`` event to the runtime and to every extension registered for it; the
caller gets the function's response as soon as the runtime posts it, while the invoke ends (and the
sandbox may freeze) only when the runtime and every extension have asked for their next event
(AWS Lambda Developer Guide, "Lambda Extensions API": Invoke phase, duration limit). An *internal*
extension is a thread of the runtime process; it must register during init and may register for
``INVOKE`` only, never ``SHUTDOWN``.

So :meth:`Flusher.start` registers from ``app.py``'s import (init), then a daemon thread loops on
``event/next``. The handler signals :meth:`Flusher.begin`, hands its stores to :meth:`Flusher.defer`
and signals :meth:`Flusher.done` when it returns; the thread, holding that invocation's ``INVOKE``
event, runs the stores (each within the capture budget, falling back to the log) and only then asks
for the next event. Every record is therefore stored or logged before the sandbox can freeze, and the client
never waits for S3 or Firehose. The time after the answer is billed (the invoke lasts until the last
``next``) but is not seen by the caller.

Records are never buffered across invocations: an internal extension gets no ``SHUTDOWN`` event, so
a buffer could not be flushed when the sandbox is retired, and a sandbox reset after a timeout would
drop it. Without ``AWS_LAMBDA_RUNTIME_API`` (local runs, ``test.py``, the local server), with
``CAPTURE_URI`` unset, with ``CAPTURE_AFTER_ANSWER=false`` or if registration fails, there is no
flusher and capture stays synchronous.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from credit_score.runtime.config import CAPTURE_URI, capture_after_answer
from credit_score.runtime.errors import ConfigError
from credit_score.runtime.logs import Log

RUNTIME_API = "AWS_LAMBDA_RUNTIME_API"
EXTENSION_NAME = "credit-score-capture"
_BASE = "/2020-01-01/extension"
_NAME_HEADER = "Lambda-Extension-Name"
_ID_HEADER = "Lambda-Extension-Identifier"
WAIT_MARGIN_S = 0.1
BEGIN_WAIT_S = 2.0  # from the INVOKE event to the handler's start; more means the runtime never called it

Store = Callable[[], Any]


class ExtensionsApi:
    """The two calls an internal extension makes, over one kept-alive HTTP connection."""

    def __init__(self, address: str) -> None:
        import http.client  # with ssl and email, 40-80 ms: imported only where Lambda's Extensions API is used

        host, _, port = address.rpartition(":")
        self._connection = http.client.HTTPConnection(host, int(port))
        self.identifier = ""

    def _call(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, Any, bytes]:
        self._connection.request(method, _BASE + path, body=body, headers=headers)
        response = self._connection.getresponse()
        return response.status, response.headers, response.read()

    def register(self, name: str) -> None:
        events = json.dumps({"events": ["INVOKE"]}).encode()
        status, headers, _ = self._call("POST", "/register", events, {_NAME_HEADER: name})
        if status != 200 or not headers.get(_ID_HEADER):
            raise ConnectionError(f"extension register answered {status}")
        self.identifier = headers[_ID_HEADER]

    def next_event(self) -> dict[str, Any]:
        """Blocks until Lambda has an event for this extension; asking for it ends the current invoke."""
        status, _, body = self._call("GET", "/event/next", None, {_ID_HEADER: self.identifier})
        if status != 200:
            raise ConnectionError(f"extension event/next answered {status}")
        return json.loads(body)


class Flusher:
    """Runs each invocation's deferred stores after its answer; see the module docstring."""

    def __init__(self, api: ExtensionsApi, *, log: Log, clock: Callable[[], float] = time.time) -> None:
        self._api = api
        self._log = log
        self._clock = clock
        self._lock = threading.Condition()
        self._pending: list[Store] = []
        self._current: str | None = None
        self._started: set[str] = set()
        self._finished: dict[str, list[Store]] = {}
        self._abandoned: set[str] = set()
        self._alive = True
        self._thread = threading.Thread(target=self._run, name=EXTENSION_NAME, daemon=True)

    @classmethod
    def start(cls, environ: Mapping[str, str] | None = None, *, log: Log | None = None) -> Flusher | None:
        """Register and start during init where Lambda's Extensions API exists; ``None`` elsewhere."""
        env = os.environ if environ is None else environ
        address = env.get(RUNTIME_API)
        log = log or Log(env.get("POWERTOOLS_SERVICE_NAME") or "credit-score", "INFO")
        try:
            wanted = capture_after_answer(env)
        except ConfigError as error:  # import must not fail: say so, and capture before the answer
            log.warning("capture_synchronous", reason=error.reason)
            return None
        if not address or not env.get(CAPTURE_URI) or not wanted:
            return None
        import http.client

        api = ExtensionsApi(address)
        try:
            api.register(EXTENSION_NAME)
        except (OSError, http.client.HTTPException) as error:
            log.warning("capture_synchronous", reason=f"extension not registered: {error}")
            return None
        flusher = cls(api, log=log)
        flusher._thread.start()
        return flusher

    def begin(self, request_id: str | None) -> None:
        """The handler started: the extension waits for its :meth:`done` (not when the runtime failed
        before calling it, e.g. on a payload it could not unmarshal)."""
        with self._lock:
            self._current = request_id or ""
            self._started.add(self._current)
            self._lock.notify_all()

    def defer(self, store: Store) -> bool:
        """Keep ``store`` for after this invocation's answer; ``False``: run it now (extension stopped,
        or it gave up waiting for this invocation)."""
        with self._lock:
            if not self._alive or self._current in self._abandoned:
                return False
            self._pending.append(store)
            return True

    def done(self, request_id: str | None) -> None:
        """The handler returned: its stores may run once the response is posted."""
        request_id = request_id or ""
        with self._lock:
            stores, self._pending, self._current = self._pending, [], None
            if request_id not in self._abandoned:
                self._finished[request_id] = stores
                self._lock.notify_all()
                return
            self._abandoned.discard(request_id)
        self._flush(stores)  # too late for the extension: before the answer, but stored or logged

    def _run(self) -> None:
        import http.client

        try:
            while True:
                event = self._api.next_event()
                if event.get("eventType") == "INVOKE":
                    self._flush(self._stores_of(event))
        except (OSError, ValueError, http.client.HTTPException) as error:
            with self._lock:
                self._alive = False
                stranded, self._pending = self._pending, []
            self._log.error("capture_extension_stopped", reason=type(error).__name__)
            self._flush(stranded)

    def _stores_of(self, event: Mapping[str, Any]) -> list[Store]:
        """The stores of the event's invocation, once its handler is done; none if the handler did not
        start within :data:`BEGIN_WAIT_S` or did not finish before the deadline (then it stores itself)."""
        request_id = str(event.get("requestId", ""))
        deadline_s = float(event.get("deadlineMs", 0)) / 1000 - WAIT_MARGIN_S
        begin_by = min(deadline_s, self._clock() + BEGIN_WAIT_S)
        with self._lock:
            for ready, until in ((self._started, begin_by), (self._finished, deadline_s)):
                while request_id not in ready:
                    left = until - self._clock()
                    if left <= 0:
                        self._started.discard(request_id)
                        self._abandoned.add(request_id)
                        return []
                    self._lock.wait(left)
            self._started.discard(request_id)
            return self._finished.pop(request_id)

    def _flush(self, stores: list[Store]) -> None:
        for store in stores:
            try:
                store()
            except Exception as error:  # a bug of ours must not stop the extension (and every later invoke)
                self._log.error("capture_store_failed", error_type=type(error).__name__)
