"""Durable periodic jobs: each runs once per schedule across every replica sharing the state database.

A job is a row of `periodic_jobs` (name, next_run_at, lease). A runner claims a due job with a conditional
UPDATE (one winner, on SQLite and PostgreSQL alike), runs it, then moves `next_run_at` forward and frees the
lease. A runner that dies mid-run stops nobody for long: its lease expires and another runner takes the job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from dsar import log
from dsar.db.base import Base, UtcDateTime
from dsar.db.engine import Database
from dsar.db.lease import Lease
from dsar.kit.clock import Clock

_log = log.get("dsar.jobs.periodic")


class PeriodicJobRow(Base):
    __tablename__ = "periodic_jobs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(100), default=None)  # an exception class, never its text


@dataclass(frozen=True)
class Schedule:
    """Run `run(now)` every `every`; it must be idempotent (a run cut short is simply run again)."""

    name: str
    every: timedelta
    run: Callable[[datetime], object]


def ensure(s: Session, name: str, first_run: datetime) -> None:
    """Create the job's row once (a concurrent creator winning is fine)."""
    if s.get(PeriodicJobRow, name) is not None:
        return
    try:
        with s.begin_nested():
            s.add(PeriodicJobRow(name=name, next_run_at=first_run))
    except IntegrityError:
        pass


_LEASE = Lease(PeriodicJobRow.__table__, key="name", due="next_run_at")  # type: ignore[arg-type]


def claim(s: Session, name: str, owner: str, now: datetime, lease: timedelta) -> bool:
    return _LEASE.claim(s.connection(), name, owner, now, lease)


def reschedule(s: Session, name: str, owner: str, now: datetime, next_run: datetime, error: str | None) -> bool:
    values = {"next_run_at": next_run, "last_run_at": now, "last_error": error}
    return _LEASE.finish(s.connection(), name, owner, values)


def next_runs(s: Session) -> dict[str, datetime]:
    return {row.name: row.next_run_at for row in s.scalars(select(PeriodicJobRow))}


class PeriodicJobs:
    """The schedules of this deployment, and the one call a runner makes: `run_due(owner)`."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        schedules: Sequence[Schedule],
        lease: timedelta = timedelta(minutes=15),
        retry: timedelta = timedelta(minutes=1),
    ) -> None:
        self.db, self.clock, self.schedules = db, clock, list(schedules)
        self.lease, self.retry = lease, retry

    def run_due(self, owner: str, stopping: Callable[[], bool] = lambda: False) -> bool:
        """Run every job that is due and not held by another runner; True if one ran."""
        ran = False
        with self.db.session(write=False) as s:  # a read first: most calls find nothing due and take no write lock
            rows = {row.name: row for row in s.scalars(select(PeriodicJobRow))}
        for job in self.schedules:
            if stopping():
                break
            now = self.clock.now()
            row = rows.get(job.name)
            if row is not None and (
                row.next_run_at > now or (row.lease_expires is not None and row.lease_expires >= now)
            ):
                continue
            with self.db.session() as s:
                if row is None:
                    ensure(s, job.name, now)
                if not claim(s, job.name, owner, now, self.lease):
                    continue
            ran = True
            error: str | None = None
            try:
                job.run(now)
            except Exception as exc:  # the job is retried on the next schedule (or after `retry`)
                error = type(exc).__name__
                _log.error("periodic_job_failed", job=job.name, error=error)
            done = self.clock.now()
            next_run = done + (min(self.retry, job.every) if error else job.every)
            with self.db.session() as s:
                if not reschedule(s, job.name, owner, done, next_run, error):
                    _log.warning("periodic_lease_lost", job=job.name)
        return ran


__all__ = ["PeriodicJobRow", "PeriodicJobs", "Schedule"]
