"""The console in a real Chromium: sign in, find an overdue request by filter, approve it, watch it complete,
download its archive; deny another with a basis; a viewer's approve refused by the server (403) even when posted
by hand; a forged CSRF token refused; TOTP sign-in; the audit log intact; the requests list in German, French and
Spanish (Accept-Language) without a layout broken by the longer texts. Screenshots of the main pages are taken
on the way (DSAR_UPDATE_SCREENSHOTS=1 writes them to docs/console/, as committed).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.db.migrate import upgrade
from dsar.demo.generate import SUBJECT_EMAIL
from dsar.kit.clock import FrozenClock
from dsar.operators import totp
from tests.live import loopback_server
from tests.web.console_helpers import FAST, PASSWORD, make_operator, start_work

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"

pytestmark = pytest.mark.timeout(300)


@dataclass
class Console:
    base: str
    container: Container
    ids: dict[str, str]
    shots: Path
    downloads: Path


def _need_chromium() -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    reason = f"Chromium not installed ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium chromium-driver"
    if os.environ.get("DSAR_TEST_SERVICES") == "require":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Iterator[Console]:
    _need_chromium()
    state = tmp_path_factory.mktemp("console-state")
    values: dict[str, Any] = {
        "data_dir": state,
        "datamap": demo_dir / "datamap.yaml",
        "secret_key": "k" * 32,
        "job": {"poll_seconds": 0.2, "lease_seconds": 5},
        "requests": {"default_jurisdiction": "US-CA"},
    }
    # Cases received 60 days ago (overdue now), opened on a clock of then, before the server starts.
    past = Container(Settings(**values), clock=FrozenClock(datetime.now(UTC) - timedelta(days=60)), with_workers=False)
    upgrade(past.db.engine)
    ids = {
        "overdue": past.requests.open(
            tenant="default",
            type="access",
            channel="console",
            email=SUBJECT_EMAIL,
            actor="test",
            jurisdiction="US-CA",
        ),
        "to_deny": past.requests.open(
            tenant="default", type="access", channel="odr", email="b1@example.com", actor="test", jurisdiction="US-CA"
        ),
    }
    past.close()
    box: dict[str, Container] = {}

    def app_for(base: str) -> Any:
        box["c"] = Container(Settings(**values, public_url=base))
        return create_app(box["c"])

    with loopback_server(app_for) as base:
        c = box["c"]
        c.operators.hasher = FAST
        make_operator(c, "approver@example.com", "approver")
        make_operator(c, "viewer@example.com", "viewer")
        ids["fresh"] = c.requests.open(
            tenant="default", type="deletion", channel="bwp", email="c2@example.com", actor="test", jurisdiction="EU"
        )
        update = os.environ.get("DSAR_UPDATE_SCREENSHOTS") == "1"
        shots = SHOTS if update else tmp_path_factory.mktemp("shots")
        shots.mkdir(parents=True, exist_ok=True)
        try:
            yield Console(base, c, ids, shots, tmp_path_factory.mktemp("downloads"))
        finally:
            c.close()


@pytest.fixture(scope="module")
def browser(console: Console) -> Iterator[Any]:
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
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(console.downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _by(css: str) -> tuple[str, str]:
    return ("css selector", css)


def _wait(browser: Any, css: str, timeout: float = 30) -> Any:
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(expected_conditions.presence_of_element_located(_by(css)))


def _sign_in(browser: Any, console: Console, email: str, code: str = "", shot: str | None = None) -> None:
    browser.delete_all_cookies()
    browser.get(f"{console.base}/console/sign-in")
    _wait(browser, "#email").send_keys(email)
    browser.find_element(*_by("#password")).send_keys(PASSWORD)
    if code:
        browser.find_element(*_by("#code")).send_keys(code)
    if shot:
        browser.save_screenshot(str(console.shots / shot))
    browser.find_element(*_by("button[type=submit].btn-primary")).click()
    _wait(browser, "#queue")


def test_find_an_overdue_request_approve_it_watch_it_complete_and_download_the_archive(
    browser: Any, console: Console
) -> None:
    _sign_in(browser, console, "approver@example.com", shot="sign-in.png")
    browser.save_screenshot(str(console.shots / "queue.png"))
    browser.find_element(*_by("#overdue")).click()
    browser.find_element(*_by("#apply-filters")).click()
    _wait(browser, "#queue")
    rows = browser.find_elements(*_by("#queue tbody tr[data-request]"))
    found = {r.get_attribute("data-request") for r in rows}
    assert found == {console.ids["overdue"], console.ids["to_deny"]}
    assert "overdue" in browser.find_element(*_by(f"tr[data-request='{console.ids['overdue']}']")).text
    browser.find_element(*_by(f"tr[data-request='{console.ids['overdue']}'] a")).click()
    _wait(browser, "#approve").click()
    assert "approval" in _wait(browser, "#done").text
    assert browser.find_element(*_by("#decision")).text.startswith("approved")
    # the intake (the privacy center's job once a case is approved) starts its engine task
    start_work(console.container, console.ids["overdue"], SUBJECT_EMAIL)
    deadline = time.monotonic() + 90
    while "completed" not in (status := _wait(browser, "#request-status").text):
        assert "denied" not in status, browser.page_source
        assert time.monotonic() < deadline, "the request did not complete"
        time.sleep(0.5)
        browser.get(f"{console.base}/console/requests/{console.ids['overdue']}")
    browser.save_screenshot(str(console.shots / "request.png"))
    browser.find_element(*_by("#reveal")).click()  # the identity, as its engine task holds it (recorded)
    assert _wait(browser, "#identities").text == SUBJECT_EMAIL
    browser.find_element(*_by("button[id^='download-']")).click()
    deadline = time.monotonic() + 30
    while not [p for p in console.downloads.iterdir() if p.suffix == ".zip"]:
        assert time.monotonic() < deadline, "the archive was not downloaded"
        time.sleep(0.2)
    [archive] = [p for p in console.downloads.iterdir() if p.suffix == ".zip"]
    with zipfile.ZipFile(archive) as z:
        assert "manifest.json" in z.namelist()
    actions = [e.action for e in console.container.operators.audit_entries(limit=20)]
    assert {"approve", "reveal", "download", "sign_in"} <= set(actions)


def test_deny_another_with_a_basis(browser: Any, console: Console) -> None:
    _sign_in(browser, console, "approver@example.com")
    browser.get(f"{console.base}/console/requests/{console.ids['to_deny']}")
    from selenium.webdriver.support.ui import Select

    Select(_wait(browser, "#basis")).select_by_value("manifestly_unfounded")
    browser.find_element(*_by("#note")).send_keys("the same request every day")
    browser.find_element(*_by("#deny")).click()
    _wait(browser, "#done")
    assert browser.find_element(*_by("#basis")).text.startswith("manifestly_unfounded")
    view = console.container.requests.get("default", console.ids["to_deny"])
    assert (view.status, view.decision_basis) == ("denied", "manifestly_unfounded")


def test_a_viewers_approve_is_refused_by_the_server_even_posted_by_hand(browser: Any, console: Console) -> None:
    _sign_in(browser, console, "viewer@example.com")
    rid = console.ids["fresh"]
    browser.get(f"{console.base}/console/requests/{rid}")
    _wait(browser, "#no-actions")
    assert not browser.find_elements(*_by("#approve"))  # hidden from the viewer ...
    status = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        const body = new FormData(document.querySelector('form[action$="/sign-out"]'));  // a valid CSRF token
        fetch(location.pathname + '/approve', {method: 'POST', body, credentials: 'same-origin'})
          .then(r => done(r.status));"""
    )
    assert status == 403  # ... and refused by the server when posted anyway
    browser.execute_script(
        "const f = document.querySelector('form[action$=\"/sign-out\"]');"
        "f.action = location.pathname + '/approve'; f.submit();"
    )
    assert "Not allowed" in _wait(browser, "main h1").text
    assert console.container.requests.get("default", rid).status == "received"


def test_a_forged_csrf_token_is_refused(browser: Any, console: Console) -> None:
    _sign_in(browser, console, "approver@example.com")
    rid = console.ids["fresh"]
    browser.get(f"{console.base}/console/requests/{rid}")
    _wait(browser, "#approve")
    browser.execute_script(
        "const f = document.querySelector('#approve').form;"
        "f.querySelector('[name=csrf_token]').value = 'forged.token'; f.submit();"
    )
    assert "expired" in _wait(browser, "main h1").text
    assert console.container.requests.get("default", rid).status == "received"


def test_totp_sign_in_and_the_other_pages(browser: Any, console: Console) -> None:
    c = console.container
    op = make_operator(c, "admin@example.com", "admin")
    secret = totp.new_secret()
    c.operators.enable_totp(op, secret, totp.code_at(secret, time.time()))
    time.sleep(max(0.0, 30 - time.time() % 30) + 0.5)  # a code works once: wait for the next time step
    browser.delete_all_cookies()
    browser.get(f"{console.base}/console/sign-in")
    _wait(browser, "#email").send_keys("admin@example.com")
    browser.find_element(*_by("#password")).send_keys(PASSWORD)
    browser.find_element(*_by("button[type=submit].btn-primary")).click()
    assert _wait(browser, "#sign-in-error")  # the code is required
    _sign_in(browser, console, "admin@example.com", code=totp.code_at(secret, time.time()))
    for path, css, shot in (
        ("/console/dashboard", "#chart-weeks", "dashboard.png"),
        ("/console/audit", "#chain", "audit.png"),
        ("/console/operators", "#operators", "operators.png"),
        ("/console/integrations", "#client-list", "integrations.png"),
        ("/console/datamap?check=1", "#check-result", "datamap.png"),
    ):
        browser.get(console.base + path)
        _wait(browser, css)
        browser.save_screenshot(str(console.shots / shot))
    assert browser.find_element(*_by("#check-result")).text.startswith("0 error(s)")
    assert len(browser.find_elements(*_by("#datamap-svg g rect"))) >= 5
    browser.get(console.base + "/console/audit")
    assert "intact" in _wait(browser, "#chain").text
    browser.set_window_size(390, 844)
    browser.get(console.base + "/console/requests")
    _wait(browser, "#queue")
    browser.save_screenshot(str(console.shots / "queue-phone.png"))
    browser.set_window_size(1280, 900)
    assert all((console.shots / name).stat().st_size > 5000 for name in ("sign-in.png", "queue.png", "dashboard.png"))
    _create_a_client_see_its_secret_once_and_revoke_it_after_confirming(browser, console)
    _no_console_page_scrolls_sideways(browser, console)


def _create_a_client_see_its_secret_once_and_revoke_it_after_confirming(browser: Any, console: Console) -> None:
    c = console.container
    browser.get(console.base + "/console/integrations")
    _wait(browser, "#client-name").send_keys("browser client")
    browser.find_element(*_by("input[name=scope][value='privacy:manage']")).click()
    browser.find_element(*_by("section[aria-labelledby=new-client] button[type=submit]")).click()
    secret = _wait(browser, "#new-secret").text
    assert browser.current_url == console.base + "/console/integrations"  # redirected: no secret in the URL
    [made] = [cl for cl in c.auth.clients() if cl.name == "browser client"]
    assert made.id in secret
    browser.refresh()  # a reload neither makes a second client nor shows the secret again
    _wait(browser, "#client-list")
    assert not browser.find_elements(*_by("#new-secret"))
    assert [cl.name for cl in c.auth.clients()].count("browser client") == 1
    browser.find_element(*_by(f"tr[data-client='{made.id}'] form[action$='/revoke'] button")).click()
    assert "browser client" in _wait(browser, "#confirm").text  # asks first, names the client
    browser.save_screenshot(str(console.shots / "confirm.png"))
    assert next(cl for cl in c.auth.clients() if cl.id == made.id).disabled_at is None  # nothing done yet
    browser.find_element(*_by("#confirm-button")).click()
    assert "revoked" in _wait(browser, "#flash").text
    assert next(cl for cl in c.auth.clients() if cl.id == made.id).disabled_at is not None


def _no_console_page_scrolls_sideways(browser: Any, console: Console) -> None:
    """Every console page, in English and German, on a phone (390 px) and a desktop (1280 px): neither the page
    nor the navigation scrolls sideways (wide tables scroll inside their own box)."""
    pages = (
        ("/console/requests", "#queue"),
        (f"/console/requests/{console.ids['fresh']}", "#request-status"),
        ("/console/integrations", "#client-list"),
        ("/console/operators", "#operators"),
        ("/console/audit", "#chain"),
        ("/console/datamap/coverage", "#run-coverage"),
        ("/console/dashboard", "#chart-weeks"),
    )
    sideways = (
        "return [document.documentElement.scrollWidth - window.innerWidth,"
        " (n => n.scrollWidth - n.clientWidth)(document.querySelector('.nav')),"
        " [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth"
        "  && !(e.parentElement && e.parentElement.closest('.table-wrap')))"
        " .slice(-3).map(e => e.tagName + '.' + e.className + '#' + e.id)];"
    )
    browser.execute_cdp_cmd("Network.enable", {})
    try:
        for lang in ("en", "de"):
            browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Accept-Language": lang}})
            for width, height in ((390, 844), (1280, 900)):
                browser.set_window_size(width, height)
                for path, css in pages:
                    browser.get(console.base + path)
                    _wait(browser, css)
                    page, nav, wide = browser.execute_script(sideways)
                    assert page <= 0, f"{path} ({lang}) scrolls sideways by {page}px at {width}px: {wide}"
                    assert nav <= 0, f"the navigation of {path} ({lang}) scrolls sideways by {nav}px at {width}px"
                    if (lang, width, path) == ("de", 390, "/console/integrations"):
                        browser.save_screenshot(str(console.shots / "integrations-de-phone.png"))
    finally:
        browser.set_window_size(1280, 900)
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})


@pytest.mark.parametrize(
    ("lang", "heading", "row"),
    [
        ("de", "Anträge betroffener Personen", "Entscheidung offen"),
        ("fr", "Demandes des personnes concernées", "à décider"),
        ("es", "Solicitudes de los interesados", "por decidir"),
    ],
)
def test_the_requests_list_in_german_french_and_spanish_fits_the_page(
    browser: Any, console: Console, lang: str, heading: str, row: str
) -> None:
    """Accept-Language picks the console's language; its longer texts break no layout: no sideways scroll of the
    page (desktop and phone) nor of the requests table on a desktop window."""
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Accept-Language": f"{lang};q=0.9"}})
    sideways = (
        "return [document.documentElement, document.querySelector('.table-wrap')]"
        ".map(e => e.scrollWidth - e.clientWidth);"
    )
    try:
        _sign_in(browser, console, "approver@example.com")
        assert _wait(browser, "main h1").text == heading
        assert browser.find_element(*_by("html")).get_attribute("lang") == lang
        assert row in browser.find_element(*_by(f"tr[data-request='{console.ids['fresh']}']")).text
        for width, height, shot in ((1280, 900, f"queue-{lang}.png"), (390, 844, f"queue-{lang}-phone.png")):
            browser.set_window_size(width, height)
            browser.get(f"{console.base}/console/requests")
            _wait(browser, "#queue")
            browser.save_screenshot(str(console.shots / shot))
            page, table = browser.execute_script(sideways)
            assert page <= 0, f"the page scrolls sideways by {page}px at {width}px"
            if width >= 1280:
                assert table <= 0, f"the requests table scrolls sideways by {table}px at {width}px"
    finally:
        browser.set_window_size(1280, 900)
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
