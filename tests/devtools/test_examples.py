"""Example answers in the docs come from the served handler and cannot go stale unnoticed.

Fast: every ``<!-- example: NAME -->`` block of README.md and docs/*.md equals its rendering from the snapshot
(docs/examples.json, written by ``make docs-examples``), the snapshot holds exactly today's example requests,
and its answers fit today's schemas. Slow: the demo model trained afresh answers exactly as the snapshot says.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from credit_score.devtools import examples, openapi
from tests.support.paths import ROOT

SNAPSHOT = json.loads((ROOT / examples.SNAPSHOT).read_text(encoding="utf-8"))
DOCUMENT = openapi.document()


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # curl blocks name data.json as the checkout holds it


def test_given_the_pages_when_checked_then_every_marked_block_is_current(at_root):
    pages = examples.pages(examples.DEFAULT_PAGES, ROOT)
    marked = [page for page in pages if examples.MARKER.search(page.read_text(encoding="utf-8"))]

    assert (ROOT / "README.md") in marked
    assert [str(stale) for stale in examples.check(pages, SNAPSHOT)] == []


def test_given_the_snapshot_when_compared_with_the_code_then_it_holds_todays_requests():
    recorded = {name: [entry["method"], entry["path"], entry["headers"], entry["request"], entry["status"]]
                for name, entry in SNAPSHOT["examples"].items()}  # fmt: skip
    expected = {}
    for name, example in openapi.EXAMPLE_REQUESTS.items():
        body = example.body.decode() if isinstance(example.body, bytes) else example.body
        expected[name] = [example.method, example.path, dict(example.headers), body, example.status]
    assert recorded == json.loads(json.dumps(expected)), "run `make docs-examples`"


def test_given_the_snapshot_answers_when_validated_then_they_fit_todays_schemas():
    components = {"components": DOCUMENT["components"]}
    for name, entry in SNAPSHOT["examples"].items():
        example = openapi.EXAMPLE_REQUESTS[name]
        operation = next(iter(DOCUMENT["paths"].get(example.path, DOCUMENT["paths"]["/predict"]).values()))
        response = operation["responses"].get(str(entry["status"]))
        if response is None or "$ref" in response:
            status_name = openapi._RESPONSE_NAMES[entry["status"]]
            response = DOCUMENT["components"]["responses"][status_name]
        schema = response["content"]["application/json"]["schema"]
        errors = [
            error.message for error in Draft202012Validator({**schema, **components}).iter_errors(entry["answer"])
        ]
        assert errors == [], f"{name}: run `make docs-examples`"


def test_given_the_data_file_when_compared_then_it_is_the_single_example():
    assert json.loads((ROOT / "data.json").read_text()) == openapi.EXAMPLE_REQUESTS["single"].body


def test_given_a_stale_block_when_rewritten_then_it_is_reported_and_replaced(at_root):
    page = "intro\n<!-- example: health -->\nold text\n<!-- /example -->\nend\n"

    text, stale = examples.rewrite(page, SNAPSHOT, Path("page.md"))

    assert [(s.line, s.view) for s in stale] == [(2, "health")]
    assert examples.render("health", SNAPSHOT) in text
    assert text.startswith("intro\n")
    assert text.endswith("<!-- /example -->\nend\n")
    assert examples.rewrite(text, SNAPSHOT)[1] == []  # a rewritten page is current


def test_given_an_unknown_example_when_checked_then_it_is_reported_and_left_alone(at_root):
    page = "<!-- example: nonexistent -->\nx\n<!-- /example -->\n<!-- example: single.nonsense -->\n<!-- /example -->\n"

    text, stale = examples.rewrite(page, SNAPSHOT, Path("page.md"))

    assert text == page
    assert [s.view for s in stale] == ["nonexistent", "single.nonsense"]
    assert all("names no example" in s.problem for s in stale)


def test_given_the_views_when_rendered_then_request_curl_and_status(at_root):
    assert examples.render("single.curl", SNAPSHOT) == (
        "```bash\ncurl -s http://127.0.0.1:8080/predict -H 'Content-Type: application/json' -d @data.json\n```\n"
    )
    assert "Accept-Language: pt-BR" in examples.render("invalid_pt.curl", SNAPSHOT)
    assert examples.render("not_found.http", SNAPSHOT).startswith("```http\nHTTP/1.1 404\n")
    assert json.loads(examples.render("single.request", SNAPSHOT)[8:-5]) == {"data": openapi.EXAMPLE_RECORD}


def test_given_check_mode_when_a_page_is_stale_then_exit_1_naming_it(tmp_path, at_root, capsys):
    page = tmp_path / "page.md"
    page.write_text("<!-- example: health -->\nold\n<!-- /example -->\n")

    assert examples.main(["--check", str(page)]) == 1
    assert f"{page}:1: example 'health' is stale" in capsys.readouterr().err
    assert page.read_text() == "<!-- example: health -->\nold\n<!-- /example -->\n"


@pytest.mark.slow
def test_given_the_demo_model_trained_afresh_when_the_examples_are_answered_then_the_snapshot_holds(tmp_path):
    """What `make demo` builds (20,000 synthetic rows, seed 42, one thread) answers as the docs say."""
    env = {**os.environ, "LOCAL_REGISTRY_DIR": str(tmp_path / "registry"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    for name in ("MLFLOW_TRACKING_URI", "DAGSHUB_REPO", "MODEL_NAME", "MODEL_ALIAS", "MODEL_VERSION"):
        env.pop(name, None)
    bin_dir = ROOT / ".venv" / "bin"
    for command in ([bin_dir / "credit-score-train", "--synthetic", "20000"],
                    [bin_dir / "python", ROOT / "model_downloader.py", "--output", tmp_path / "model"]):  # fmt: skip
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1200, check=False)
        assert done.returncode == 0, done.stderr[-3000:]

    fresh = examples.generate(tmp_path / "model")

    assert fresh["model"]["model_onnx_sha256"] == SNAPSHOT["model"]["model_onnx_sha256"]
    assert fresh["examples"] == SNAPSHOT["examples"], "run `make docs-examples`"
