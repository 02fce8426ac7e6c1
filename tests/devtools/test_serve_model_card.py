"""GET /model-card: the bundle's own card, read from the verified bundle; a clear 404 otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credit_score.contract.bundle import EXPLAINER_FILE, METADATA_FILE, MODEL_FILE, load_bundle, write_bundle
from credit_score.modelling import model_card
from credit_score.runtime.config import Settings
from tests.devtools.test_serve import RecordingHandler, request, start
from tests.support.bundles import tiny_bundle  # noqa: F401 - the session fixture


def with_card(source: Path, target: Path) -> Path:
    bundle = load_bundle(source)
    metadata = {key: value for key, value in bundle.metadata.items() if key != "files"}
    extra = {EXPLAINER_FILE: (source / EXPLAINER_FILE).read_bytes()} if bundle.has_file(EXPLAINER_FILE) else {}
    write_bundle(
        target, (source / MODEL_FILE).read_bytes(), metadata, extra_files={**extra, **model_card.card_files(metadata)}
    )
    return target


@pytest.fixture
def serve(tmp_path):
    servers = []

    def run(model_dir: Path):
        server = start(RecordingHandler(), Settings(model_dir=model_dir, max_body_bytes=1024, max_batch_size=2))
        servers.append(server)
        return server

    yield run
    for server in servers:
        server.shutdown()
        server.server_close()


def test_given_a_bundle_with_a_card_when_requested_then_the_page_of_this_version(serve, tiny_bundle, tmp_path):  # noqa: F811
    bundle = with_card(tiny_bundle, tmp_path / "model")

    status, headers, body = request(serve(bundle), "GET", "/model-card")

    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert body == (bundle / model_card.HTML_FILE).read_bytes()
    assert f"version {load_bundle(bundle).version}" in body.decode()


def test_given_no_card_or_a_tampered_one_when_requested_then_404_saying_why(serve, tiny_bundle, tmp_path):  # noqa: F811
    status, _, body = request(serve(tiny_bundle), "GET", "/model-card")
    assert status == 404
    assert "no model card" in json.loads(body)["message"]

    bundle = with_card(tiny_bundle, tmp_path / "model")
    (bundle / model_card.HTML_FILE).write_text("<p>edited</p>")
    status, _, body = request(serve(bundle), "GET", "/model-card")
    assert status == 404
    assert "does not match its sha256" in json.loads(body)["message"]
    assert (bundle / METADATA_FILE).is_file()
