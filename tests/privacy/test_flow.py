"""The privacy center's flow through its pages (no browser: the forms posted as a browser without JavaScript
would), with a real SMTP server: submit, code, verify, the case, the e-mails, status, cancel, denial, appeal."""

from __future__ import annotations

import re

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
    r = api.client.post(location, data={"csrf_token": token, "code": code}, follow_redirects=False)
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
