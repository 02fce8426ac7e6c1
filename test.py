"""Invoke the Lambda handler locally on a payload or event file and print the response envelope.

    python test.py [FILE]      FILE defaults to data.json; any event of tests/events/ works too

Local defaults (environment variables win): MODEL_DIR=./model (``make demo`` builds it),
CAPTURE_URI=./capture (JSON Lines under the S3 layout), metrics as EMF lines on stdout. Exit codes in
``--help``: 0 a 2xx/3xx answer, 1 an error answer, 2 a usage error (no such file, not JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))

from credit_score.cli import CommandParser  # noqa: E402 - after the checkout's src/ is on the path

EXIT_CODES = {0: "the handler answered 2xx or 3xx", 1: "the handler answered with an error status"}


class LocalContext:
    """The few Lambda context attributes the handler reads."""

    function_name = "credit-score-local"
    memory_limit_in_mb = 1024

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())


def _event(path: str) -> Any:
    """The JSON of ``path``; a usage error (one line, exit 2) when it cannot be read or is not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {error.strerror}") from None
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{path} is not JSON: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = CommandParser(
        prog="test.py",
        description=(
            'Invoke app.handler locally on a payload ({"data": {...}}) or any AWS event JSON and print the '
            "response envelope, its body decoded."
        ),
        exit_codes=EXIT_CODES,
    )
    parser.add_argument(
        "file", nargs="?", type=_event, default=str(ROOT / "data.json"), help="payload or event JSON (data.json)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("MODEL_DIR", str(ROOT / "model"))
    os.environ.setdefault("CAPTURE_URI", str(ROOT / "capture"))
    import app

    response = app.handler(args.file, LocalContext())
    print(json.dumps({**response, "body": json.loads(response["body"])}, indent=2))
    return 0 if response["statusCode"] < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
