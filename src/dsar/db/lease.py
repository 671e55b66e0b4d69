"""One lease mechanism for every table whose rows are work: claim, renew, release, finish-if-owner.

A row is free when its lease is empty or expired; a claim is a conditional UPDATE of one row (or of a few
keys) that only a free, claimable, due row matches, so exactly one of many concurrent claimers wins on
SQLite, PostgreSQL and MariaDB alike. A holder renews its lease by heartbeat, gives the row back with a
retry time, or finishes it: every write of a holder matches on the owner, so a holder whose lease expired
and was taken over changes nothing (its finish returns False).

A `Lease` is built once per table by the repository that owns it (the helper knows tables and column
names, never a feature's model) and builds each statement once, with bound parameters, on first use:
the task queue's claim and finish run thousands of times a second and must not build SQL per call.
Statements that depend on the names of the columns a caller writes are cached per set of names.

Conditions a caller passes (`claimable`, `held`, extra candidate filters) may use `NOW`, the bound
parameter `now` that every claim receives.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Select, Table, Update, and_, bindparam, or_, select, update

from dsar.db.base import UtcDateTime

NOW = bindparam("now", type_=UtcDateTime())
CLAIM_TRIES = 5

_KEY, _KEYS, _OWNER, _OWNERS, _UNTIL, _RETRY = "l_key", "l_keys", "l_owner", "l_owners", "l_until", "l_retry"


class Lease:
    """The lease columns of one table and the statements over them.

    `claimable`: what else a row must be to be claimed (a status); `due`: the column of the time it is due
    at (claims take only due rows; a release sets it to the retry time); `attempts`: counted up by every
    claim (a release with `refund` takes the attempt back); `held`: what a leased row must still be for a
    renewal or a finish to touch it (a status that is not final); `on_claim`: columns a claim sets too (SQL
    expressions, which may use `NOW`)."""

    def __init__(
        self,
        table: Table,
        *,
        key: str = "id",
        owner: str = "lease_owner",
        expires: str = "lease_expires",
        attempts: str | None = None,
        due: str | None = None,
        claimable: ColumnElement[bool] | None = None,
        held: ColumnElement[bool] | None = None,
        on_claim: Mapping[str, Any] | None = None,
    ) -> None:
        c = table.c
        self.table = table
        self.key: Column[Any] = c[key]
        self.owner: Column[Any] = c[owner]
        self.expires: Column[Any] = c[expires]
        self.attempts: Column[Any] | None = c[attempts] if attempts else None
        self.due: Column[Any] | None = c[due] if due else None
        self.held = held
        conditions = [claimable] if claimable is not None else []
        if self.due is not None:
            conditions.append(self.due <= NOW)
        conditions.append(or_(self.expires.is_(None), self.expires < NOW))
        self.available: ColumnElement[bool] = and_(*conditions)
        """Free, claimable and due (at the bound `now`): the condition of every claim."""
        self._on_claim = dict(on_claim or {})
        self._lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], Update] = {}

    # -- statements, built once -------------------------------------------------------------------------

    def candidates(self, *where: ColumnElement[bool], skip_locked: bool = False) -> Select[Any]:
        """SELECT key of the rows a claim would take now (callers add order and limit and keep the result):
        with `skip_locked`, rows other transactions locked are skipped (PostgreSQL, MariaDB), so concurrent
        claimers pick different rows."""
        q = select(self.key).where(self.available, *where)
        return q.with_for_update(skip_locked=True) if skip_locked else q

    def _statement(self, name: tuple[Any, ...], build: Any) -> Update:
        stmt = self._cache.get(name)
        if stmt is None:
            with self._lock:
                stmt = self._cache.get(name)
                if stmt is None:
                    stmt = self._cache[name] = build()
        return stmt

    def _mine(self) -> list[ColumnElement[bool]]:
        mine = [self.key == bindparam(_KEY), self.owner == bindparam(_OWNER)]
        return mine if self.held is None else [*mine, self.held]

    def _take(self) -> dict[Any, Any]:
        values: dict[Any, Any] = {self.owner: bindparam(_OWNER), self.expires: bindparam(_UNTIL, type_=UtcDateTime())}
        if self.attempts is not None:
            values[self.attempts] = self.attempts + 1
        values.update({self.table.c[name]: value for name, value in self._on_claim.items()})
        return values

    def _claim_one(self) -> Update:
        return update(self.table).where(self.key == bindparam(_KEY), self.available).values(self._take())

    def _claim_many(self) -> Update:
        return (
            update(self.table)
            .where(self.key.in_(bindparam(_KEYS, expanding=True)), self.available)
            .values(self._take())
        )

    # -- the operations --------------------------------------------------------------------------------

    def claim(self, conn: Connection, key: Any, owner: str, now: datetime, lease: timedelta) -> bool:
        """Take the lease of row `key` if it is free, claimable and due; whether we got it."""
        stmt = self._statement(("claim",), self._claim_one)
        res = conn.execute(stmt, {"now": now, _KEY: key, _OWNER: owner, _UNTIL: now + lease})
        return bool(res.rowcount == 1)

    def claim_first(
        self,
        conn: Connection,
        candidates: Sequence[Select[Any]],
        owner: str,
        now: datetime,
        lease: timedelta,
        params: Mapping[str, Any] | None = None,
        *,
        tries: int = CLAIM_TRIES,
    ) -> Any | None:
        """Take the lease of the first row the first candidate query that finds one names; its key, or None.

        A candidate lost to another claimer (possible where writers do not serialize, or without SKIP LOCKED)
        makes it look again, up to `tries` times, rather than give up while rows are due."""
        at = {"now": now, **(params or {})}
        for _ in range(tries):
            chosen = None
            for q in candidates:
                chosen = conn.scalar(q, at)
                if chosen is not None:
                    break
            if chosen is None:
                return None
            if self.claim(conn, chosen, owner, now, lease):
                return chosen
        return None

    def claim_keys(
        self, conn: Connection, keys: Sequence[Any], owner: str, now: datetime, lease: timedelta
    ) -> list[Any]:
        """Take the leases of those of `keys` that are free, claimable and due; the keys we now hold."""
        if not keys:
            return []
        until = now + lease
        stmt = self._statement(("claim_many",), self._claim_many)
        conn.execute(stmt, {"now": now, _KEYS: list(keys), _OWNER: owner, _UNTIL: until})
        held = select(self.key).where(
            self.key.in_(bindparam(_KEYS, expanding=True)),
            self.owner == bindparam(_OWNER),
            self.expires == bindparam(_UNTIL, type_=UtcDateTime()),
        )
        return list(conn.scalars(held, {_KEYS: list(keys), _OWNER: owner, _UNTIL: until}))

    def renew(self, conn: Connection, owners: Iterable[str], until: datetime) -> int:
        """Extend the leases held by any of `owners` (exactly these ids) to `until`; how many."""
        names = list(owners)
        if not names:
            return 0

        def build() -> Update:
            mine: list[ColumnElement[bool]] = [self.owner.in_(bindparam(_OWNERS, expanding=True))]
            if self.held is not None:
                mine.append(self.held)
            return update(self.table).where(*mine).values({self.expires: bindparam(_UNTIL, type_=UtcDateTime())})

        res = conn.execute(self._statement(("renew",), build), {_OWNERS: names, _UNTIL: until})
        return int(res.rowcount)

    def renew_prefix(self, conn: Connection, owner: str, until: datetime) -> int:
        """Extend the leases of `owner` and of its threads (`owner/...`)."""
        mine: list[ColumnElement[bool]] = [
            or_(self.owner == owner, self.owner.startswith(owner + "/", autoescape=True))
        ]
        if self.held is not None:
            mine.append(self.held)
        res = conn.execute(update(self.table).where(*mine).values({self.expires: until}))
        return int(res.rowcount)

    def release(
        self, conn: Connection, key: Any, owner: str, retry_at: datetime | None = None, *, refund: bool = False
    ) -> bool:
        """Give the lease back; the row is due again at `retry_at` (tables with a due column), and `refund`
        does not count this attempt. False if we no longer held it."""
        if refund and self.attempts is None:
            raise ValueError("refund needs an attempts column")
        if (retry_at is None) != (self.due is None):
            raise ValueError("a release gives a retry time exactly when the table has a due column")

        def build() -> Update:
            values: dict[Any, Any] = {self.owner: None, self.expires: None}
            if self.due is not None:
                values[self.due] = bindparam(_RETRY, type_=self.due.type)
            if refund and self.attempts is not None:
                values[self.attempts] = self.attempts - 1
            where = [self.key == bindparam(_KEY), self.owner == bindparam(_OWNER)]
            return update(self.table).where(*where).values(values)

        params = {_KEY: key, _OWNER: owner} if retry_at is None else {_KEY: key, _OWNER: owner, _RETRY: retry_at}
        res = conn.execute(self._statement(("release", refund), build), params)
        return bool(res.rowcount == 1)

    def finish(
        self,
        conn: Connection,
        key: Any,
        owner: str,
        values: Mapping[str, Any],
        *,
        add: Mapping[str, int] | None = None,
        release: bool = True,
    ) -> bool:
        """Write `values` (and add `add` to counters) to row `key` if `owner` still holds it (and it is still
        `held`), freeing the lease unless `release=False`; False if the lease was lost. Values are bound
        parameters: one statement per set of column names, built once."""
        adds = add or {}
        name = ("finish", tuple(sorted(values)), tuple(sorted(adds)), release)

        def build() -> Update:
            c = self.table.c
            sets: dict[Any, Any] = {c[n]: bindparam(n, type_=c[n].type) for n in values}
            sets.update({c[n]: c[n] + bindparam(f"add_{n}") for n in adds})
            if release:
                sets.update({self.owner: None, self.expires: None})
            return update(self.table).where(*self._mine()).values(sets)

        params = {_KEY: key, _OWNER: owner, **values, **{f"add_{n}": v for n, v in adds.items()}}
        res = conn.execute(self._statement(name, build), params)
        return bool(res.rowcount == 1)


__all__ = ["CLAIM_TRIES", "NOW", "Lease"]
