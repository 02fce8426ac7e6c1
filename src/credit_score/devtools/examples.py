"""Every example answer in the docs, produced by the served handler from the demo model, so none can go stale.

    make docs-examples                       # = python -m credit_score.devtools.examples --model-dir model
    python -m credit_score.devtools.examples --check [FILE ...]

A page marks a block with the name of an example of :data:`credit_score.devtools.openapi.EXAMPLE_REQUESTS`::

    <!-- example: single -->            the answer's body (JSON)
    <!-- example: single.request -->    the request's body
    <!-- example: single.curl -->       the request as a curl command against `make serve`
    <!-- example: single.http -->       the answer's status line and body

followed by anything (the first run fills it in) and closed by ``<!-- /example -->``. Generating sends each
example through ``app.handler``'s service on the bundle in ``--model-dir`` (an API Gateway HTTP API event,
as ``credit-score-serve`` builds it, with a request id derived from the example's name), writes every
request and answer to :data:`SNAPSHOT` and rewrites the marked blocks of the pages. ``--check`` needs no
model: it renders every marked block from the snapshot and fails (exit 1) on a block that differs or an
example that does not exist, which is what the fast test suite runs; a slow test regenerates the snapshot
from a freshly trained demo model and compares.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credit_score.cli import CommandParser
from credit_score.devtools.openapi import EXAMPLE_REQUESTS, ExampleRequest
from credit_score.devtools.serve import LambdaContext, build_event, to_response

__all__ = ["MARKER", "SNAPSHOT", "Stale", "answer_all", "check", "generate", "main", "render", "rewrite"]

SNAPSHOT = Path("docs") / "examples.json"
DEFAULT_PAGES = ("README.md", "docs/*.md")
LOCAL_URL = "http://127.0.0.1:8080"  # make serve
MARKER = re.compile(r"(?P<open><!-- example: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(?P<close><!-- /example -->)", re.S)
_NAMESPACE = uuid.UUID("5b0e8a52-4c8e-4f6c-9d5e-1f6b3c1a7e21")
_VIEWS = ("", "request", "curl", "http")

Handler = Callable[[dict[str, Any], Any], Any]


def _request_body(example: ExampleRequest) -> bytes:
    if example.body is None:
        return b""
    if isinstance(example.body, bytes):
        return example.body
    return json.dumps(example.body).encode()


def send(handler: Handler, name: str, example: ExampleRequest) -> dict[str, Any]:
    """One example through ``handler`` as the local server sends it; the request and the answer."""
    headers = [("host", "127.0.0.1:8080"), *example.headers]
    body = _request_body(example)
    if body:
        headers.append(("content-type", "application/json"))
    target = example.path + (f"?{example.query}" if example.query else "")
    event = build_event(example.method, target, headers, body, now=0.0)
    response = to_response(handler(event, LambdaContext(aws_request_id=str(uuid.uuid5(_NAMESPACE, name)))))
    return {
        "summary": example.summary,
        "method": example.method,
        "path": target,
        "headers": dict(example.headers),
        "request": example.body if not isinstance(example.body, bytes) else body.decode(),
        "status": response.status,
        "answer": json.loads(response.body),
    }


def answer_all(model_dir: Path, examples: Mapping[str, ExampleRequest] = EXAMPLE_REQUESTS) -> dict[str, Any]:
    """Every example's request and answer from a service of its own on ``model_dir``: no capture, metrics or logs."""
    from credit_score.runtime.config import Settings
    from credit_score.runtime.service import Service

    environment = {"MODEL_DIR": str(model_dir), "METRICS_ENABLED": "false", "LOG_LEVEL": "ERROR"}
    services: dict[tuple[tuple[str, str], ...], Service] = {}
    answers = {}
    for name, example in examples.items():
        service = services.get(example.environment)
        if service is None:
            service = services[example.environment] = Service(
                Settings.from_env(environment | dict(example.environment))
            )
            service.model()  # ModelUnavailable now rather than a 500 as every example's answer
        answers[name] = send(service.handle, name, example)
    return answers


def generate(model_dir: Path, examples: Mapping[str, ExampleRequest] = EXAMPLE_REQUESTS) -> dict[str, Any]:
    """The snapshot: every example's request and the answer the service gives on the bundle in ``model_dir``."""
    answers = answer_all(model_dir, examples)
    wrong = {name: answer["status"] for name, answer in answers.items() if answer["status"] != examples[name].status}
    if wrong:
        raise RuntimeError(f"examples answered with unexpected statuses: {wrong}")
    digest = hashlib.sha256((Path(model_dir) / "model.onnx").read_bytes()).hexdigest()
    served = answers["health"]["answer"] if "health" in answers else {}
    return {
        "model": {"name": served.get("model"), "version": served.get("version"), "model_onnx_sha256": digest},
        "examples": answers,
    }


def _curl(example: Mapping[str, Any]) -> str:
    parts = ["curl", "-s"]
    if example["method"] not in ("GET", "POST"):
        parts += ["-X", example["method"]]
    parts.append(LOCAL_URL + example["path"])
    for name, value in example["headers"].items():
        parts += ["-H", f"{name}: {value}"]
    request = example["request"]
    if request is not None:
        parts += ["-H", "Content-Type: application/json"]
        data = request if isinstance(request, str) else json.dumps(request, ensure_ascii=False)
        parts += ["-d", "@data.json" if data == Path("data.json").read_text(encoding="utf-8").strip() else data]
    return " ".join(part if part == "@data.json" else shlex.quote(part) for part in parts)


def render(view: str, snapshot: Mapping[str, Any]) -> str:
    """The content of the block ``<!-- example: VIEW -->``: NAME, NAME.request, NAME.curl or NAME.http."""
    name, _, kind = view.partition(".")
    example = snapshot["examples"].get(name)
    if example is None or kind not in _VIEWS:
        raise KeyError(view)
    if kind == "curl":
        return f"```bash\n{_curl(example)}\n```\n"
    if kind == "request":
        request = example["request"]
        text = request if isinstance(request, str) else json.dumps(request, indent=2, ensure_ascii=False)
        return f"```json\n{text}\n```\n"
    answer = json.dumps(example["answer"], indent=2, ensure_ascii=False)
    if kind == "http":
        return f"```http\nHTTP/1.1 {example['status']}\n\n{answer}\n```\n"
    return f"```json\n{answer}\n```\n"


@dataclass(frozen=True)
class Stale:
    """A marked block that differs from its rendering, or names no example."""

    path: Path
    line: int
    view: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: example '{self.view}' {self.problem}"


def rewrite(text: str, snapshot: Mapping[str, Any], path: Path = Path("-")) -> tuple[str, list[Stale]]:
    """``text`` with every marked block rendered from ``snapshot``, and the blocks that were stale or unknown."""
    stale: list[Stale] = []

    def replace(match: re.Match[str]) -> str:
        line = text.count("\n", 0, match.start()) + 1
        try:
            fresh = render(match["name"], snapshot)
        except KeyError:
            stale.append(Stale(path, line, match["name"], "names no example (see EXAMPLE_REQUESTS)"))
            return match[0]
        if fresh != match["body"]:
            stale.append(Stale(path, line, match["name"], "is stale: run `make docs-examples`"))
        return match["open"] + fresh + match["close"]

    return MARKER.sub(replace, text), stale


def pages(patterns: Iterable[str], root: Path = Path()) -> list[Path]:
    return sorted({path for pattern in patterns for path in root.glob(pattern) if path.is_file()})


def check(paths: Iterable[Path], snapshot: Mapping[str, Any]) -> list[Stale]:
    """Every stale or unknown marked block of ``paths``; nothing is written."""
    found: list[Stale] = []
    for path in paths:
        found.extend(rewrite(path.read_text(encoding="utf-8"), snapshot, path)[1])
    return found


EXIT_CODES = {0: "every marked block is current (or was rewritten)", 1: "--check found stale or unknown blocks"}


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="python -m credit_score.devtools.examples",
        description=(
            "Send every documented example request to the service on a model bundle, keep the answers in "
            f"{SNAPSHOT}, and rewrite the <!-- example: NAME --> blocks of the pages; or check them."
        ),
        exit_codes=EXIT_CODES,
    )
    parser.add_argument("pages", nargs="*", help=f"Markdown files (default: {' '.join(DEFAULT_PAGES)})")
    parser.add_argument("--model-dir", type=Path, default=Path("model"), help="bundle to answer with (model)")
    parser.add_argument("--check", action="store_true", help="compare the blocks with the snapshot; write nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    paths = [Path(page) for page in args.pages] if args.pages else pages(DEFAULT_PAGES)
    if args.check:
        found = check(paths, json.loads(SNAPSHOT.read_text(encoding="utf-8")))
        for stale in found:
            print(stale, file=sys.stderr)
        return 1 if found else 0
    snapshot, unknown = generate(args.model_dir), 0
    SNAPSHOT.write_text(json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for path in paths:
        text, found = rewrite(path.read_text(encoding="utf-8"), snapshot, path)
        missing = [stale for stale in found if "names no example" in stale.problem]
        for stale in missing:
            print(stale, file=sys.stderr)
        if len(found) > len(missing):
            path.write_text(text, encoding="utf-8")
            print(f"{path}: {len(found) - len(missing)} block(s) rewritten")
        unknown += len(missing)
    model = snapshot["model"]
    print(f"{SNAPSHOT}: {len(snapshot['examples'])} examples from {model['name']} v{model['version']}")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
