"""One contract, every adapter of the rate-limit counters: the state database (SQLite, PostgreSQL), Redis, and
the in-memory fake. Counting is per key and window, atomic under concurrent hits, and old windows go away."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.kit.clock import FrozenClock
from dsar.ratelimit.service import Counters, DbCounters, MemoryCounters, RateLimited, RateLimits, RedisCounters, Rule
from tests.conftest import need


@pytest.fixture(params=["memory", "sqlite", "postgresql", "redis"])
def counters(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    if request.param == "redis":
        need("redis")
        yield RedisCounters("redis://127.0.0.1:6379/0")
        return
    url = f"sqlite:///{tmp_path}/state.sqlite3" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    db = Database(make_engine(url))
    upgrade(db.engine)
    try:
        yield DbCounters(db)
    finally:
        db.dispose()


def test_hits_are_counted_per_key_and_window(counters: Counters) -> None:
    key, other = f"t:{secrets.token_hex(8)}", f"t:{secrets.token_hex(8)}"
    assert counters.peek(key, 600) == 0
    assert [counters.add(key, 600, 60) for _ in range(3)] == [1, 2, 3]
    assert counters.peek(key, 600) == 3
    assert counters.add(other, 600, 60) == 1
    assert counters.add(key, 660, 60) == 1  # the next window starts from one
    assert counters.peek(key, 660) == 1


def test_concurrent_hits_are_all_counted(counters: Counters) -> None:
    key = f"t:{secrets.token_hex(8)}"
    with ThreadPoolExecutor(8) as pool:
        results = sorted(pool.map(lambda _: counters.add(key, 1200, 60), range(40)))
    assert results == list(range(1, 41))


def test_a_rule_refuses_after_its_limit_until_the_window_ends(counters: Counters) -> None:
    clock = FrozenClock()
    limits = RateLimits(counters, clock, b"k" * 32)
    rule = Rule(f"r{secrets.token_hex(4)}", limit=2, window=60)
    limits.hit(rule, "203.0.113.9")
    limits.check(rule, "203.0.113.9")
    limits.hit(rule, "203.0.113.9")
    with pytest.raises(RateLimited) as refused:
        limits.check(rule, "203.0.113.9")
    assert 1 <= refused.value.retry_after <= 60
    with pytest.raises(RateLimited):
        limits.hit(rule, "203.0.113.9")
    limits.hit(rule, "198.51.100.7")  # another address has its own count
    clock.advance(timedelta(seconds=60))
    limits.hit(rule, "203.0.113.9")  # a new window
    limits.hit(Rule(rule.name, 0, 60), "203.0.113.9")  # limit 0: no limit


def test_the_database_keeps_no_ended_windows(tmp_path: Path) -> None:
    db = Database(make_engine(f"sqlite:///{tmp_path}/s.sqlite3"))
    upgrade(db.engine)
    counters = DbCounters(db)
    for start in range(0, 600, 60):
        counters.add("t:a", start, 60)
    counters.add("t:b", 200_000, 60)
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT key, window_start FROM rate_limit_windows ORDER BY key").all()
    db.dispose()
    assert [tuple(r) for r in rows] == [("t:b", 200_000)]
