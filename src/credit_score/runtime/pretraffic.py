"""CodeDeploy's pre-traffic hook: check the function's new version before any traffic reaches it.

The template runs this module as a second function from the same image
(``ImageConfig.Command: credit_score.runtime.pretraffic.handler``), so the hook holds the very bundle
the new version serves. ``TARGET_FUNCTION_VERSION`` is the new version's ARN (the template's
``Function.Version``); ``EXPECTED_MODEL_VERSION`` the registry version the deploy asked for.

What it checks, each through the handler by a direct ``lambda:InvokeFunction`` of that version:

1. ``data.json`` (the seed's request): Lambda ran that version (``ExecutedVersion``), no
   ``FunctionError``, status 200, a prediction among the class codes, and ``version`` equal to the
   expected model version (the bundle's own when the stack got none).
2. The known-answer set (``known_answers.json`` in the bundle, see ``contract/known_answers.py``): one
   batch of applicants from the run's parity sample; every class must equal the registry model's and
   every probability must be within the stored tolerance.

Then it reports ``Succeeded`` or ``Failed`` with ``PutLifecycleEventHookExecutionStatus``; a failure
stops the deployment before any traffic shifts and CodeDeploy keeps the alias on the old version.
The event (``DeploymentId``, ``LifecycleEventHookExecutionId``) and the call's three parameters are
those of the CodeDeploy API Reference, "PutLifecycleEventHookExecutionStatus", and the CodeDeploy User
Guide, "AppSpec 'hooks' section for an AWS Lambda deployment". A hook that cannot report raises, and
CodeDeploy fails the deployment when the hook's hour runs out. Log lines carry row indexes and
differences, never an applicant's value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credit_score.contract import known_answers
from credit_score.contract.bundle import BundleError, load_bundle
from credit_score.runtime.config import default_model_dir
from credit_score.runtime.logs import Log

__all__ = ["Check", "check_version", "handler"]

TARGET_FUNCTION_VERSION = "TARGET_FUNCTION_VERSION"
EXPECTED_MODEL_VERSION = "EXPECTED_MODEL_VERSION"
SEED_REQUEST = "data.json"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
_UNKNOWN_VERSION = "unknown"
_CODES = (0, 1, 2)


@dataclass(frozen=True)
class Check:
    """The verdict on one new version: no problems means traffic may shift."""

    problems: list[str]

    @property
    def status(self) -> str:
        return FAILED if self.problems else SUCCEEDED


def _invoke(client: Any, target: str, payload: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """The handler's answer body for ``payload`` sent to ``target``; problems with the call otherwise."""
    result = client.invoke(FunctionName=target, InvocationType="RequestResponse", Payload=json.dumps(payload).encode())
    problems = []
    if result.get("StatusCode") != 200:
        problems.append(f"the Invoke API answered StatusCode {result.get('StatusCode')}")
    if result.get("FunctionError"):
        problems.append(f"the function failed (FunctionError {result['FunctionError']})")
    wanted = target.rsplit(":", 1)[-1]
    if result.get("ExecutedVersion") != wanted:
        problems.append(f"version {result.get('ExecutedVersion')} ran, expected {wanted}")
    if problems:
        return None, problems
    try:
        envelope = json.loads(result["Payload"].read())
        body = json.loads(envelope["body"])
    except (KeyError, TypeError, ValueError):
        return None, ["the answer is not a statusCode/body envelope with a JSON body"]
    if envelope.get("statusCode") != 200 or not isinstance(body, dict):
        return None, [f"statusCode {envelope.get('statusCode')}, expected 200 (error={body.get('error')!s})"]
    return body, []


def check_version(client: Any, target: str, model_dir: Path, seed_request: Mapping[str, Any], expected: str) -> Check:
    """Run both checks of the module docstring against ``target`` with the bundle at ``model_dir``."""
    try:
        bundle = load_bundle(model_dir)
        known = known_answers.read((model_dir / known_answers.KNOWN_ANSWERS_FILE).read_text(encoding="utf-8"))
    except (BundleError, OSError, ValueError) as error:
        return Check([f"the hook's bundle has no usable known-answer set: {error}"])
    if not bundle.has_file(known_answers.KNOWN_ANSWERS_FILE):
        return Check([f"{known_answers.KNOWN_ANSWERS_FILE} is not a verified file of the bundle"])
    version = bundle.version if expected in ("", _UNKNOWN_VERSION) else expected
    problems = []
    body, found = _invoke(client, target, seed_request)
    problems += [f"{SEED_REQUEST}: {p}" for p in found]
    if body is not None:
        if str(body.get("version")) != version:
            problems.append(f"{SEED_REQUEST}: model version {body.get('version')} answered, expected {version}")
        if body.get("prediction") not in _CODES:
            problems.append(f"{SEED_REQUEST}: the prediction is not one of {list(_CODES)}")
    batch = {"data": [answer["data"] for answer in known["answers"]], "explain": False}
    body, found = _invoke(client, target, batch)
    problems += [f"known answers: {p}" for p in found]
    if body is not None:
        if str(body.get("version")) != version:
            problems.append(f"known answers: model version {body.get('version')} answered, expected {version}")
        problems += [
            f"known answers: {p}" for p in known_answers.answer_problems(known, body.get("predictions"), bundle.labels)
        ]
    return Check(problems)


def report(codedeploy: Any, event: Mapping[str, Any], check: Check) -> None:
    """Tell CodeDeploy the verdict (the only two statuses a hook may send)."""
    codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=check.status,
    )


def run(
    event: Mapping[str, Any],
    environ: Mapping[str, str],
    client_factory: Callable[[str], Any],
    *,
    root: Path,
    log: Log,
) -> Check:
    """Check, log, report; a fault of the check itself is a failed check, never a silent success."""
    if not event.get("DeploymentId") or not event.get("LifecycleEventHookExecutionId"):
        raise ValueError("not a CodeDeploy lifecycle event: DeploymentId and LifecycleEventHookExecutionId needed")
    target = environ.get(TARGET_FUNCTION_VERSION, "")
    try:
        if not target:
            raise ValueError(f"{TARGET_FUNCTION_VERSION} is not set")
        seed = json.loads((root / SEED_REQUEST).read_text(encoding="utf-8"))
        model_dir = Path(environ.get("MODEL_DIR") or default_model_dir(environ))
        expected = environ.get(EXPECTED_MODEL_VERSION, "")
        check = check_version(client_factory("lambda"), target, model_dir, seed, expected)
    except Exception as error:  # the deployment must stop, whatever went wrong here
        check = Check([f"the check could not run: {type(error).__name__}: {error}"])
    log.info("pre_traffic_check", deployment_id=event["DeploymentId"], target=target, status=check.status)
    for problem in check.problems:
        log.error("pre_traffic_problem", deployment_id=event["DeploymentId"], problem=problem)
    report(client_factory("codedeploy"), event, check)
    return check


def _client(service: str) -> Any:
    import boto3

    return boto3.client(service)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry of the hook function."""
    root = Path(os.environ.get("LAMBDA_TASK_ROOT") or Path(__file__).resolve().parents[2])
    log = Log(os.environ.get("POWERTOOLS_SERVICE_NAME") or "credit-score", "INFO")
    check = run(event, os.environ, _client, root=root, log=log)
    return {"status": check.status, "problems": check.problems}
