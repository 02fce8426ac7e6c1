"""The API page in a real browser: headless Chromium loads ``/docs``, sends the example request through Swagger UI's
"Execute" button, and the page shows the handler's answer. Nothing is fetched from another origin.

The screenshot is kept in the test's temporary folder (its path is printed) for a person to look at.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from credit_score.devtools import openapi
from credit_score.devtools.serve import Server, make_server
from credit_score.runtime.config import Settings
from credit_score.runtime.service import Service
from tests.support.bundles import tiny_bundle  # noqa: F401 - the session fixture
from tests.support.chromium import CHROMIUM, Chromium

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)")

OPERATION = "#operations-default-predict"
ANSWER = f"{OPERATION} .live-responses-table tr.response"  # the server's answer, under the "Execute" button


@pytest.fixture
def served(tiny_bundle: Path) -> Iterator[Server]:  # noqa: F811 - the imported fixture
    settings = Settings.from_env({"MODEL_DIR": str(tiny_bundle), "METRICS_ENABLED": "false"})
    server = make_server("127.0.0.1", 0, handler=Service(settings).handle, settings=settings)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_given_the_api_page_when_the_example_is_executed_then_the_answer_is_shown(served, tmp_path):
    with Chromium(width=1280, height=1100) as browser:
        browser.open(f"{served.url}/docs")
        browser.wait_for(f"!!document.querySelector('{OPERATION} .opblock-summary-control')")
        browser.evaluate(f"document.querySelector('{OPERATION} .opblock-summary-control').click()")
        browser.wait_for(f"!!document.querySelector('{OPERATION} button.execute')")
        body = browser.wait_for(f"document.querySelector('{OPERATION} textarea.body-param__text')?.value")
        browser.evaluate(f"document.querySelector('{OPERATION} button.execute').click()")
        status = browser.wait_for(f"document.querySelector('{ANSWER} .response-col_status')?.innerText.trim()")
        shown = browser.evaluate(f"document.querySelector('{ANSWER} .microlight').innerText")
        browser.evaluate(f"document.querySelector('{OPERATION} .request-url').scrollIntoView()")
        screenshot = browser.screenshot(tmp_path / "api-page.png")
        print(f"screenshot: {screenshot}")
        requests, console = list(browser.requests), list(browser.console)

    assert json.loads(body) == {"data": openapi.EXAMPLE_RECORD}  # the page's own example, sent as shown
    assert status == "200"
    answer = json.loads(shown)
    assert answer["label"] in {"Poor", "Standard", "Good"}
    assert answer["version"] == "7"
    assert set(answer["decision"]) == {"standard_or_better", "good_given_standard"}
    fetched = {urlsplit(url).netloc for url in requests if urlsplit(url).scheme not in ("data", "blob")}
    assert fetched == {urlsplit(served.url).netloc}  # offline: nothing from another origin
    assert [url for url in requests if url.startswith(f"{served.url}/predict")], requests
    assert not [line for line in console if "Content Security Policy" in line], console
    assert screenshot.stat().st_size > 20_000
