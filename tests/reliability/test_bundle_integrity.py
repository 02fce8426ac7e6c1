"""A corrupted or tampered bundle is never served: every request a generic 500, the reason logged."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from credit_score.contract.bundle import METADATA_FILE, MODEL_FILE
from credit_score.devtools.serve import make_server
from credit_score.runtime.errors import GENERIC_MESSAGE
from credit_score.runtime.service import Service
from tests.reliability.conftest import Context, captured_stdout, handler_for, json_lines, settings_for
from tests.support.bundles import synthetic_records

RECORD = synthetic_records(1, seed=3)[0]


def _flip_model_byte(folder: Path) -> None:
    model = folder / MODEL_FILE
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))


def _rehash(folder: Path) -> None:
    """Record the current model's sha256, as an attacker who can edit both files would."""
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["files"][MODEL_FILE]["sha256"] = hashlib.sha256((folder / MODEL_FILE).read_bytes()).hexdigest()
    (folder / METADATA_FILE).write_text(json.dumps(metadata))


def _truncate_and_rehash(folder: Path) -> None:
    model = folder / MODEL_FILE
    model.write_bytes(model.read_bytes()[:1000])
    _rehash(folder)


def _garbage_and_rehash(folder: Path) -> None:
    (folder / MODEL_FILE).write_bytes(b"not an onnx model at all")
    _rehash(folder)


def _swap_classes(folder: Path) -> None:
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["classes"] = [{**entry, "code": 2 - entry["code"]} for entry in metadata["classes"]]
    (folder / METADATA_FILE).write_text(json.dumps(metadata))


def _other_features(folder: Path) -> None:
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["input"]["feature_names"] = list(reversed(metadata["input"]["feature_names"]))
    (folder / METADATA_FILE).write_text(json.dumps(metadata))


def _corrupt_metadata(folder: Path) -> None:
    (folder / METADATA_FILE).write_text("{ this is not json")


def _remove_model(folder: Path) -> None:
    (folder / MODEL_FILE).unlink()


def _remove_bundle(folder: Path) -> None:
    shutil.rmtree(folder)


TAMPERING: dict[str, Callable[[Path], None]] = {
    "model byte flipped": _flip_model_byte,
    "model truncated, hash updated": _truncate_and_rehash,
    "model replaced by garbage, hash updated": _garbage_and_rehash,
    "class codes swapped": _swap_classes,
    "feature order changed": _other_features,
    "metadata not json": _corrupt_metadata,
    "model file missing": _remove_model,
    "bundle folder missing": _remove_bundle,
}


@pytest.fixture
def damaged(request, tiny_bundle: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_bundle, folder)
    TAMPERING[request.param](folder)
    return folder


@pytest.mark.parametrize("damaged", sorted(TAMPERING), indirect=True)
def test_given_damaged_bundle_when_invoked_then_generic_500_and_no_prediction(damaged):
    with handler_for(settings_for(damaged, log_level="INFO")) as handler, captured_stdout() as out:
        predicted = handler({"data": RECORD}, Context("first"))
        health = handler({"version": "2.0", **_http("GET", "/health")}, Context("second"))
    for response in (predicted, health):
        document = json.loads(response["body"])
        assert response["statusCode"] == 500
        assert document["error"] == "model_unavailable"
        assert document["message"] == GENERIC_MESSAGE
        assert not {"prediction", "probabilities", "label", "predictions"} & set(document)
    reasons = [line["reason"] for line in json_lines(out) if line.get("message") == "model_unavailable"]
    assert reasons, "the reason must be logged"
    assert all(reason and "Traceback" not in reason for reason in reasons)


def test_given_tampered_model_when_loading_then_the_log_names_the_hash_mismatch(tiny_bundle, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_bundle, folder)
    _flip_model_byte(folder)
    with handler_for(settings_for(folder, log_level="INFO")) as handler, captured_stdout() as out:
        handler({"data": RECORD}, Context())
    (line,) = [line for line in json_lines(out) if line.get("message") == "model_unavailable"]
    assert "sha256" in line["reason"]


@pytest.mark.parametrize("damaged", ["model byte flipped"], indirect=True)
def test_given_damaged_bundle_when_served_over_http_then_500_for_health_and_prediction(damaged):
    configured = settings_for(damaged)
    server = make_server("127.0.0.1", 0, handler=Service(configured).handle, settings=configured)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        for method, path, body in (("GET", "/health", None), ("POST", "/predict", json.dumps({"data": RECORD}))):
            data = body.encode() if body else None
            request = urllib.request.Request(server.url + path, data=data, method=method)  # noqa: S310 - loopback
            with pytest.raises(urllib.error.HTTPError) as raised:
                urllib.request.urlopen(request, timeout=10)  # noqa: S310 - loopback
            assert raised.value.code == 500
            assert json.loads(raised.value.read())["error"] == "model_unavailable"
    finally:
        server.shutdown()
        server.server_close()


def _http(method: str, path: str) -> dict:
    return {
        "routeKey": "$default",
        "rawPath": path,
        "requestContext": {"http": {"method": method, "path": path}, "requestId": "health-check"},
    }
