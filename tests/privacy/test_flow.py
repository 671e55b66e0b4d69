"""The privacy center's flow through its pages (no browser: the forms posted as a browser without JavaScript
would), with a real SMTP server: submit, code, verify, the case, the e-mails, status, cancel, denial, appeal."""

from __future__ import annotations

import io
import re
import time
import zipfile
from typing import Any

from babel.dates import format_date
from fastapi.testclient import TestClient

from dsar.requests.service import Filter
from tests.api.harness import Api
from tests.privacy.conftest import JANE, Mailbox, code_in, text_of


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field"
    return found.group(1)


def submit(api: Api, email: str = JANE, rtype: str = "access", place: str = "US-VA", lang: str = "en") -> str:
    page = api.client.get("/privacy", headers={"Accept-Language": lang})
    assert page.status_code == 200
    r = api.client.post(
        "/privacy/requests",
        data={"csrf_token": csrf(page.text), "type": rtype, "email": email, "place": place},
        headers={"Accept-Language": lang},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def enter_code(api: Api, location: str, code: str, lang: str = "en") -> str:
    token = csrf(api.client.get("/privacy/status").text)  # any page's form token (bound to the browser's cookie)
    r = api.client.post(
        location, data={"csrf_token": token, "code": code}, headers={"Accept-Language": lang}, follow_redirects=False
    )
    return r.text


def test_submit_verify_and_the_case_opens_with_its_deadline(center_api: Api, mailbox: tuple[Mailbox, int]) -> None:
    box, _port = mailbox
    location = submit(center_api)
    code = code_in(box.wait_for(JANE, "verification code"))
    assert "Thank you, your request is confirmed" in enter_code(center_api, location, code)
    received = box.wait_for(JANE, "We received your privacy request")
    assert "We will answer by" in text_of(received)
    c = center_api.container
    page = c.requests.page(c.requests.company_tenant, Filter(channel="privacy_center"))
    [case] = page.items
    assert case.type == "access" and case.jurisdiction == "US-VA" and case.rule == "vcdpa"
    assert case.status in ("in_progress", "completed") and case.task_ids


def test_a_wrong_code_is_refused_and_five_end_the_request(center_api: Api, mailbox: tuple[Mailbox, int]) -> None:
    box, _port = mailbox
    location = submit(center_api, rtype="deletion")
    real = code_in(box.wait_for(JANE, "verification code"))
    wrong = "000000" if real != "000000" else "111111"
    for _ in range(4):
        assert "That is not right" in enter_code(center_api, location, wrong)
    assert "We could not verify your identity" in enter_code(center_api, location, wrong)
    assert "could not verify" in enter_code(center_api, location, real)  # the right code is too late now
    c = center_api.container
    [case] = c.requests.page(c.requests.company_tenant, Filter(channel="privacy_center")).items
    assert case.status == "denied" and case.decision_basis == "identity_not_verified"
    denied = box.wait_for(JANE, "Our decision")
    assert "we could not verify your identity" in text_of(denied)


def wait_case(api: Api, status: str, rtype: str | None = None, timeout: float = 60) -> Any:
    c = api.container
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = c.requests.page(c.requests.company_tenant, Filter(channel="privacy_center", type=rtype)).items
        done = [i for i in items if i.status == status]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no {status} case")


def sign_in_to_status(api: Api, box: Mailbox, email: str = JANE) -> str:
    page = api.client.get("/privacy/status")
    after = box.count()
    r = api.client.post("/privacy/status", data={"csrf_token": csrf(page.text), "email": email}, follow_redirects=False)
    assert r.status_code == 303
    code = code_in(box.wait_for(email, "", after=after))
    r = api.client.post(
        r.headers["location"], data={"csrf_token": csrf(page.text), "code": code}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/privacy/status/requests", r.text
    return api.client.get("/privacy/status/requests").text


def test_a_verified_status_check_is_a_session_only_in_the_browser_that_started_it(
    center_api: Api, mailbox: tuple[Mailbox, int]
) -> None:
    box, _port = mailbox
    page = center_api.client.get("/privacy/status")
    r = center_api.client.post(
        "/privacy/status", data={"csrf_token": csrf(page.text), "email": JANE}, follow_redirects=False
    )
    location = r.headers["location"]
    center_api.client.post(location, data={"csrf_token": csrf(page.text), "code": code_in(box.wait_for(JANE))})
    other = TestClient(center_api.client.app)
    stolen = other.get(location, follow_redirects=False)
    assert stolen.status_code == 404 and "dsar_privacy=" not in stolen.headers.get("set-cookie", "")
    assert other.get("/privacy/status/requests", follow_redirects=False).headers["location"] == "/privacy/status"


def test_completed_request_is_told_by_e_mail_and_downloaded_from_the_status_page(
    center_api: Api, mailbox: tuple[Mailbox, int]
) -> None:
    box, _port = mailbox
    location = submit(center_api)
    enter_code(center_api, location, code_in(box.wait_for(JANE, "verification code")))
    case = wait_case(center_api, "completed")
    done = text_of(box.wait_for(JANE, "is complete"))
    assert "Download your data" in done and "/privacy/status" in done
    page = sign_in_to_status(center_api, box)
    assert "Download your data" in page and case.id[:8].upper() in page
    r = center_api.client.get(f"/privacy/status/requests/{case.id}/download", follow_redirects=False)
    assert r.status_code == 303
    archive = center_api.client.get(r.headers["location"])
    assert archive.status_code == 200 and archive.content[:2] == b"PK"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        assert any(n.startswith("data/shop/customers") for n in z.namelist())
    # another browser (no verified session) gets nothing
    other = TestClient(center_api.client.app)
    assert (
        other.get(f"/privacy/status/requests/{case.id}/download", follow_redirects=False).headers["location"]
        == "/privacy/status"
    )


def test_in_german_pages_and_e_mails_and_dates(center_api: Api, mailbox: tuple[Mailbox, int]) -> None:
    box, _port = mailbox
    home = center_api.client.get("/privacy", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de">' in home.text and "Wo wohnen Sie?" in home.text and "Deutschland" in home.text
    location = submit(center_api, place="DE", lang="de")
    code = box.wait_for(JANE, "Bestätigungscode")
    assert "Ihr Bestätigungscode lautet" in text_of(code)
    assert "Danke, Ihr Antrag ist bestätigt" in enter_code(center_api, location, code_in(code), lang="de")
    received = text_of(box.wait_for(JANE, "Wir haben Ihren Datenschutzantrag erhalten"))
    case = wait_case(center_api, "completed")
    assert f"Wir antworten bis zum {format_date(case.due_on, 'long', locale='de')}." in received
    assert case.rule == "gdpr"
    box.wait_for(JANE, "Ihr Datenschutzantrag ist erledigt")
    # the switcher: ?lang=fr sticks for the next pages
    assert "Vos demandes" in center_api.client.get("/privacy?lang=fr").text
    assert "Où habitez-vous ?" in center_api.client.get("/privacy").text


def test_a_gpc_signal_is_honoured_for_the_browser_without_a_form(center_api: Api) -> None:
    r = center_api.client.get("/privacy", headers={"Sec-GPC": "1"})
    assert "Global Privacy Control" in r.text and r.cookies.get("dsar_gpc") == "1"
    center_api.client.get("/privacy", headers={"Sec-GPC": "1"})
    c = center_api.container
    assert c.requests.page(c.requests.company_tenant, Filter(type="opt_out")).items == []  # anonymous: no case
    plain = TestClient(center_api.client.app).get("/privacy")
    assert "Global Privacy Control" not in plain.text


def test_an_unknown_address_gets_the_same_answers_as_a_known_one(center_api: Api, mailbox: tuple[Mailbox, int]) -> None:
    box, _port = mailbox
    pages = []
    for email in (JANE, "nobody.at.all@example.net"):
        client = TestClient(center_api.client.app)
        page = client.get("/privacy")
        r = client.post(
            "/privacy/requests",
            data={"csrf_token": csrf(page.text), "type": "access", "email": email, "place": "US-CA"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/privacy/verify/")
        pages.append(_masked(client.get(r.headers["location"]).text))
        msg = box.wait_for(email, "verification code")
        assert len(code_in(msg)) == 6
    assert pages[0] == pages[1]


def _masked(html: str) -> str:
    html = re.sub(r'name="csrf_token" value="[^"]+"', "", html)
    return re.sub(r"/privacy/verify/[A-Za-z0-9_-]+", "/privacy/verify/X", html)
