"""GraphiQL, Swagger UI and ReDoc render in a real Chromium with no request leaving 127.0.0.1.

The system's Chromium and chromedriver (Debian packages `chromium`, `chromium-driver`; `.ci/run` installs them)
are driven by Selenium; the test skips when they are absent, unless DSAR_TEST_SERVICES=require (CI).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dsar.api.app import create_app
from dsar.api.pages import CSP
from dsar.bootstrap import Container
from dsar.config import Settings
from tests.live import loopback_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = pytest.mark.timeout(120)


def _need_chromium() -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    reason = f"Chromium not installed ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium chromium-driver"
    if os.environ.get("DSAR_TEST_SERVICES") == "require":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("state"), secret_key="k" * 32, run_workers=False)
    container = Container(settings, with_workers=False)
    try:
        with loopback_server(lambda _base: create_app(container)) as url:
            yield url
    finally:
        container.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="dsar-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _load(browser: Any, url: str, css: str) -> tuple[list[str], list[str]]:
    """Open `url`, wait for an element matching `css`; the URLs the page requested and its console errors."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("performance")  # drop what earlier pages logged
    browser.get_log("browser")
    browser.get(url)
    WebDriverWait(browser, 30).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))
    requested = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    return requested, errors


def _assert_local(requested: list[str], base: str) -> None:
    assert requested, "the performance log recorded no request"
    host = urlsplit(base).netloc
    network = [u for u in requested if urlsplit(u).scheme in ("http", "https", "ws", "wss", "ftp")]  # not data:, blob:
    assert network, "the performance log recorded no network request"
    outside = [u for u in network if urlsplit(u).netloc != host]
    assert outside == [], f"requests that left {host}: {outside}"


def test_graphiql_renders_offline(browser: Any, base: str) -> None:
    requested, errors = _load(browser, f"{base}/graphql", ".graphiql-container .graphiql-query-editor .CodeMirror")
    _assert_local(requested, base)
    assert any(u.endswith("/static/graphiql/graphiql.min.js") for u in requested)
    # Its schema introspection has no token yet: the one error is that POST's 401.
    assert [e for e in errors if "/graphql - Failed to load resource" not in e or "401" not in e] == []


def test_swagger_ui_lists_the_operations_offline(browser: Any, base: str) -> None:
    requested, errors = _load(browser, f"{base}/docs", "#swagger-ui .opblock .opblock-summary-path")
    _assert_local(requested, base)
    paths = [e.text for e in browser.find_elements("css selector", ".opblock-summary-path")]
    assert "/token" in paths and "/healthz" in paths
    assert errors == []


def test_redoc_lists_the_operations_offline(browser: Any, base: str) -> None:
    requested, errors = _load(browser, f"{base}/redoc", "#redoc [data-item-id^='tag/']")
    _assert_local(requested, base)
    assert browser.find_elements("css selector", "#redoc .menu-content li[data-item-id*='operation/']")
    assert errors == []


def test_pages_allow_only_their_own_origin(base: str) -> None:
    import httpx

    for path in ("/graphql", "/docs", "/redoc"):
        r = httpx.get(base + path, headers={"Accept": "text/html"})
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        # scripts, requests and frames: this origin only (script-src/connect-src fall back to default-src)
        assert csp.startswith("default-src 'self';") and "script-src" not in csp and "connect-src" not in csp
        assert "http" not in csp and "*" not in csp and (path == "/redoc" or csp == CSP)
        assert "http://" not in r.text and "https://" not in r.text, path
