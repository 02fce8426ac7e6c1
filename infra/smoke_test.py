"""Smoke check of a deployed (or locally emulated) function: did it answer data.json with a
prediction from the expected model version?

    aws lambda invoke --function-name NAME --payload fileb://data.json response.json > invoke.json
    python infra/smoke_test.py response.json --expect-version 7 [--invoke-result invoke.json]

``response.json`` is what the function returned for a direct invocation (the ``statusCode``,
``headers``, ``body`` envelope); ``invoke.json`` is the Lambda API's own answer, where
``FunctionError`` marks a crash. Standard library only: it runs on a bare CI runner.
Exit 0 and one summary line when the check passes; exit 1 and one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

PREDICTION_CODES = (0, 1, 2)


def invoke_problems(invoke: Any) -> list[str]:
    """Problems in the Lambda Invoke API result (not the function's own answer)."""
    if not isinstance(invoke, dict):
        return ["the invoke result is not a JSON object"]
    problems = []
    if invoke.get("FunctionError"):
        problems.append(f"the function failed: FunctionError={invoke['FunctionError']}")
    if invoke.get("StatusCode") != 200:
        problems.append(f"the Invoke API answered StatusCode={invoke.get('StatusCode')}, expected 200")
    return problems


def response_problems(response: Any, expected_version: str) -> list[str]:
    """Problems in the function's answer; empty when it is a 200 prediction by ``expected_version``."""
    if not isinstance(response, dict) or "statusCode" not in response:
        return ["the function did not answer with a statusCode envelope (crashed, or not this handler)"]
    problems = []
    status = response["statusCode"]
    try:
        body = json.loads(response.get("body") or "")
    except (TypeError, ValueError):
        return [f"statusCode {status} with a body that is not JSON"]
    if not isinstance(body, dict):
        return [f"statusCode {status} with a body that is not a JSON object"]
    if status != 200:
        problems.append(f"statusCode {status}, expected 200 (error={body.get('error')!s})")
    version = str(body.get("version"))
    if version != expected_version:
        problems.append(f"model version {version} answered, expected {expected_version}")
    if body.get("prediction") not in PREDICTION_CODES:
        problems.append(f"prediction must be one of {list(PREDICTION_CODES)}")
    return problems


def _read_json(path: Path) -> Any:
    """The parsed document, or ``None`` when the file is missing or not JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a function's answer to data.json.")
    parser.add_argument("response", type=Path, help="the function's answer (aws lambda invoke's outfile)")
    parser.add_argument("--expect-version", required=True, help="registry version the answer must carry")
    parser.add_argument("--invoke-result", type=Path, help="aws lambda invoke's stdout (JSON)")
    args = parser.parse_args(argv)

    problems = []
    if args.invoke_result is not None:
        problems += invoke_problems(_read_json(args.invoke_result))
    response = _read_json(args.response)
    if response is None:
        problems.append(f"no readable JSON answer in {args.response}")
    else:
        problems += response_problems(response, args.expect_version)
    if problems:
        for problem in problems:
            print(f"smoke test failed: {problem}", file=sys.stderr)
        return 1
    body = json.loads(response["body"])
    print(
        f"smoke test passed: status 200, model {body.get('model')} version {body['version']}, "
        f"prediction {body['prediction']} ({body.get('label')})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
