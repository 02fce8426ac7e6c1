"""schemathesis against the local server: every documented operation, positive and negative data.

The server (``credit_score.devtools.serve``) runs on a free port of 127.0.0.1 in a thread, in front of the
real handler and the tiny bundle. schemathesis reads the same document the server publishes at
``/openapi.json`` (checked below) and runs all its checks but three, left out on purpose:

* ``negative_data_rejection``: the API accepts more than the schema's canonical spellings, by
  design (raw-data values like ``"52312.68_"``, categories in any case, extra keys ignored);
* ``unsupported_method`` and ``allow_header_conformance``: POST on any path predicts (the seed's
  contract), so ``POST /health`` is a prediction rather than a 405, and ``Allow`` names the
  methods of the API (``GET, POST``), not of each path. 405 answers are checked in test_serve.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from credit_score.devtools import openapi
from credit_score.devtools.serve import Server, make_server
from credit_score.runtime.service import Service
from tests.reliability.conftest import settings_for

# Heavy (the whole document fuzzed over HTTP): `make test` runs it, `make test-fast` does not.
pytestmark = pytest.mark.slow

MAX_BATCH = 20
MAX_BODY = 65_536
DOCUMENT = openapi.document(max_batch_size=MAX_BATCH, max_body_bytes=MAX_BODY)
CONFIG = schemathesis.Config.from_str(
    """
[checks]
negative_data_rejection.enabled = false
unsupported_method.enabled = false
allow_header_conformance.enabled = false
"""
)
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
RUN = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def server(tiny_bundle: Path) -> Iterator[Server]:
    configured = settings_for(tiny_bundle, max_batch_size=MAX_BATCH, max_body_bytes=MAX_BODY)
    running = make_server("127.0.0.1", 0, handler=Service(configured).handle, settings=configured)
    threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield running
    running.shutdown()
    running.server_close()


def test_given_running_server_when_document_fetched_then_it_is_the_one_under_test(server):
    with urllib.request.urlopen(f"{server.url}/openapi.json", timeout=10) as response:  # noqa: S310 - loopback
        assert json.loads(response.read()) == DOCUMENT


@SCHEMA.parametrize()
@RUN
def test_given_documented_operations_when_fuzzed_over_http_then_every_check_holds(case, server):
    case.call_and_validate(base_url=server.url, timeout=30)
