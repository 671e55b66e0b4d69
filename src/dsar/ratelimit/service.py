"""Fixed-window rate limits shared by every replica (a security review: 350 wrong client secrets at ~200/s
and 500 anonymous sign-ins in 2.3 s were all accepted).

A `Rule` allows `limit` hits per `window` seconds for one key (a client address, a client id). Keys are stored
as a keyed hash (an IP address is personal data). Counters live in the state database (`DbCounters`: one
atomic UPDATE, else an INSERT; SQLite and PostgreSQL alike) or in Redis (`RedisCounters`, INCR + EXPIRE) when
`DSAR_RATE_LIMITS__REDIS_URL` is set. A window's first hit also deletes windows that ended (no janitor).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from dsar.db.engine import Database
from dsar.kit.clock import Clock
from dsar.ratelimit.models import RateWindow


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int  # hits per window; 0 turns the rule off
    window: int  # seconds


class Counters(Protocol):
    def add(self, key: str, window_start: int, window: int) -> int:
        """Count one hit in the window; the window's hits so far."""
        ...

    def peek(self, key: str, window_start: int) -> int:
        """The window's hits so far, adding none."""
        ...


class DbCounters:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, key: str, window_start: int, window: int) -> int:
        where = (RateWindow.key == key, RateWindow.window_start == window_start)
        inc = update(RateWindow).where(*where).values(hits=RateWindow.hits + 1)
        with self.db.session() as s:
            if s.execute(inc).rowcount == 0:  # type: ignore[attr-defined]
                try:
                    with s.begin_nested():
                        s.add(RateWindow(key=key, window_start=window_start, hits=1))
                except IntegrityError:  # another replica made the row first
                    s.execute(inc)
                # windows that ended, of every key: rules are at most a day long
                s.execute(delete(RateWindow).where(RateWindow.window_start < window_start - 86400))
                s.execute(delete(RateWindow).where(RateWindow.key == key, RateWindow.window_start < window_start))
            return int(s.scalar(select(RateWindow.hits).where(*where)) or 0)

    def peek(self, key: str, window_start: int) -> int:
        with self.db.session(write=False) as s:
            where = (RateWindow.key == key, RateWindow.window_start == window_start)
            return int(s.scalar(select(RateWindow.hits).where(*where)) or 0)


class RedisCounters:
    def __init__(self, url: str) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - the extra is installed in the dev set-up
            raise RuntimeError('Redis rate limits need the redis package: pip install "dsar[celery]"') from exc
        self.client: Any = redis.Redis.from_url(url)

    def add(self, key: str, window_start: int, window: int) -> int:
        name = f"dsar:rl:{key}:{window_start}"
        pipe = self.client.pipeline()
        pipe.incr(name)
        pipe.expire(name, window + 1)
        hits, _ = pipe.execute()
        return int(hits)

    def peek(self, key: str, window_start: int) -> int:
        return int(self.client.get(f"dsar:rl:{key}:{window_start}") or 0)


class RateLimited(Exception):
    """Over a rule's limit; `retry_after` seconds until its window ends."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after} s")
        self.retry_after = retry_after


class RateLimits:
    def __init__(self, counters: Counters, clock: Clock, key: bytes) -> None:
        self.counters, self.clock, self._key = counters, clock, key

    def _where(self, rule: Rule, who: str) -> tuple[str, int, int]:
        now = self.clock.now().timestamp()
        start = int(now) // rule.window * rule.window
        digest = hmac.new(self._key, who.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:40]
        retry = max(1, int(start + rule.window - now + 0.999))
        return f"{rule.name}:{digest}", start, retry

    def hit(self, rule: Rule, who: str) -> None:
        """Count one hit of `who`; raises RateLimited when it is over the limit (the hit still counts)."""
        if rule.limit <= 0:
            return
        key, start, retry = self._where(rule, who)
        if self.counters.add(key, start, rule.window) > rule.limit:
            raise RateLimited(retry)

    def check(self, rule: Rule, who: str) -> None:
        """Raises RateLimited when `who` already used up the window (counts nothing: see `hit`)."""
        if rule.limit <= 0:
            return
        key, start, retry = self._where(rule, who)
        if self.counters.peek(key, start) >= rule.limit:
            raise RateLimited(retry)


class MemoryCounters:
    """The fake: counters in a dict of this process (tests; never shared by replicas)."""

    def __init__(self) -> None:
        self.hits: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def add(self, key: str, window_start: int, window: int) -> int:
        with self._lock:
            self.hits = {k: v for k, v in self.hits.items() if k[1] >= window_start or k[0] != key}
            self.hits[(key, window_start)] = self.hits.get((key, window_start), 0) + 1
            return self.hits[(key, window_start)]

    def peek(self, key: str, window_start: int) -> int:
        return self.hits.get((key, window_start), 0)
