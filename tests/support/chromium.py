"""Headless Chromium driven over the DevTools protocol on a pipe: open a page, run script in it, screenshot it.

``--remote-debugging-pipe`` makes Chromium read commands from fd 3 and write answers and events to fd 4,
each message JSON ended by a NUL byte, so no WebSocket client (and no port) is needed. Only what the page
tests use: one tab, ``Runtime.evaluate`` (awaiting promises), ``Page.captureScreenshot``, and every
request the page makes (``Network.requestWillBeSent``), so a test can assert that it fetched nothing from
outside.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)


class BrowserError(RuntimeError):
    """Chromium answered a command with an error, or a script in the page threw."""


class Chromium:
    """One headless browser with one page; use as a context manager."""

    def __init__(self, width: int = 1280, height: int = 2000, timeout_s: float = 60.0) -> None:
        if CHROMIUM is None:
            raise RuntimeError("headless Chromium is not installed (Debian: apt-get install -y chromium)")
        self.timeout_s = timeout_s
        self.requests: list[str] = []
        self.console: list[str] = []
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        commands_read, self._commands = os.pipe()
        self._events, events_write = os.pipe()
        # Above 9 so that placing them on 3 and 4 in the child cannot overwrite one with the other.
        child_read = fcntl.fcntl(commands_read, fcntl.F_DUPFD_CLOEXEC, 10)
        child_write = fcntl.fcntl(events_write, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(commands_read)
        os.close(events_write)

        def on_fds_3_and_4() -> None:
            os.dup2(child_read, 3)
            os.dup2(child_write, 4)

        self._process = subprocess.Popen(
            [CHROMIUM, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=on_fds_3_and_4,
        )  # fmt: skip
        os.close(child_read)
        os.close(child_write)
        self._next_id = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self._arrived = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._commands)
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._profile.cleanup()

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._events, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                self._dispatch(json.loads(raw))
        with self._arrived:
            self._arrived.notify_all()

    def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method == "Network.requestWillBeSent":
            self.requests.append(message["params"]["request"]["url"])
        elif method == "Runtime.consoleAPICalled":
            self.console.append(" ".join(str(arg.get("value", arg.get("description", ""))) for arg in
                                         message["params"]["args"]))  # fmt: skip
        elif method == "Runtime.exceptionThrown":
            self.console.append(message["params"]["exceptionDetails"].get("text", "exception"))
        if "id" in message:
            with self._arrived:
                self._answers[message["id"]] = message
                self._arrived.notify_all()

    def call(self, method: str, *, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        with self._arrived:
            if not self._arrived.wait_for(
                lambda: self._next_id in self._answers or self._process.poll() is not None, timeout=self.timeout_s
            ):
                raise BrowserError(f"{method}: no answer in {self.timeout_s} s")
        answer = self._answers.pop(self._next_id, None)
        if answer is None:
            raise BrowserError(f"{method}: Chromium exited ({self._process.returncode})")
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` in the page (a promise is awaited); BrowserError if it throws."""
        result = self.call("Runtime.evaluate", session=True, expression=expression, awaitPromise=True,
                           returnByValue=True, timeout=int(self.timeout_s * 1000))  # fmt: skip
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Navigate and wait until the document has loaded."""
        self.call("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            try:  # the old document may still answer, or be torn down mid-call, while the new one loads
                if self.evaluate("[location.href, document.readyState]") == [url, "complete"]:
                    return
            except BrowserError:
                pass
            time.sleep(0.05)
        raise BrowserError(f"{url} did not load in {self.timeout_s} s")

    def wait_for(self, condition: str) -> Any:
        """Poll the JavaScript expression ``condition`` until it is truthy; its value."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(condition)
            if value:
                return value
            time.sleep(0.1)
        raise BrowserError(f"never true in {self.timeout_s} s: {condition}")

    def screenshot(self, path: Path, *, full_page: bool = False) -> Path:
        """A PNG of the viewport (or of the whole page)."""
        data = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=full_page)["data"]
        path.write_bytes(base64.b64decode(data))
        return path
