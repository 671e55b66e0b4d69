"""Clocks: the system clock, and a controllable one for tests. All times are aware UTC datetimes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to (tests of holding periods, expiry, leases)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


def iso_z(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a `Z`, as the Buy with Prime examples show."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_utc(value: datetime) -> datetime:
    """Databases without time zones (SQLite) hand back naive datetimes that we stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


__all__ = ["Clock", "FrozenClock", "SystemClock", "as_utc", "iso_z", "timedelta"]
