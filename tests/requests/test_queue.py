"""The console's queue: due-date keyset paging, the filters, the CSV rows and the dashboard's figures
(SQLite and PostgreSQL), checked against counts made here from what was opened."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.errors import InvalidInput
from dsar.kit.clock import FrozenClock
from dsar.requests.queue import QueueFilter, RequestQueue
from dsar.requests.rules import load_rules
from dsar.requests.service import PrivacyRequests

START = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'state.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(make_engine(url))
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def world(db: Database) -> tuple[RequestQueue, PrivacyRequests, FrozenClock, list[str]]:
    clock = FrozenClock(START)
    svc = PrivacyRequests(db=db, clock=clock, rules=load_rules(), subject_key=b"k" * 32)
    rng = random.Random(7)
    ids = []
    for i in range(60):
        clock._now = START + timedelta(days=rng.randrange(0, 70), hours=rng.randrange(0, 24))
        place = rng.choice(["US-CA", "EU", "BR", None])
        rtype = rng.choice(["access", "deletion"])
        ids.append(
            svc.open(tenant="t", type=rtype, channel="bwp", email=f"p{i}@example.com", actor="x", jurisdiction=place)
        )
        if i % 5 == 0:
            svc.deny("t", ids[-1], actor="x", basis="excessive")
    svc.open(tenant="other", type="access", channel="bwp", email="p1@example.com", actor="x")
    clock._now = START + timedelta(days=80)
    return RequestQueue(svc), svc, clock, ids


def _all(queue: RequestQueue, f: QueueFilter, first: int = 7) -> list[str]:
    found, after = [], None
    while True:
        page = queue.page("t", f, first=first, after=after)
        found += [v.id for v in page.items]
        if not page.has_next_page:
            return found
        after = page.end_cursor


def test_pages_in_due_date_order_cover_everything_once(world: tuple) -> None:
    queue, svc, _clock, ids = world
    found = _all(queue, QueueFilter())
    assert sorted(found) == sorted(ids)
    views = {i: svc.get("t", i) for i in ids}
    assert found == sorted(ids, key=lambda i: (views[i].due_on, i))
    newest = _all(queue, QueueFilter(sort="received"))
    assert newest == sorted(ids, key=lambda i: (views[i].received_at, i), reverse=True)


def test_filters_match_counts_made_independently(world: tuple) -> None:
    queue, svc, _clock, ids = world
    views = [svc.get("t", i) for i in ids]
    today = svc.today()
    open_ = [v for v in views if v.status in ("received", "in_progress")]
    assert set(_all(queue, QueueFilter(overdue=True))) == {v.id for v in open_ if v.due_on < today}
    soon = {v.id for v in open_ if v.due_on <= today + timedelta(days=10)}
    assert set(_all(queue, QueueFilter(due_within_days=10))) == soon
    assert set(_all(queue, QueueFilter(jurisdiction="eu", type="deletion"))) == {
        v.id for v in views if v.jurisdiction == "EU" and v.type == "deletion"
    }
    assert _all(queue, QueueFilter(email="P3@Example.com ")) == [ids[3]]  # by its keyed hash, in this tenant only
    assert _all(queue, QueueFilter(request_id=ids[4].upper())) == [ids[4]]
    assert set(_all(queue, QueueFilter(status="denied"))) == {ids[i] for i in range(0, 60, 5)}
    with pytest.raises(InvalidInput):
        queue.page("t", QueueFilter(request_id="nope"))
    with pytest.raises(InvalidInput):
        queue.page("t", QueueFilter(), after="garbage")


def test_export_rows_and_the_dashboard(world: tuple) -> None:
    queue, svc, _clock, ids = world
    rows = list(queue.export("t", QueueFilter(overdue=True)))
    assert rows and all(r["overdue"] == "yes" and r["status"] == "received" for r in rows)
    assert all("***" in r["subject"] for r in rows)  # masked
    board = queue.dashboard("t", weeks=12)
    views = [svc.get("t", i) for i in ids]
    assert sum(sum(v) for v in board.per_week.values()) == len(
        [v for v in views if v.received_at.date() >= board.weeks[0]]
    )
    assert board.by_status == {"received": 48, "denied": 12}
    today = svc.today()
    assert board.overdue == len([v for v in views if v.status == "received" and v.due_on < today])
    sunday = board.weeks[-1] + timedelta(days=6)
    assert board.due_this_week == len([v for v in views if v.status == "received" and today <= v.due_on <= sunday])
    assert board.weeks[-1] == today - timedelta(days=today.weekday()) and isinstance(board.weeks[0], date)


def test_a_reference_finds_requests_by_the_start_of_their_id_within_the_tenant(world: tuple, db: Database) -> None:
    from sqlalchemy import select, text

    from dsar.requests import repository as repo
    from dsar.requests.models import PrivacyRequest
    from dsar.requests.queue import reference_prefix

    queue, svc, clock, ids = world
    rid = ids[3]
    for ref in (rid[:8].upper(), rid[:8], rid[:13], rid[:13].replace("-", "").upper(), f"  {rid[:10]} "):
        assert [v.id for v in queue.page("t", QueueFilter(reference=ref)).items] == [rid], ref
    # Two requests whose ids share their first 8 digits (as a person's reference may): both are listed; the
    # same id's start in another tenant is not.
    twins = []
    with db.session() as s:
        for n, tenant in enumerate(("t", "t", "other")):
            row, _ = svc._new(tenant, "access", "api", None, "twin@example.com", clock.now(), False)
            row["id"] = f"abcdef01-0000-4000-8000-00000000000{n}"
            repo.insert(s, row)
            twins.append(row["id"])
    assert sorted(v.id for v in queue.page("t", QueueFilter(reference="ABCDEF01")).items) == twins[:2]
    assert [v.id for v in queue.page("t", QueueFilter(reference="ABCDEF01000040008000000000000001")).items] == [
        twins[1]
    ]
    assert queue.page("t", QueueFilter(reference="abcdef02")).items == []
    assert reference_prefix("2098C453AB12") == "2098c453-ab12"
    for bad in ("2098c45", "2098c45z", "not-hex!"):
        with pytest.raises(InvalidInput, match="reference"):
            queue.page("t", QueueFilter(reference=bad))
    if db.engine.dialect.name == "sqlite":  # the id's own index, by a range: no scan of the table
        stmt = select(PrivacyRequest).where(*queue._conds("t", QueueFilter(reference="abcdef01")))
        compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
        with db.engine.connect() as conn:
            plan = " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        assert "ix_privacy_requests_tenant_id (tenant=? AND id>? AND id<?)" in plan, plan
