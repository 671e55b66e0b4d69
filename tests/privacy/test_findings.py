"""A tester's findings on the privacy center, each kept fixed: GPC GETs do not inflate the legal record, appeals
take reasons and name what they appeal, withdrawing needs a confirmation, the place list holds only places,
a denial e-mail names its legal basis, how to appeal and the regulator, the .eml outbox is private, and the
verify page sends a new code."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dsar.notifications.mail import OutboxMailer
from dsar.requests.rules import load_rules
from dsar.requests.service import Filter
from dsar.verification.places import is_country, places
from tests.api.harness import Api, running_api
from tests.privacy.conftest import JANE, Mailbox, center_settings, code_in, text_of
from tests.privacy.test_flow import csrf, enter_code, sign_in_to_status, submit, wait_case

REGULATOR = "Office of the Attorney General of Virginia, https://www.oag.state.va.us/consumer-protection"


@pytest.fixture
def regulated_api(tmp_path: Path, demo_dir: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Api]:
    with running_api(center_settings(tmp_path, demo_dir, mailbox[1], regulators={"vcdpa": REGULATOR})) as api:
        yield api


def _opt_outs(api: Api) -> list[object]:
    c = api.container
    return list(c.requests.page(c.requests.company_tenant, Filter(type="opt_out"), first=100).items)


def test_forty_cookieless_gpc_gets_open_no_case(center_api: Api) -> None:
    app = center_api.client.app
    for _ in range(40):
        r = TestClient(app).get("/privacy", headers={"Sec-GPC": "1"})  # a new client each time: no cookies
        assert r.status_code == 200 and "Global Privacy Control" in r.text
        assert r.cookies.get("dsar_gpc") == "1"  # the browser is marked as opted out
    assert _opt_outs(center_api) == []
    assert "Global Privacy Control" not in TestClient(app).get("/privacy").text


def test_a_signed_in_consumers_gpc_is_recorded_once_as_their_opt_out(
    center_api: Api, mailbox: tuple[Mailbox, int]
) -> None:
    box, _port = mailbox
    location = submit(center_api, rtype="deletion")
    enter_code(center_api, location, code_in(box.wait_for(JANE, "verification code")))
    wait_case(center_api, "received", "deletion")
    sign_in_to_status(center_api, box)
    for _ in range(5):
        center_api.client.get("/privacy", headers={"Sec-GPC": "1"})
    [case] = _opt_outs(center_api)
    c = center_api.container
    mine = c.requests.page(c.requests.company_tenant, Filter(type="opt_out", subject_ref=c.requests.subject_ref(JANE)))
    assert [v.id for v in mine.items] == [case.id] and mine.items[0].status == "completed"  # type: ignore[attr-defined]


def test_the_place_list_holds_only_countries_and_territories() -> None:
    rules = load_rules()
    codes = {code for code, _name in places(rules, "en")}
    for fake in ("XA", "XB", "ZZ", "UN", "EZ", "QO", "EU", "IC", "EA"):
        assert fake not in codes and not is_country(fake)
    names = {name for _code, name in places(rules, "en")}
    assert "European Union" not in names and "Unknown Region" not in names
    assert {"DE", "FR", "US", "GB", "XK", "PR", "US-CA"} <= codes
    assert 245 <= len([c for c in codes if len(c) == 2]) <= 252  # ISO 3166-1 assigns 249 codes


def test_a_denial_e_mail_names_the_law_how_to_appeal_and_the_regulator(
    regulated_api: Api, mailbox: tuple[Mailbox, int]
) -> None:
    box, _port = mailbox
    location = submit(regulated_api, rtype="deletion", place="US-VA")
    enter_code(regulated_api, location, code_in(box.wait_for(JANE, "verification code")))
    case = wait_case(regulated_api, "received", "deletion")
    c = regulated_api.container
    c.requests.deny(
        c.requests.company_tenant, case.id, actor="dpo", basis="legal_exemption", law="Va. Code § 59.1-582(A)(3)"
    )
    text = text_of(box.wait_for(JANE, "Our decision"))
    assert "an exemption in law applies" in text
    assert "Legal basis: Va. Code § 59.1-582(A)(3)" in text
    assert "You may appeal this decision until" in text and 'choose "Send my appeal"' in text
    assert f"contact the regulator: {REGULATOR}" in text


def test_an_appeal_takes_reasons_names_what_it_appeals_and_withdrawing_needs_a_confirmation(
    center_api: Api, mailbox: tuple[Mailbox, int]
) -> None:
    box, _port = mailbox
    location = submit(center_api, rtype="deletion", place="US-VA")
    enter_code(center_api, location, code_in(box.wait_for(JANE, "verification code")))
    case = wait_case(center_api, "received", "deletion")
    c = center_api.container
    c.requests.deny(c.requests.company_tenant, case.id, actor="dpo", basis="manifestly_unfounded")
    box.wait_for(JANE, "Our decision")  # before signing in: the sign-in reads the newest e-mail for its code
    page = sign_in_to_status(center_api, box)
    assert "Why do you disagree? (optional)" in page and 'name="reason"' in page
    center_api.client.post(
        f"/privacy/status/requests/{case.id}/appeal",
        data={"csrf_token": csrf(page), "reason": "You hold my orders."},
    )
    appeal = next(
        i for i in c.requests.page(c.requests.company_tenant, Filter(type="deletion")).items if i.id != case.id
    )
    full = c.requests.get(c.requests.company_tenant, appeal.id)
    assert full.timeline[0].data is not None and full.timeline[0].data["reason"] == "You hold my orders."
    page = center_api.client.get("/privacy/status/requests").text
    assert f"Appeal of {case.id[:8].upper()}" in page
    assert f'action="/privacy/status/requests/{appeal.id}/cancel"' not in page  # no one-tap form any more
    # a post without the confirmation (an old page, a stray tap) changes nothing: it leads to the confirm page
    r = center_api.client.post(
        f"/privacy/status/requests/{appeal.id}/cancel",
        data={"csrf_token": csrf(center_api.client.get("/privacy/status").text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/privacy/status/requests/{appeal.id}/cancel"
    assert c.requests.get(c.requests.company_tenant, appeal.id).status == "received"
    confirm = center_api.client.get(r.headers["location"]).text
    assert "Withdraw your appeal?" in confirm and f"Appeal of {case.id[:8].upper()}" in confirm
    r = center_api.client.post(
        f"/privacy/status/requests/{appeal.id}/cancel",
        data={"csrf_token": csrf(confirm), "confirm": "yes"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/privacy/status/requests?done=cancel"
    assert c.requests.get(c.requests.company_tenant, appeal.id).status == "canceled"
    assert "Send my appeal" in center_api.client.get("/privacy/status/requests").text  # the right is back


def test_outbox_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@shop.example", JANE, "Your code"
    msg.set_content("123456")
    OutboxMailer(folder).send(msg)
    [eml] = list(folder.glob("*.eml"))
    assert stat.S_IMODE(eml.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    folder.chmod(0o755)  # made earlier by an older version: tightened on the next message
    OutboxMailer(folder).send(msg)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_the_verify_page_sends_a_new_code_within_the_same_budget(center_api: Api, mailbox: tuple[Mailbox, int]) -> None:
    box, _port = mailbox
    location = submit(center_api, email="resend@example.com")
    first = code_in(box.wait_for("resend@example.com", "verification code"))
    page = center_api.client.get(location).text
    assert "Send a new code" in page
    before = box.count()
    r = center_api.client.post(f"{location}/resend", data={"csrf_token": csrf(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{location}?sent=1"
    assert "we have sent a new code" in center_api.client.get(r.headers["location"]).text
    second = code_in(box.wait_for("resend@example.com", "verification code", after=before))
    if second != first:
        assert "That is not right" in enter_code(center_api, location, first)  # only the newest code works
    for _ in range(6):  # 5 codes an hour per address (DSAR_PRIVACY__CODES_PER_HOUR): resending counts too
        center_api.client.post(f"{location}/resend", data={"csrf_token": csrf(page)})
    assert box.count() == before + 4
    newest = code_in(box.wait_for("resend@example.com", "verification code", after=before + 3))
    assert "Thank you" in enter_code(center_api, location, newest)


def test_german_calls_an_appeal_einspruch_never_widerspruch() -> None:
    """ "Widerspruch" is the DSGVO's objection (Art. 21); an appeal of our decision is an "Einspruch"."""
    from babel.messages.pofile import read_po

    from dsar.verification.messages import CATALOGS

    web = Path(__file__).resolve().parents[2] / "src" / "dsar" / "api" / "web" / "locales"
    for po in (web / "de" / "LC_MESSAGES" / "messages.po", CATALOGS / "de" / "LC_MESSAGES" / "messages.po"):
        with po.open("rb") as fh:
            appeals = [m for m in read_po(fh) if m.id and "appeal" in str(m.id).lower()]
        assert appeals and all("Widerspruch" not in m.string and "Einspruch" in m.string for m in appeals), po
    for lang, objection in (("fr", "opposition"), ("es", "oposición")):
        with (web / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            appeals = [m for m in read_po(fh) if m.id and "appeal" in str(m.id).lower()]
        assert all(objection not in str(m.string).lower() for m in appeals), lang
