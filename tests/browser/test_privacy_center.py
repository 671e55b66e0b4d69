"""The privacy center in a real Chromium (no JavaScript needed) against a real server and a real SMTP server
(aiosmtpd) on loopback: submit, the code arrives, verify, the team approves, the completion e-mail, the
download; the same in German; a Global Privacy Control signal. The screenshots in docs/privacy-center/ are
taken here
(DSAR_UPDATE_SCREENSHOTS=1 writes them)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.requests.service import Filter
from tests.browser.test_developer_pages import CHROMEDRIVER, CHROMIUM, _need_chromium
from tests.live import loopback_server
from tests.privacy.conftest import JANE, Mailbox, code_in, smtp_server, text_of

pytestmark = pytest.mark.timeout(180)
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "privacy-center"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (the system's, driven by Selenium); skipped where none is installed, outside CI."""
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
        "--no-first-run",
        "--disable-background-networking",
        "--disable-extensions",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as found:
        yield found


@pytest.fixture
def center(tmp_path: Path, demo_dir: Path, mailbox: tuple[Mailbox, int]) -> Iterator[tuple[str, Container]]:
    _box, port = mailbox
    holder: dict[str, Container] = {}

    def app_for(base: str) -> Any:
        settings = Settings(
            data_dir=tmp_path / "state",
            datamap=demo_dir / "datamap.yaml",
            public_url=base,
            secret_key="browser-test-secret-key",
            company_name="Demo Shop",
            job={"poll_seconds": 0.2, "lease_seconds": 5},
            odr={
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_security": "none",
                "mail_from": "privacy@shop.example",
            },
            privacy={"auto_approve": []},  # the team approves: the request waits in the queue first
        )
        holder["c"] = Container(settings)
        return create_app(holder["c"])

    with loopback_server(app_for) as base:
        try:
            yield base, holder["c"]
        finally:
            holder["c"].close()


def _shot(browser: Any, name: str) -> None:
    """Taken on every run (the page must render); written over docs/privacy-center/ only with
    DSAR_UPDATE_SCREENSHOTS=1, so a test run leaves the tree as it found it."""
    browser.set_window_size(1100, 900)
    png = browser.get_screenshot_as_png()
    assert png.startswith(b"\x89PNG")
    if os.environ.get("DSAR_UPDATE_SCREENSHOTS") == "1":
        (SHOTS / f"{name}.png").write_bytes(png)


def _fill(browser: Any, css: str, text: str) -> None:
    el = browser.find_element("css selector", css)
    el.clear()
    el.send_keys(text)


def _click(browser: Any, css: str, until: str) -> None:
    """Submit a form and wait for the next page, known by a text in it (a click does not wait for the load)."""
    from selenium.webdriver.support.ui import WebDriverWait

    if css.startswith("//"):
        browser.find_element("xpath", css).click()
    else:
        browser.find_element("css selector", css).click()
    WebDriverWait(browser, 20).until(lambda b: until in b.page_source)


def _case(c: Container, status: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in c.requests.page(c.requests.company_tenant, Filter(channel="privacy_center")).items:
            if item.status == status:
                return item
        time.sleep(0.1)
    raise AssertionError(f"no {status} request")


def _submit_and_verify(browser: Any, base: str, box: Mailbox, lang: str, shots: bool) -> None:
    from selenium.webdriver.support.ui import Select

    browser.get(f"{base}/privacy?lang={lang}")
    if shots:
        _shot(browser, f"home-{lang}")
    _fill(browser, "#email", JANE)
    Select(browser.find_element("css selector", "#place")).select_by_value("US-CA" if lang == "en" else "DE")
    _click(browser, "form[action='/privacy/requests'] button[type=submit]", 'id="code"')
    assert "/privacy/verify/" in browser.current_url
    if shots:
        _shot(browser, f"verify-{lang}")
    subject = "verification code" if lang == "en" else "Bestätigungscode"
    _fill(browser, "#code", code_in(box.wait_for(JANE, subject)))
    _click(browser, "main button[type=submit]", 'class="btn" href="/privacy/status"')
    if shots:
        _shot(browser, f"confirmed-{lang}")


def test_submit_verify_approve_complete_and_download(
    browser: Any,
    center: tuple[str, Container],
    mailbox: tuple[Mailbox, int],
    tmp_path: Path,
) -> None:
    base, c = center
    box, _port = mailbox
    _submit_and_verify(browser, base, box, "en", shots=True)
    assert "Thank you, your request is confirmed" in browser.page_source
    assert "We will answer by" in text_of(box.wait_for(JANE, "We received your privacy request"))
    case = _case(c, "received")  # in the team's queue
    assert case.rule == "ccpa" and case.type == "access"
    c.requests.approve(c.requests.company_tenant, case.id, actor="dpo@shop.example")
    c.privacy_center.run_due()  # what the periodic job does every minute: the approved request's work starts
    _case(c, "completed")
    assert "Download your data" in text_of(box.wait_for(JANE, "is complete"))
    # the status page, after verifying again
    browser.get(f"{base}/privacy/status")
    after = box.count()
    _fill(browser, "#email", JANE)
    _click(browser, "main button[type=submit]", 'id="code"')
    _fill(browser, "#code", code_in(box.wait_for(JANE, "verification code", after=after)))
    _click(browser, "main button[type=submit]", "Download your data")
    assert browser.current_url.endswith("/privacy/status/requests")
    _shot(browser, "status-en")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    browser.find_element("link text", "Download your data").click()
    deadline = time.monotonic() + 30
    while not [p for p in downloads.iterdir() if p.suffix == ".zip"] and time.monotonic() < deadline:
        time.sleep(0.1)
    [archive] = [p for p in downloads.iterdir() if p.suffix == ".zip"]
    assert archive.read_bytes()[:2] == b"PK"


def test_the_same_in_german(
    browser: Any,
    center: tuple[str, Container],
    mailbox: tuple[Mailbox, int],
) -> None:
    base, c = center
    box, _port = mailbox
    browser.delete_all_cookies()
    _submit_and_verify(browser, base, box, "de", shots=True)
    assert "Danke, Ihr Antrag ist bestätigt" in browser.page_source
    assert "Wir antworten bis zum" in text_of(box.wait_for(JANE, "Wir haben Ihren Datenschutzantrag erhalten"))
    case = _case(c, "received")
    assert case.rule == "gdpr"
    c.requests.approve(c.requests.company_tenant, case.id, actor="dpo@shop.example")
    c.privacy_center.run_due()
    _case(c, "completed")
    assert "Laden Sie Ihre Daten" in text_of(box.wait_for(JANE, "Ihr Datenschutzantrag ist erledigt"))


def test_a_gpc_signal_marks_the_browser_without_opening_cases(browser: Any, center: tuple[str, Container]) -> None:
    """An anonymous browser's signal is honoured (a cookie marks it opted out) but opens no case: reloading the
    page 40 times, cookies cleared each time, adds nothing to the legal record."""
    base, c = center
    browser.delete_all_cookies()
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Sec-GPC": "1"}})
    try:
        browser.get(f"{base}/privacy?lang=en")
        assert "Global Privacy Control" in browser.page_source
        assert browser.get_cookie("dsar_gpc")["value"] == "1"
        _shot(browser, "gpc-en")
        for _ in range(40):
            browser.delete_all_cookies()
            browser.get(f"{base}/privacy?lang=en")
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
    assert c.requests.page(c.requests.company_tenant, Filter(type="opt_out")).items == []


def test_an_agent_submits_and_the_person_confirms(
    browser: Any, center: tuple[str, Container], mailbox: tuple[Mailbox, int], tmp_path: Path
) -> None:
    from selenium.webdriver.support.ui import Select

    base, c = center
    box, _port = mailbox
    browser.delete_all_cookies()
    permission = tmp_path / "permission.pdf"
    permission.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    browser.get(f"{base}/privacy/agent?lang=en")
    _fill(browser, "#agent_name", "Acme Privacy Agents")
    _fill(browser, "#agent_email", "agent@acme.example")
    _fill(browser, "#email", JANE)
    Select(browser.find_element("css selector", "#place")).select_by_value("US-CA")
    browser.find_element("css selector", "#document").send_keys(str(permission))
    _shot(browser, "agent-en")
    _click(browser, "main button[type=submit]", "Waiting for the person")
    mail = box.wait_for(JANE, "Someone made a privacy request")
    body = text_of(mail)
    case = _case(c, "received")
    c.requests.approve(c.requests.company_tenant, case.id, actor="dpo@shop.example")
    c.privacy_center.run_due()
    assert c.requests.get(c.requests.company_tenant, case.id).task_ids == []  # not before the person confirms
    link = next(line.strip() for line in body.splitlines() if "/privacy/verify/" in line)
    browser.delete_all_cookies()  # the person's own browser
    browser.get(link)
    _fill(browser, "#code", code_in(mail))
    _click(browser, "main button[type=submit]", "Thank you, your request is confirmed")
    _case(c, "completed")


def test_a_denial_is_appealed_from_the_status_page(
    browser: Any, center: tuple[str, Container], mailbox: tuple[Mailbox, int]
) -> None:
    from selenium.webdriver.support.ui import Select

    base, c = center
    box, _port = mailbox
    browser.delete_all_cookies()
    browser.get(f"{base}/privacy?lang=en")
    browser.find_element("css selector", "input[name=type][value=deletion]").click()
    _fill(browser, "#email", JANE)
    Select(browser.find_element("css selector", "#place")).select_by_value("US-VA")
    _click(browser, "form[action='/privacy/requests'] button[type=submit]", 'id="code"')
    _fill(browser, "#code", code_in(box.wait_for(JANE, "verification code")))
    _click(browser, "main button[type=submit]", "Thank you, your request is confirmed")
    case = _case(c, "received")
    c.requests.deny(c.requests.company_tenant, case.id, actor="dpo@shop.example", basis="manifestly_unfounded")
    denied = text_of(box.wait_for(JANE, "Our decision"))
    assert "manifestly unfounded" in denied and "You may appeal this decision until" in denied
    browser.get(f"{base}/privacy/status")
    after = box.count()
    _fill(browser, "#email", JANE)
    _click(browser, "main button[type=submit]", 'id="code"')
    _fill(browser, "#code", code_in(box.wait_for(JANE, "verification code", after=after)))
    _click(browser, "main button[type=submit]", "Appeal this decision")
    _fill(browser, f"#reason-{case.id}", "I have an account with you and want it gone.")
    _shot(browser, "appeal-en")
    _click(browser, "//button[normalize-space()='Send my appeal']", "We received your appeal")
    _shot(browser, "appealed-en")
    appeal = _case(c, "received")
    assert appeal.id != case.id and appeal.due_on == c.requests.rules.rule("vcdpa").appeal_due(c.requests.today())
    assert f"Appeal of {case.id[:8].upper()}" in browser.page_source
    full = c.requests.get(c.requests.company_tenant, appeal.id)
    assert full.timeline[0].data is not None
    assert full.timeline[0].data["reason"] == "I have an account with you and want it gone."
    # withdrawing takes a confirmation page (no JavaScript); "keep it" changes nothing
    _click(browser, f"a[href='/privacy/status/requests/{appeal.id}/cancel']", "Withdraw your appeal?")
    _shot(browser, "withdraw-en")
    _click(browser, "//a[normalize-space()='No, keep it']", "Your requests")
    assert c.requests.get(c.requests.company_tenant, appeal.id).status == "received"
    _click(browser, f"a[href='/privacy/status/requests/{appeal.id}/cancel']", "Withdraw your appeal?")
    _click(browser, "//button[normalize-space()='Yes, withdraw my appeal']", "Your request was cancelled")
    assert c.requests.get(c.requests.company_tenant, appeal.id).status == "canceled"
    assert "Send my appeal" in browser.page_source  # a withdrawn appeal gives the right back within the window
