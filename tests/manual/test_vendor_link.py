"""A vendor answers a manual step through the link e-mailed to them, on a real server: the e-mail goes through the
outbox to a real SMTP server (aiosmtpd), the page is fetched and posted over HTTP, and the finished archive holds
the upload under data/crm/ and says so in about/sources.json. Forged and expired links, a form without its CSRF
token and bad uploads are refused, changing nothing."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.tasks.states import COMPLETED, RETRIEVAL
from tests.api.harness import settings_for
from tests.live import loopback_server
from tests.manual.helpers import JANE, VENDOR, archive_of, manual_datamap, sources_doc
from tests.privacy.conftest import Mailbox, smtp_server, text_of

CSV = b"contact_id,email,owner\n17,jane.doe@example.com,Sales EMEA\n18,jane.doe@example.com,Sales US\n"
JSON = b'[{"ticket": 9, "subject": "Call back"}]'
Part = tuple[str, tuple[str, bytes, str]]


@dataclass
class Live:
    base: str
    c: Container
    box: Mailbox


@pytest.fixture
def live(tmp_path: Path, demo_dir: Path) -> Iterator[Live]:
    dm = manual_datamap(demo_dir, remind_every_days=2, deadline_days=10)
    made: list[Container] = []
    with smtp_server() as (box, port):
        odr = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none", "mail_from": "dpo@shop.example"}

        def app_for(base: str) -> object:
            s = settings_for(
                tmp_path,
                demo_dir,
                datamap=dm,
                public_url=base,
                odr=odr,
                company_name="Demo Shop",
                manual={"poll_seconds": 1, "max_upload_bytes": 2048},
            )
            made.append(Container(s))
            return create_app(made[0])

        with loopback_server(app_for) as base:
            yield Live(base, made[0], box)
        made[0].close()


def _link(box: Mailbox) -> str:
    msg = box.wait_for(VENDOR, "privacy request")
    text = text_of(msg)
    assert JANE not in text  # the e-mail names nobody: whom to search for is behind the link
    found = re.search(r"(http://127\.0\.0\.1:\d+/steps/\S+)", text)
    assert found, text
    return found.group(1)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def _wait(c: Container, tid: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = c.tasks.get("t1", tid, RETRIEVAL).status
        if status != "IN_PROGRESS":
            return status
        time.sleep(0.1)
    raise AssertionError("the task did not finish")


def test_a_vendor_answers_through_the_link(live: Live) -> None:
    c = live.c
    tid = c.tasks.start_retrieval("t1", JANE, None)
    link = _link(live.box)
    with httpx.Client(follow_redirects=False, timeout=10) as web:
        page = web.get(link)
        assert page.status_code == 200
        assert JANE in page.text and "Search Contacts by e-mail." in page.text
        assert page.headers["content-security-policy"]  # the web foundation's headers
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"  # the link's token never leaves in a Referer
        token = _csrf(page.text)
        files = [("files", ("contacts.csv", CSV, "text/csv")), ("files", ("tickets.json", JSON, "application/json"))]
        r = web.post(link, data={"csrf_token": token, "outcome": "answered"}, files=files)
        assert r.status_code == 303, r.text
        closed = web.get(link)
        assert 'id="step-closed"' in closed.text
        again = web.post(link, data={"csrf_token": _csrf(page.text), "outcome": "no_data"})
        assert again.status_code == 303  # answered already: the answer stands
    assert _wait(c, tid) == COMPLETED
    [step] = c.manual_steps.list(task_id=tid)
    assert (step.status, step.answered_by) == ("answered", "link")
    with archive_of(c, tid) as z:
        assert z.read("data/crm/contacts.csv") == CSV
        assert z.read("data/crm/tickets.json") == JSON
        crm = sources_doc(z)["crm"]
        assert sources_doc(z)["shop"]["status"] == "found"
    assert crm["manual"] == "answered" and crm["records"] == 3


def test_forged_and_expired_links_are_refused(live: Live) -> None:
    c = live.c
    tid = c.tasks.start_retrieval("t1", JANE, None)
    link = _link(live.box)
    step_id, expires, sig = link.rsplit("/", 1)[1].split(".")
    base = link.rsplit("/", 1)[0]
    forged = [
        f"{base}/{step_id}.{expires}.{sig[:-2]}xx",  # altered signature
        f"{base}/{step_id}.{int(expires) + 86400}.{sig}",  # a later expiry under the old signature
        f"{base}/{'0' * 32}.{expires}.{sig}",  # another step
        c.manual_steps.link(step_id, now=c.clock.now() - timedelta(days=8)),  # expired a day ago
    ]
    with httpx.Client(timeout=10) as web:
        for url in forged:
            r = web.get(url)
            assert r.status_code == 404, url
            assert JANE not in r.text
            assert web.post(url, data={"outcome": "no_data"}).status_code == 404
    assert c.manual_steps.list(task_id=tid)[0].status == "pending"


@pytest.mark.parametrize(
    ("files", "outcome"),
    [
        ([("files", ("contacts.csv", b"a,b\n1,2,3\n", "text/csv"))], "answered"),  # a ragged row
        ([("files", ("contacts.json", b"{not json", "application/json"))], "answered"),
        ([("files", ("contacts.xlsx", b"PK\x03\x04", "application/octet-stream"))], "answered"),
        ([("files", ("big.csv", b"a\n" + b"x\n" * 2000, "text/csv"))], "answered"),  # over the 2 KiB limit
        ([("files", ("ok.csv", b"a\n1\n", "text/csv")), ("files", ("bad.csv", b"", "text/csv"))], "answered"),
        ([], "answered"),  # no file
        ([], "erased"),  # not an answer of a retrieval
    ],
)
def test_a_bad_upload_changes_nothing(live: Live, files: list[Part], outcome: str) -> None:
    c = live.c
    tid = c.tasks.start_retrieval("t1", JANE, None)
    link = _link(live.box)
    with httpx.Client(timeout=10) as web:
        token = _csrf(web.get(link).text)
        r = web.post(link, data={"csrf_token": token, "outcome": outcome}, files=files or None)
        assert r.status_code in (400, 413)
        assert 'role="alert"' in r.text
    [step] = c.manual_steps.list(task_id=tid)
    assert (step.status, step.files) == ("pending", [])
    assert not c.storage.exists(f"manual-steps/{step.id}/ok.csv")


def test_a_post_without_the_csrf_token_is_refused(live: Live) -> None:
    c = live.c
    tid = c.tasks.start_retrieval("t1", JANE, None)
    link = _link(live.box)
    with httpx.Client(timeout=10) as web:
        web.get(link)
        r = web.post(link, data={"outcome": "no_data"})
        assert r.status_code == 403
    assert c.manual_steps.list(task_id=tid)[0].status == "pending"


def test_a_csrf_token_of_another_step_is_refused(live: Live) -> None:
    c = live.c
    first = c.tasks.start_retrieval("t1", JANE, None)
    link_a = _link(live.box)
    seen = live.box.count()
    second = c.tasks.start_retrieval("t1", "john.roe@example.com", None)
    link_b = _link_after(live.box, seen)
    assert link_a != link_b
    with httpx.Client(timeout=10) as web:
        token_a = _csrf(web.get(link_a).text)
        web.get(link_b)
        r = web.post(link_b, data={"csrf_token": token_a, "outcome": "no_data"})
        assert r.status_code == 403
    assert c.manual_steps.list(task_id=second)[0].status == "pending"
    assert c.manual_steps.list(task_id=first)[0].status == "pending"


def _link_after(box: Mailbox, after: int) -> str:
    msg = box.wait_for(VENDOR, "privacy request", after=after)
    found = re.search(r"(http://127\.0\.0\.1:\d+/steps/\S+)", text_of(msg))
    assert found
    return found.group(1)
