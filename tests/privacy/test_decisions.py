"""Decisions a person is told about, agents, data points, brute force and the outbox's retries."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dsar.requests.service import Filter
from tests.api.harness import Api, running_api
from tests.privacy.conftest import JANE, Mailbox, center_settings, code_in, text_of
from tests.privacy.test_flow import csrf, enter_code, sign_in_to_status, submit, wait_case

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_a_denial_names_its_basis_and_the_appeal_which_gets_its_own_deadline(
    center_api: Api, mailbox: tuple[Mailbox, int]
) -> None:
    box, _port = mailbox
    location = submit(center_api, rtype="deletion", place="US-VA")  # deletions wait for the team
    enter_code(center_api, location, code_in(box.wait_for(JANE, "verification code")))
    case = wait_case(center_api, "received", "deletion")
    c = center_api.container
    c.requests.deny(c.requests.company_tenant, case.id, actor="dpo", basis="manifestly_unfounded")
    denied = text_of(box.wait_for(JANE, "Our decision"))
    assert "the request is manifestly unfounded" in denied
    assert "You may appeal this decision until" in denied and "/privacy/status" in denied
    page = sign_in_to_status(center_api, box)
    assert "Appeal this decision" in page
    before = box.count()
    r = center_api.client.post(
        f"/privacy/status/requests/{case.id}/appeal",
        data={"csrf_token": csrf(page), "reason": "I have an account with you."},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/privacy/status/requests?done=appeal"
    items = c.requests.page(c.requests.company_tenant, Filter(channel="privacy_center")).items
    appeal = next(i for i in items if i.id != case.id)
    first = c.requests.get(c.requests.company_tenant, case.id)
    assert appeal.status == "received" and appeal.type == "deletion" and appeal.rule == "vcdpa"
    rule = c.requests.rules.rule("vcdpa")
    assert appeal.due_on == rule.appeal_due(c.requests.today()) != first.due_on  # 60 days (§59.1-577(C))
    assert any(e.kind == "appealed" and e.data == {"appeal_id": appeal.id} for e in first.timeline)
    full = c.requests.get(c.requests.company_tenant, appeal.id)
    assert full.timeline[0].data is not None and full.timeline[0].data["appeal_of"] == case.id
    assert "We received your appeal" in text_of(box.wait_for(JANE, "We received your privacy request", after=before))
    again = center_api.client.get("/privacy/status/requests").text
    assert "Appeal this decision" not in again  # once


def test_no_appeal_where_the_rule_gives_none(center_api: Api, mailbox: tuple[Mailbox, int]) -> None:
    box, _port = mailbox
    location = submit(center_api, rtype="deletion", place="US-UT")
    enter_code(center_api, location, code_in(box.wait_for(JANE, "verification code")))
    case = wait_case(center_api, "received", "deletion")
    c = center_api.container
    c.requests.deny(c.requests.company_tenant, case.id, actor="dpo", basis="excessive")
    assert "appeal" not in text_of(box.wait_for(JANE, "Our decision"))


def test_an_agent_submission_waits_for_the_persons_confirmation(center_api: Api, mailbox: tuple[Mailbox, int]) -> None:
    box, _port = mailbox
    page = center_api.client.get("/privacy/agent")
    assert "Delete the person's personal data" in page.text.replace("&#39;", "'")  # the agent acts for someone else
    assert " my " not in page.text and "Where do you live" not in page.text
    form = {"csrf_token": csrf(page.text), "type": "access", "email": JANE, "place": "US-CA"}
    bad = center_api.client.post(
        "/privacy/agent",
        data={**form, "agent_name": "Acme Agents", "agent_email": "a@ag.example"},
        files={"document": ("p.txt", b"hello", "text/plain")},
    )
    assert bad.status_code == 400 and 'id="document-error"' in bad.text and 'aria-invalid="true"' in bad.text
    r = center_api.client.post(
        "/privacy/agent",
        data={**form, "agent_name": "Acme Agents", "agent_email": "a@ag.example"},
        files={"document": ("permission.pdf", PDF, "application/pdf")},
    )
    assert r.status_code == 200 and "Waiting for the person" in r.text
    mail = box.wait_for(JANE, "Someone made a privacy request")
    body = text_of(mail)
    assert "Acme Agents asked Demo Shop" in body and "Nothing is released until you confirm" in body
    case = wait_case(center_api, "received", "access")
    assert case.task_ids == []  # nothing runs before the person confirms
    c = center_api.container
    c.privacy_center.run_due()
    assert c.requests.get(c.requests.company_tenant, case.id).task_ids == []
    link = next(line for line in body.splitlines() if "/privacy/verify/" in line).strip()
    location = link.removeprefix("http://testserver")
    assert "Thank you" in enter_code(center_api, location, code_in(mail))
    done = wait_case(center_api, "completed", "access")
    assert done.id == case.id and done.task_ids
    stored = list(Path(c.settings.data_dir, "objects", "privacy-center", "agents", case.id).iterdir())
    assert len(stored) == 1 and stored[0].read_bytes().startswith(b"DSAR-SEALED")  # encrypted at rest
    assert b"%PDF" not in b"".join(
        p.read_bytes() for p in Path(c.settings.data_dir, "objects").rglob("*") if p.is_file()
    )
    with c.storage.open(f"privacy-center/agents/{case.id}/{stored[0].name}") as document:
        assert document.read() == PDF
    from datetime import timedelta

    from dsar.verification import repository as vrepo

    with c.db.session() as s:
        who = vrepo.requester(s, case.id, lock=True)
        assert who is not None and who.ended_at is not None
        who.ended_at -= timedelta(days=61)
    c.privacy_center.run_due()
    assert not stored[0].exists()  # the permission goes with the address


@pytest.fixture
def points_api(tmp_path: Path, demo_dir: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Api]:
    question = {
        "name": "order",
        "label": "The number of a recent order",
        "source": "shop",
        "collection": "orders",
        "field": "id",
    }
    settings = center_settings(tmp_path, demo_dir, mailbox[1], levels={"access": "data_points"}, data_points=[question])
    with running_api(settings) as api:
        yield api


def _jane_order(demo_dir: Path) -> str:
    with sqlite3.connect(demo_dir / "shop.sqlite") as db:
        row = db.execute(
            "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE lower(c.email) = ? LIMIT 1",
            (JANE,),
        ).fetchone()
    return str(row[0])


def _answer(api: Api, location: str, answer: str) -> str:
    token = csrf(api.client.get("/privacy/status").text)
    return api.client.post(location, data={"csrf_token": token, "dp_order": answer}).text


def test_data_points_are_compared_with_the_data_map(
    points_api: Api, mailbox: tuple[Mailbox, int], demo_dir: Path
) -> None:
    box, _port = mailbox
    location = submit(points_api)
    page = enter_code(points_api, location, code_in(box.wait_for(JANE, "verification code")))
    assert "The number of a recent order" in page
    assert "That is not right" in _answer(points_api, location, "999999999")
    assert "Thank you" in _answer(points_api, location, _jane_order(demo_dir))
    wait_case(points_api, "completed", "access")


def test_brute_force_on_data_points_ends_the_request(points_api: Api, mailbox: tuple[Mailbox, int]) -> None:
    box, _port = mailbox
    location = submit(points_api)
    enter_code(points_api, location, code_in(box.wait_for(JANE, "verification code")))
    for n in range(4):
        assert "That is not right" in _answer(points_api, location, str(900000 + n))
    assert "We could not verify your identity" in _answer(points_api, location, "900009")
    case = wait_case(points_api, "denied", "access")
    assert case.decision_basis == "identity_not_verified"


def test_codes_per_address_are_limited_and_the_answer_does_not_change(
    center_api: Api, mailbox: tuple[Mailbox, int]
) -> None:
    box, _port = mailbox
    for _ in range(5):
        submit(center_api, email="limit@example.com")
    assert box.count() == 5
    location = submit(center_api, email="limit@example.com")  # the sixth in an hour: the same page, no e-mail
    page = center_api.client.get(location).text
    assert "we have sent a 6-digit code" in page
    assert box.count() == 5


def test_an_e_mail_waits_in_the_outbox_while_smtp_is_down(tmp_path: Path, demo_dir: Path) -> None:
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = center_settings(tmp_path, demo_dir, port)  # nothing listens yet
    with running_api(settings) as api:
        c = api.container
        rid = c.requests.open(
            tenant=c.requests.company_tenant,
            type="deletion",
            channel="privacy_center",
            email=JANE,
            actor="t",
            jurisdiction="US-CA",
        )
        from dsar.verification import repository as vrepo
        from dsar.verification.models import Requester

        with c.db.session() as s:
            vrepo.add_requester(s, Requester(request_id=rid, email=JANE, locale="en", created_at=c.clock.now()))
        c.requests.extend(c.requests.company_tenant, rid, actor="dpo", reason="many requests this month")
        [msg] = [m for m in c.notifications.messages("email")]
        deadline = time.monotonic() + 20
        while not c.notifications.deliveries(msg.id) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.notifications.status(msg.id)[0] == "PENDING"  # refused, kept, retried later
        box = Mailbox()
        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            c.notifications.redeliver(msg.id)
            mail = box.wait_for(JANE, "We need more time")
            assert "many requests this month" in text_of(mail)
            deadline = time.monotonic() + 20  # the row is updated just after the SMTP server answered
            while c.notifications.status(msg.id)[0] != "DELIVERED" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert c.notifications.status(msg.id)[0] == "DELIVERED"
            [kept] = [m for m in c.notifications.messages("email") if m.id == msg.id]
            assert kept.fields == {"to": "j***@example.com", "scrubbed": True}  # no address or body kept
        finally:
            controller.stop()


def test_forms_without_the_csrf_token_are_refused(center_api: Api) -> None:
    r = TestClient(center_api.client.app).post("/privacy/requests", data={"type": "access", "email": JANE})
    assert r.status_code == 403


def test_a_reminder_goes_before_the_download_expires_and_the_address_is_then_forgotten(
    center_api: Api, mailbox: tuple[Mailbox, int]
) -> None:
    from datetime import timedelta

    from dsar.verification import repository as vrepo

    box, _port = mailbox
    location = submit(center_api)
    enter_code(center_api, location, code_in(box.wait_for(JANE, "verification code")))
    case = wait_case(center_api, "completed", "access")
    box.wait_for(JANE, "is complete")
    c = center_api.container
    days = c.settings.privacy.download_days
    with c.db.session() as s:
        who = vrepo.requester(s, case.id, lock=True)
        assert who is not None and who.completed_at is not None
        who.completed_at -= timedelta(days=days - 1)  # one day left: within the reminder's two
    c.privacy_center.run_due()
    reminder = text_of(box.wait_for(JANE, "expires soon"))
    assert "can be downloaded until" in reminder
    c.privacy_center.run_due()  # once
    with c.db.session() as s:
        who = vrepo.requester(s, case.id, lock=True)
        assert who is not None and who.reminded_at is not None
        assert who.ended_at is not None
        who.ended_at -= timedelta(days=61)  # the download and appeal windows (60 days) have passed
    c.privacy_center.run_due()
    with c.db.session(write=False) as s:
        assert vrepo.requester(s, case.id) is None  # the address is gone; the case's record stays
    assert c.requests.get(c.requests.company_tenant, case.id).status == "completed"
    time.sleep(0.5)
    assert sum("expires soon" in str(m) for _r, m in box.messages) == 1
