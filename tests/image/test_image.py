"""The Lambda image, built by a real engine and run as Lambda runs it, through AWS's runtime client.

One container (read-only root, tmpfs ``/tmp``, Lambda's sandbox user and variables, the host's
loopback for the Runtime API emulator of tests/support) answers every event of ``tests/events/``,
a malformed body, a payload that is not JSON, a batch and health checks, then gets ``docker
stop``. The image's own layers are read back from ``docker save`` and audited. A bundle that
fails verification must stop the build.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from credit_score.contract.bundle import load_bundle
from tests.image import audit
from tests.image.engine import DockerError, Engine
from tests.image.harness import SavedImage, build_image, lambda_container, save_image
from tests.support.bundles import synthetic_records
from tests.support.events import POST_EVENTS, load_event
from tests.support.paths import EVENTS, ROOT
from tests.support.runtime_api import Invocation, RuntimeApi

pytestmark = pytest.mark.image

COLD_TIMEOUT = 120.0
HEALTH_EVENTS = tuple(sorted(path.name for path in EVENTS.glob("*get_health*.json")))
CLIENT_MARKER = "unterminated-7f3a9c"  # a client string that must never come back or reach a log


@dataclass
class Served:
    answers: dict[str, Invocation]
    stdout: str
    stderr: str
    exit_code: int
    stop_output: str


def _with_body(name: str, body: str) -> dict[str, Any]:
    event = load_event(name)
    event["body"] = body
    event["isBase64Encoded"] = False
    return event


def envelope(invocation: Invocation) -> tuple[dict[str, Any], Any]:
    assert invocation.status == "success", (invocation.status, invocation.error_type, invocation.body[:500])
    document = invocation.json()
    return document, json.loads(document["body"])


@pytest.fixture(scope="module")
def served(engine: Engine, image: str) -> Served:
    answers: dict[str, Invocation] = {}
    with RuntimeApi() as api, lambda_container(engine, image, api.address) as container:
        for name in sorted(path.name for path in EVENTS.glob("*.json")):
            answers[name] = api.invoke(load_event(name), timeout=COLD_TIMEOUT)
        answers["malformed_body"] = api.invoke(_with_body("http_api_post.json", '{"data": {"Age": "' + CLIENT_MARKER))
        batch = {"data": synthetic_records(3, seed=5)}
        answers["batch"] = api.invoke(_with_body("http_api_post.json", json.dumps(batch)))
        # What our code wrote; the runtime client's own report of a payload it cannot parse comes
        # next and is plain text under the function's LogFormat: Text (infra/template.yaml).
        stdout, stderr = container.logs()
        answers["not_json"] = api.invoke(b'{"data": ' + CLIENT_MARKER.encode())
        answers["after_errors"] = api.invoke(load_event("direct.json"))
        stop = engine.docker("stop", "--time", "10", container.name)
        state = container.state()
    return Served(answers, stdout, stderr, state["ExitCode"], stop.stdout + stop.stderr)


@pytest.mark.parametrize("name", POST_EVENTS)
def test_given_each_sample_event_when_invoked_in_the_container_then_200_and_the_seed_prediction(
    served: Served, name: str
) -> None:
    document, body = envelope(served.answers[name])
    assert document["statusCode"] == 200
    headers = document.get("headers") or {key: values[0] for key, values in document["multiValueHeaders"].items()}
    assert headers["Content-Type"] == "application/json"
    _, direct = envelope(served.answers["direct.json"])
    assert (body["prediction"], body["probabilities"]) == (direct["prediction"], direct["probabilities"])


def test_given_direct_invocation_when_answered_then_request_id_is_lambdas(served: Served) -> None:
    answer = served.answers["direct.json"]
    _, body = envelope(answer)
    assert body["request_id"] == answer.request_id
    assert body["prediction"] in {0, 1, 2}


@pytest.mark.parametrize("name", HEALTH_EVENTS)
def test_given_health_check_when_invoked_then_200_with_the_bundled_model(
    served: Served, bundle: Path, name: str
) -> None:
    document, body = envelope(served.answers[name])
    assert document["statusCode"] == 200
    expected = load_bundle(bundle)
    assert (body["model"], body["version"]) == (expected.name, expected.version)


def test_given_malformed_body_when_invoked_then_400_naming_the_problem_without_echo(served: Served) -> None:
    document, body = envelope(served.answers["malformed_body"])
    assert document["statusCode"] == 400
    assert body["error"]
    assert CLIENT_MARKER not in served.answers["malformed_body"].body.decode()


def test_given_payload_that_is_not_json_when_invoked_then_runtime_error_and_the_container_serves_on(
    served: Served,
) -> None:
    assert served.answers["not_json"].status == "error"
    assert served.answers["not_json"].error_type == "Runtime.UnmarshalError"
    document, _ = envelope(served.answers["after_errors"])
    assert document["statusCode"] == 200


def test_given_batch_when_invoked_then_one_prediction_per_record(served: Served) -> None:
    document, body = envelope(served.answers["batch"])
    assert document["statusCode"] == 200
    assert len(body["predictions"]) == 3
    assert all(prediction["prediction"] in {0, 1, 2} for prediction in body["predictions"])


def test_given_container_output_when_read_then_every_stdout_line_is_json_logs_and_emf(served: Served) -> None:
    lines = [line for line in served.stdout.splitlines() if line.strip()]
    documents = [json.loads(line) for line in lines]  # raises on the first line that is not JSON
    assert any("_aws" in document for document in documents), "no EMF metric line"
    assert any(document.get("message") == "request" for document in documents), "no request log line"
    assert CLIENT_MARKER not in served.stdout + served.stderr
    assert "Traceback" not in served.stdout + served.stderr


def test_given_running_container_when_docker_stop_then_it_exits_on_sigterm_not_sigkill(served: Served) -> None:
    assert served.exit_code == 0, f"exit {served.exit_code} (137: SIGTERM ignored, killed): {served.stop_output}"


# --- what the image is made of -------------------------------------------------------------------


def own_paths(saved: SavedImage) -> list[str]:
    return [path for layer in saved.added for path in layer.files]


def test_given_image_layers_when_audited_then_no_forbidden_path(saved: SavedImage) -> None:
    assert audit.path_findings(own_paths(saved)) == []


def test_given_image_layers_when_audited_then_handler_code_and_bundle_present(saved: SavedImage) -> None:
    assert audit.missing_paths(own_paths(saved)) == []


def test_given_image_files_when_read_then_no_private_key_or_secret(saved: SavedImage) -> None:
    assert saved.found == []


def test_given_image_history_and_config_when_audited_then_no_secret_build_arg_or_env(saved: SavedImage) -> None:
    assert audit.history_findings(saved.history) == []
    assert audit.config_findings(saved.config) == []


def test_given_image_config_when_read_then_lambda_handler_on_the_base_entrypoint(saved: SavedImage) -> None:
    config = saved.config["config"]
    assert config["Cmd"] == ["app.handler"]
    assert config["Entrypoint"] == ["/lambda-entrypoint.sh"]  # the base's, not replaced
    assert config["WorkingDir"] == "/var/task"
    assert "MODEL_DIR=/var/task/model" in config["Env"]


# --- a broken bundle never becomes an image ----------------------------------------------------


def test_given_corrupted_bundle_when_building_then_the_build_fails_on_verification(
    engine: Engine, standin: str, bundle: Path, tmp_path: Path
) -> None:
    context = tmp_path / "context"
    context.mkdir()
    for name in (
        "Dockerfile",
        ".dockerignore",
        "requirements.txt",
        "requirements-build.txt",
        "model_downloader.py",
        "data.json",
    ):
        shutil.copy2(ROOT / name, context / name)
    shutil.copytree(ROOT / "src", context / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(bundle, context / "model")
    onnx = context / "model" / "model.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(DockerError) as failure:
        build_image(engine, tag="credit-score:image-test-broken", context=context, base=standin)
    assert "load_bundle" in failure.value.output
    assert "sha256" in failure.value.output.lower()


def test_given_secret_passed_as_build_arg_when_audited_then_history_betrays_it(
    engine: Engine, standin: str, tmp_path: Path
) -> None:
    """The control for the audits above: a build arg is recorded by the engine, name and value."""
    context = tmp_path / "leaky"
    context.mkdir()
    (context / "Dockerfile").write_text(
        'ARG BASE\nFROM ${BASE}\nARG MLFLOW_TRACKING_PASSWORD\nRUN test -n "${MLFLOW_TRACKING_PASSWORD}"\n'
    )
    value = "leaked-" + tmp_path.name
    engine.docker(
        *engine.build_command(),
        "--build-arg",
        f"BASE={standin}",
        "--build-arg",
        f"MLFLOW_TRACKING_PASSWORD={value}",
        "-t",
        "credit-score:image-test-leaky",
        str(context),
    )
    saved = save_image(engine, "credit-score:image-test-leaky", standin, tmp_path)
    findings = audit.history_findings(saved.history, [value])
    assert any(finding.startswith("build arg MLFLOW_TRACKING_PASSWORD") for finding in findings), saved.history
    assert any(finding.startswith("secret value in history") for finding in findings)
