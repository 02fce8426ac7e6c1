"""Latency of the local server (``credit-score-serve``) for a keep-alive client and for a new connection each time.

    python benchmarks/serve_keepalive.py [--requests 300] [--model-dir model] [--url http://127.0.0.1:8080]
        [--output benchmarks/results/serve.json]

requests.Session, browsers and load tools keep one connection open and send request after request
on it; a server that writes a response in small pieces then stalls each one for the client's 40 ms
delayed ACK. This starts the server the way ``make serve`` does (a subprocess on a free port, the
real handler) and times ``POST /predict`` with ``data.json`` and ``GET /health`` on one
``http.client.HTTPConnection`` kept for every request and with a new connection per request (the
two take turns). It reports p50/p90/p99 and the TCP connections each client opened during the
timed requests: werkzeug answers ``Connection: close``, so the keep-alive client reconnects each time.

The model is ``--model-dir`` (default ``model/`` when it holds a bundle, else a tiny bundle built in
a temporary folder). ``--url`` measures a server that is already running instead, e.g. another
version of this one.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 20


class CountingConnection(http.client.HTTPConnection):
    """An HTTPConnection that counts the TCP connections it opens (it reopens after ``Connection: close``)."""

    opened = 0

    def connect(self) -> None:
        self.opened += 1
        super().connect()


def _exchange(connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None) -> float:
    started = time.perf_counter()
    connection.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"{method} {path} answered {response.status}")
    return elapsed


def _summary(times: list[float], client: str, request: str, connections: int) -> dict[str, Any]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {
        "request": request,
        "client": client,
        "requests": len(times),
        "tcp_connections_opened": connections,
        "p50_ms": round(statistics.median(times), 3),
        "p90_ms": round(cuts[89], 3),
        "p99_ms": round(cuts[98], 3),
        "mean_ms": round(statistics.fmean(times), 3),
        "max_ms": round(max(times), 3),
    }


def measure(host: str, port: int, method: str, path: str, body: bytes | None, count: int) -> list[dict[str, Any]]:
    """``count`` timed requests per client after a warm-up, the two clients taking turns.

    Taking turns exposes both to the same load on a shared machine; the keep-alive client's one
    connection object reconnects by itself when the server closes, and counts it.
    """
    kept = CountingConnection(host, port, timeout=30)
    fresh = CountingConnection(host, port, timeout=30)
    times: dict[str, list[float]] = {"kept": [], "fresh": []}
    for number in range(WARMUP + count):
        if number == WARMUP:
            kept.opened = fresh.opened = 0
        for name, connection in (("kept", kept), ("fresh", fresh)):
            elapsed = _exchange(connection, method, path, body)
            if name == "fresh":
                connection.close()
            if number >= WARMUP:
                times[name].append(elapsed * 1000)
    kept.close()
    request = f"{method} {path}"
    return [
        _summary(times["kept"], "keep-alive (one HTTPConnection)", request, kept.opened),
        _summary(times["fresh"], "new connection per request", request, fresh.opened),
    ]


def _default_bundle(folder: Path) -> Path:
    if (ROOT / "model" / "model.onnx").is_file():
        return ROOT / "model"
    sys.path.insert(0, str(ROOT))
    from tests.support.bundles import build_tiny_bundle

    return build_tiny_bundle(folder / "model").path


@contextmanager
def local_server(model_dir: Path) -> Iterator[tuple[str, int]]:
    """``python -m credit_score.devtools.serve --port 0`` with this checkout's code; its logs are dropped."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "METRICS_ENABLED": "false"}
    command = [sys.executable, "-m", "credit_score.devtools.serve", "--port", "0", "--model-dir", str(model_dir)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()
        found = re.search(r"serving on http://([\d.]+):(\d+)", line)
        if not found:
            raise RuntimeError(f"the server did not start: {line.strip()}")
        # Access lines keep coming on stderr; read them so the pipe never fills and blocks the server.
        threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
        yield found.group(1), int(found.group(2))
    finally:
        process.terminate()
        process.wait(timeout=10)


def run(host: str, port: int, count: int) -> list[dict[str, Any]]:
    payload = (ROOT / "data.json").read_bytes()
    return [
        case
        for method, path, body in (("POST", "/predict", payload), ("GET", "/health", None))
        for case in measure(host, port, method, path, body, count)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="timed requests per case (default 300)")
    parser.add_argument("--model-dir", type=Path, default=None, help="bundle to serve (default model/ or a tiny one)")
    parser.add_argument("--url", default=None, help="measure this running server instead of starting one")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "serve.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        if args.url:
            address = urlsplit(args.url)
            cases = run(address.hostname or "127.0.0.1", address.port or 80, args.requests)
            server = args.url
        else:
            model_dir = args.model_dir or _default_bundle(Path(folder))
            with local_server(model_dir) as (host, port):
                cases = run(host, port, args.requests)
            server = "credit-score-serve (werkzeug threaded server), this checkout"
    result = {
        "server": server,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),  # a shared machine: read the numbers with it
        "warmup_requests": WARMUP,
        "cases": cases,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for case in cases:
        print(
            f"{case['request']:<14} {case['client']:<32} p50 {case['p50_ms']:7.3f} ms  p99 {case['p99_ms']:7.3f} ms"
            f"  ({case['tcp_connections_opened']} TCP connections opened for {case['requests']} requests)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
