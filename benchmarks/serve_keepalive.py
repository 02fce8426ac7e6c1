"""Latency of the local server (``credit-score-serve``) for a keep-alive client and for a new connection each time.

    python benchmarks/serve_keepalive.py [--requests 300] [--model-dir model] [--url http://127.0.0.1:8080]
        [--output benchmarks/results/serve.json]

requests.Session, browsers and load tools keep one connection open and send request after request
on it; a server that writes a response in small pieces then stalls each one for the client's 40 ms
delayed ACK. This starts the server the way ``make serve`` does (a subprocess on a free port, the
real handler) and times ``POST /predict`` with ``data.json`` and ``GET /health``, first on one
``http.client.HTTPConnection`` kept for every request, then with a new connection per request, and
reports p50/p90/p99 and how many TCP connections the client opened during the timed requests
(werkzeug answers ``Connection: close``, so the keep-alive client reconnects each time).

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
        CountingConnection.opened += 1
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


def measure(host: str, port: int, method: str, path: str, body: bytes | None, count: int, keep_alive: bool) -> dict:
    """``count`` timed requests after a warm-up, on one connection object or a new one each time."""
    CountingConnection.opened = 0
    kept = CountingConnection(host, port, timeout=30)
    times = []
    for number in range(WARMUP + count):
        connection = kept if keep_alive else CountingConnection(host, port, timeout=30)
        if number == WARMUP:
            CountingConnection.opened = 0
        elapsed = _exchange(connection, method, path, body)
        if not keep_alive:
            connection.close()
        if number >= WARMUP:
            times.append(elapsed * 1000)
    kept.close()
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {
        "request": f"{method} {path}",
        "client": "keep-alive (one HTTPConnection)" if keep_alive else "new connection per request",
        "requests": count,
        "tcp_connections_opened": CountingConnection.opened,
        "p50_ms": round(statistics.median(times), 3),
        "p90_ms": round(cuts[89], 3),
        "p99_ms": round(cuts[98], 3),
        "mean_ms": round(statistics.fmean(times), 3),
        "max_ms": round(max(times), 3),
    }


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
        measure(host, port, method, path, body, count, keep_alive)
        for method, path, body in (("POST", "/predict", payload), ("GET", "/health", None))
        for keep_alive in (True, False)
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
