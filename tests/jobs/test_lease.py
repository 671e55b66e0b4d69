"""The lease helper over a table of its own, on SQLite, PostgreSQL and MariaDB: one winner per claim, renewals,
releases (with a refunded attempt), finish-if-owner; and the state database's outages as `Unavailable`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select

from dsar.db.base import UtcDateTime
from dsar.db.engine import Database, make_engine
from dsar.db.lease import Lease
from dsar.db.outage import StateUnavailable, as_unavailable, outages
from dsar.errors import Unavailable, is_outage
from dsar.kit.clock import FrozenClock

META = MetaData()
WORK = Table(
    "lease_probe",
    META,
    Column("id", String(36), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("done", Integer, nullable=False, default=0),
    Column("lease_owner", String(64)),
    Column("lease_expires", UtcDateTime()),
    Column("note", String(32)),
)
LEASE = Lease(WORK, attempts="attempts", due="due_at", claimable=WORK.c.state == "open", held=WORK.c.state == "open")
MINUTE = timedelta(minutes=1)


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url" if request.param == "postgres" else "mysql_url")
    database = Database(make_engine(url))
    META.create_all(database.engine)
    yield database
    database.dispose()


def _rows(db: Database, now: datetime, *ids: str) -> None:
    with db.session() as s:
        s.connection().execute(WORK.insert(), [{"id": i, "state": "open", "due_at": now, "attempts": 0} for i in ids])


def _row(db: Database, key: str) -> dict[str, object]:
    with db.session(write=False) as s:
        return dict(s.connection().execute(select(WORK).where(WORK.c.id == key)).mappings().one())


def test_one_claimer_wins_and_the_lease_is_exclusive_until_it_expires(db: Database) -> None:
    clock = FrozenClock()
    _rows(db, clock.now(), "a")
    wins: list[str] = []
    start = threading.Barrier(4)

    def claim(owner: str) -> None:
        start.wait()
        with db.session() as s:
            if LEASE.claim(s.connection(), "a", owner, clock.now(), MINUTE):
                wins.append(owner)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    with db.session() as s:
        assert not LEASE.claim(s.connection(), "a", "late", clock.now(), MINUTE)
    clock.advance(MINUTE + timedelta(seconds=1))  # the winner died: its lease expired
    with db.session() as s:
        assert LEASE.claim(s.connection(), "a", "late", clock.now(), MINUTE)
    row = _row(db, "a")
    assert (row["lease_owner"], row["attempts"]) == ("late", 2)


def test_renew_release_refund_and_finish_if_owner(db: Database) -> None:
    clock = FrozenClock()
    _rows(db, clock.now(), "a")
    candidates = [LEASE.candidates().order_by(WORK.c.id).limit(1)]
    with db.session() as s:
        conn = s.connection()
        assert LEASE.claim_first(conn, candidates, "me", clock.now(), MINUTE) == "a"
    clock.advance(timedelta(seconds=50))
    with db.session() as s:
        assert LEASE.renew(s.connection(), ["me"], clock.now() + MINUTE) == 1
    clock.advance(timedelta(seconds=20))  # past the first lease, within the renewed one
    with db.session() as s:
        assert not LEASE.claim(s.connection(), "a", "thief", clock.now(), MINUTE)
        assert LEASE.release(s.connection(), "a", "me", clock.now() + MINUTE, refund=True)
    row = _row(db, "a")
    assert (row["lease_owner"], row["attempts"]) == (None, 0)  # the attempt was given back
    with db.session() as s:
        assert LEASE.claim_first(s.connection(), candidates, "me", clock.now(), MINUTE) is None  # not due yet
    clock.advance(MINUTE)
    with db.session() as s:
        assert LEASE.claim_first(s.connection(), candidates, "me", clock.now(), MINUTE) == "a"
        assert not LEASE.finish(s.connection(), "a", "stale", {"state": "closed"})
        assert LEASE.finish(s.connection(), "a", "me", {"note": "half"}, add={"done": 3}, release=False)
        assert LEASE.finish(s.connection(), "a", "me", {"state": "closed", "note": "all"}, add={"done": 2})
        assert not LEASE.finish(s.connection(), "a", "me", {"state": "closed"})  # held no longer
    row = _row(db, "a")
    assert (row["state"], row["note"], row["done"], row["lease_owner"]) == ("closed", "all", 5, None)


def test_claim_keys_takes_only_the_free_ones(db: Database) -> None:
    clock = FrozenClock()
    _rows(db, clock.now(), "a", "b", "c")
    with db.session() as s:
        assert LEASE.claim(s.connection(), "b", "first", clock.now(), MINUTE)
    with db.session() as s:
        assert sorted(LEASE.claim_keys(s.connection(), ["a", "b", "c"], "second", clock.now(), MINUTE)) == ["a", "c"]


def test_a_lost_state_database_is_unavailable() -> None:
    db = Database(make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2"))
    try:
        with pytest.raises(StateUnavailable) as info, outages(), db.session() as s:
            s.connection().execute(select(1))
        assert isinstance(info.value, Unavailable) and is_outage(info.value)
        assert info.value.service == "state database"
    finally:
        db.dispose()


def test_a_bug_in_sql_is_not_an_outage(db: Database) -> None:
    with pytest.raises(Exception) as info, db.session() as s:
        s.connection().exec_driver_sql("SELECT no_such_column FROM lease_probe")
    assert as_unavailable(info.value) is None
    with pytest.raises(Exception) as info, outages(), db.session() as s:
        s.connection().exec_driver_sql("SELECT * FROM no_such_table")
    assert not isinstance(info.value, Unavailable)
