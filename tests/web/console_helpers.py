"""Shared set-up of the console tests: a container on a frozen clock, operators of each role, seeded cases."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher

from dsar.bootstrap import Container
from dsar.kit.clock import FrozenClock
from dsar.kit.ids import new_id
from dsar.tasks import repository as tasks_repo

PASSWORD = "console password 1"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def make_operator(c: Container, email: str, role: str, password: str = PASSWORD) -> str:
    c.operators.hasher = FAST
    view, link = c.operators.create(email, role, actor="test")
    c.operators.set_password(link.split("token=", 1)[1], password)
    return view.id


def seed(c: Container, clock: FrozenClock) -> dict[str, str]:
    """Cases received 60 days ago (overdue now), and fresh ones; returns their ids by name."""
    ids = {}
    ids["overdue_access"] = c.requests.open(
        tenant="default", type="access", channel="console", email="olga@example.com", actor="test", jurisdiction="US-CA"
    )
    ids["overdue_deletion"] = c.requests.open(
        tenant="default", type="deletion", channel="odr", email="dave@example.com", actor="test", jurisdiction="US-CA"
    )
    clock.advance(timedelta(days=60))
    ids["fresh_access"] = c.requests.open(
        tenant="default", type="access", channel="bwp", email="fred@example.com", actor="test", jurisdiction="EU"
    )
    ids["fresh_portability"] = c.requests.open(
        tenant="default", type="portability", channel="adp", email="pia@example.com", actor="test", jurisdiction="FR"
    )
    return ids


def start_work(c: Container, request_id: str, email: str) -> str:
    """What the intake does once a case is approved (the privacy center's job): start its engine task, linked."""
    task_id = new_id()
    now = c.clock.now()
    with c.db.session() as s:
        tasks_repo.add_task(
            s,
            task_id=task_id,
            tenant="default",
            kind="retrieval",
            channel="bwp",
            subject_type="SHOPPER",
            subject_email=email,
            subject_ref=c.requests.subject_ref(email),
            status="IN_PROGRESS",
            now=now,
            due_at=now,
        )
        s.flush()
        c.requests.link_task_in(s, "default", request_id, task_id, actor="intake")
    c.tasks.notify(task_id)
    return task_id


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: Any, email: str, password: str = PASSWORD, code: str = "") -> Any:
    page = client.get("/console/sign-in")
    data = {"csrf_token": csrf_of(page.text), "email": email, "password": password, "code": code}
    return client.post("/console/sign-in", data=data, follow_redirects=False)
