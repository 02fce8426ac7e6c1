"""Invoke the Lambda handler locally on a payload or event file and print the response envelope.

    python test.py [FILE]      FILE defaults to data.json; any event of tests/events/ works too

Local defaults (environment variables win): MODEL_DIR=./model (``make demo`` builds it),
CAPTURE_URI=./capture (JSON Lines under the S3 layout), metrics as EMF lines on stdout. Exits 1
when the handler answers with an error status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent


class LocalContext:
    """The few Lambda context attributes the handler reads."""

    function_name = "credit-score-local"
    memory_limit_in_mb = 1024

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=ROOT / "data.json", help="payload or event JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("MODEL_DIR", str(ROOT / "model"))
    os.environ.setdefault("CAPTURE_URI", str(ROOT / "capture"))
    sys.path.insert(0, str(ROOT / "src"))
    import app

    event = json.loads(args.file.read_text(encoding="utf-8"))
    response = app.handler(event, LocalContext())
    print(json.dumps({**response, "body": json.loads(response["body"])}, indent=2))
    return 0 if response["statusCode"] < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
