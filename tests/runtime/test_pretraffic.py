"""The pre-traffic hook against real boto3 clients whose transport is a fake of Lambda and CodeDeploy.

moto 5.2.5 has no ``PutLifecycleEventHookExecutionStatus`` and runs Lambda code only in Docker, so
the fake sits below botocore instead: botocore serialises each call from the services' published
models (parameter validation included) and parses the fake's answers with the same rules it applies
to AWS's. The fake follows the documented wire shapes:

* Lambda ``Invoke`` (Lambda API Reference, "Invoke"): ``POST /2015-03-31/functions/{FunctionName}/
  invocations``, the function's answer as the body, ``X-Amz-Executed-Version`` naming the version
  that ran, ``X-Amz-Function-Error: Unhandled`` when the handler raised; status 200 either way.
* CodeDeploy ``PutLifecycleEventHookExecutionStatus`` (CodeDeploy API Reference): JSON 1.1 with
  ``deploymentId``, ``lifecycleEventHookExecutionId`` and ``status``; only ``Succeeded`` and
  ``Failed`` may be sent; the answer echoes ``lifecycleEventHookExecutionId``.

The function versions run the real handler (``Service.handle``) around real bundles.
"""

from __future__ import annotations

import io
import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from credit_score.contract.known_answers import KNOWN_ANSWERS_FILE
from credit_score.runtime import pretraffic
from credit_score.runtime.config import Settings
from credit_score.runtime.logs import Log
from credit_score.runtime.service import Service
from tests.support.bundles import tiny_bundle  # noqa: F401 - fixture
from tests.support.known_bundles import KnownBundle, challenger_bundle, champion_bundle  # noqa: F401 - fixtures
from tests.support.lambda_context import LambdaContext

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
FUNCTION = "credit-score"
TARGET = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{FUNCTION}:5"
EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "eyJleGFtcGxlIjoiaG9vayJ9"}
HOOK_STATUSES = {"Succeeded", "Failed"}


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


class FakeAws:
    """Lambda versions (number -> handler) and the statuses CodeDeploy received."""

    def __init__(self, versions: dict[str, Callable[[Any], Any]]) -> None:
        self.versions = versions
        self.invocations: list[tuple[str, Any]] = []
        self.reports: list[dict[str, Any]] = []

    def client(self, service: str) -> Any:
        client = boto3.client(
            service, region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        client.meta.events.register("before-send", self._send)
        return client

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        url = urllib.parse.urlsplit(request.url)
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        if url.netloc.startswith("lambda."):
            return self._invoke(request.url, urllib.parse.unquote(url.path), body)
        target = request.headers["X-Amz-Target"].decode()
        assert target == "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus", target
        document = json.loads(body)
        assert set(document) == {"deploymentId", "lifecycleEventHookExecutionId", "status"}, document
        assert document["status"] in HOOK_STATUSES
        self.reports.append(document)
        answer = json.dumps({"lifecycleEventHookExecutionId": document["lifecycleEventHookExecutionId"]}).encode()
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(answer))

    def _invoke(self, url: str, path: str, payload: bytes) -> AWSResponse:
        prefix, suffix = "/2015-03-31/functions/", "/invocations"
        assert path.startswith(prefix), path
        assert path.endswith(suffix), path
        name = path[len(prefix) : -len(suffix)]
        version = name.rsplit(":", 1)[-1]
        assert name == f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{FUNCTION}:{version}"
        event = json.loads(payload)
        self.invocations.append((version, event))
        headers = {"X-Amz-Executed-Version": version}
        try:
            answer = self.versions[version](event)
        except Exception as error:  # what Lambda reports for a handler that raised
            headers["X-Amz-Function-Error"] = "Unhandled"
            answer = {"errorMessage": str(error), "errorType": type(error).__name__}
        return AWSResponse(url, 200, headers, _Raw(json.dumps(answer).encode()))


def serving(model_dir: Path) -> Callable[[Any], Any]:
    """One function version: the real service around ``model_dir``."""
    service = Service(Settings(model_dir=model_dir, metrics_enabled=False), log=Log("test", "ERROR"))
    return lambda event: service.handle(event, LambdaContext())


def hook(aws: FakeAws, model_dir: Path, expected: str = "7") -> pretraffic.Check:
    environ = {
        pretraffic.TARGET_FUNCTION_VERSION: TARGET,
        pretraffic.EXPECTED_MODEL_VERSION: expected,
        "MODEL_DIR": str(model_dir),
    }
    return pretraffic.run(EVENT, environ, aws.client, root=ROOT, log=Log("test", "ERROR"))


def test_given_new_version_serving_the_hooks_bundle_when_checked_then_succeeded(
    champion_bundle: KnownBundle,  # noqa: F811
) -> None:
    aws = FakeAws({"5": serving(champion_bundle.bundle.path)})
    check = hook(aws, champion_bundle.bundle.path)
    assert check.problems == []
    assert aws.reports == [{**_ids(), "status": "Succeeded"}]
    seed, batch = (event for _, event in aws.invocations)
    assert seed == json.loads((ROOT / "data.json").read_text(encoding="utf-8"))
    known = json.loads((champion_bundle.bundle.path / KNOWN_ANSWERS_FILE).read_text(encoding="utf-8"))
    assert batch["data"] == [answer["data"] for answer in known["answers"]]
    assert len(batch["data"]) == 32


def test_given_new_version_serving_a_wrong_bundle_when_checked_then_failed(
    champion_bundle: KnownBundle,  # noqa: F811
    challenger_bundle: KnownBundle,  # noqa: F811
    tmp_path: Path,
) -> None:
    # the other model, relabelled as the expected version: only its answers can give it away
    wrong = tmp_path / "wrong"
    _relabel(challenger_bundle.bundle.path, wrong, version="7")
    aws = FakeAws({"5": serving(wrong)})
    check = hook(aws, champion_bundle.bundle.path)
    assert aws.reports == [{**_ids(), "status": "Failed"}]
    assert any("known answers: row" in problem for problem in check.problems), check.problems
    assert not any(problem.startswith("data.json") for problem in check.problems), check.problems


def test_given_new_version_with_an_older_model_when_checked_then_failed(
    champion_bundle: KnownBundle,  # noqa: F811
) -> None:
    aws = FakeAws({"5": serving(champion_bundle.bundle.path)})
    check = hook(aws, champion_bundle.bundle.path, expected="8")
    assert aws.reports[-1]["status"] == "Failed"
    assert "data.json: model version 7 answered, expected 8" in check.problems


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        pytest.param(lambda event: 1 / 0, "FunctionError", id="handler-raises"),
        pytest.param(
            lambda event: {"statusCode": 500, "body": '{"error":"model_unavailable"}'}, "statusCode 500", id="500"
        ),
        pytest.param(lambda event: {"errorMessage": "Task timed out"}, "envelope", id="not-an-envelope"),
    ],
)
def test_given_failing_new_version_when_checked_then_failed(
    champion_bundle: KnownBundle,  # noqa: F811
    broken: Callable[[Any], Any],
    expected: str,
) -> None:
    aws = FakeAws({"5": broken})
    check = hook(aws, champion_bundle.bundle.path)
    assert aws.reports == [{**_ids(), "status": "Failed"}]
    assert any(expected in problem for problem in check.problems), check.problems


def test_given_bundle_without_known_answers_when_checked_then_failed(tiny_bundle: Path) -> None:  # noqa: F811
    aws = FakeAws({"5": serving(tiny_bundle)})
    check = hook(aws, tiny_bundle)
    assert aws.reports[-1]["status"] == "Failed"
    assert aws.invocations == []
    assert "known-answer set" in check.problems[0]


def test_given_tampered_known_answers_when_checked_then_failed(champion_bundle: KnownBundle, tmp_path: Path) -> None:  # noqa: F811
    copy = tmp_path / "model"
    _relabel(champion_bundle.bundle.path, copy, version="7")
    path = copy / KNOWN_ANSWERS_FILE
    path.write_text(path.read_text(encoding="utf-8").replace('"prediction":0', '"prediction":2'), encoding="utf-8")
    aws = FakeAws({"5": serving(champion_bundle.bundle.path)})
    check = hook(aws, copy)
    assert aws.reports[-1]["status"] == "Failed"
    assert "sha256" in check.problems[0]


def test_given_no_target_version_when_run_then_failure_is_reported(champion_bundle: KnownBundle) -> None:  # noqa: F811
    aws = FakeAws({})
    environ = {"MODEL_DIR": str(champion_bundle.bundle.path)}
    check = pretraffic.run(EVENT, environ, aws.client, root=ROOT, log=Log("test", "ERROR"))
    assert aws.reports == [{**_ids(), "status": "Failed"}]
    assert pretraffic.TARGET_FUNCTION_VERSION in check.problems[0]


def test_given_event_that_is_not_from_codedeploy_when_run_then_raises_without_reporting(
    champion_bundle: KnownBundle,  # noqa: F811
) -> None:
    aws = FakeAws({})
    with pytest.raises(ValueError, match="DeploymentId"):
        pretraffic.run({}, {}, aws.client, root=ROOT, log=Log("test", "ERROR"))
    assert aws.reports == []


def test_given_a_problem_when_logged_then_no_applicant_value_appears(
    champion_bundle: KnownBundle,  # noqa: F811
    challenger_bundle: KnownBundle,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = tmp_path / "wrong"
    _relabel(challenger_bundle.bundle.path, wrong, version="7")
    aws = FakeAws({"5": serving(wrong)})
    pretraffic.run(
        EVENT,
        {pretraffic.TARGET_FUNCTION_VERSION: TARGET, "MODEL_DIR": str(champion_bundle.bundle.path)},
        aws.client,
        root=ROOT,
        log=Log("test", "INFO"),
    )
    logged = capsys.readouterr()
    text = logged.out + logged.err
    assert "pre_traffic_problem" in text
    known = json.loads((champion_bundle.bundle.path / KNOWN_ANSWERS_FILE).read_text(encoding="utf-8"))
    for answer in known["answers"]:
        assert json.dumps(answer["data"]["Annual_Income"]) not in text


def _ids() -> dict[str, str]:
    return {
        "deploymentId": EVENT["DeploymentId"],
        "lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"],
    }


def _relabel(source: Path, target: Path, *, version: str) -> None:
    """A copy of the bundle at ``source`` that claims ``version`` (its hashes stay valid)."""
    import shutil

    shutil.copytree(source, target)
    metadata = json.loads((target / "metadata.json").read_text(encoding="utf-8"))
    metadata["model"]["version"] = version
    (target / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
