"""All SQL of the Data Portability face."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsar.kit.ids import new_id
from dsar.portability.models import App, DailyCount, DataQuery, GrantUse, RateCounter, Revocation, StoredResponse


def get_app(s: Session, app_id: str) -> App | None:
    return s.get(App, app_id)


def all_apps(s: Session) -> list[App]:
    return list(s.scalars(select(App).order_by(App.created_at.desc(), App.id)))


def count_request(s: Session, app_id: str, window_start: datetime) -> int:
    """Add one request to the app's current window; the window's count so far."""
    inc = (
        update(RateCounter)
        .where(RateCounter.app_id == app_id, RateCounter.window_start == window_start)
        .values(count=RateCounter.count + 1)
    )
    if s.execute(inc).rowcount == 0:  # type: ignore[attr-defined]
        try:
            with s.begin_nested():
                s.add(RateCounter(app_id=app_id, window_start=window_start, count=1))
        except IntegrityError:
            s.execute(inc)
        s.execute(delete(RateCounter).where(RateCounter.app_id == app_id, RateCounter.window_start < window_start))
    return int(
        s.scalar(
            select(RateCounter.count).where(RateCounter.app_id == app_id, RateCounter.window_start == window_start)
        )
        or 0
    )


def stored_response(s: Session, key: str, now: datetime) -> StoredResponse | None:
    row = s.get(StoredResponse, key)
    return row if row is not None and row.expires_at > now else None


def store_response(s: Session, key: str, status: int, body: dict[str, Any], expires_at: datetime) -> None:
    row = s.get(StoredResponse, key)
    if row is None:
        s.add(StoredResponse(key=key, status=status, body=body, expires_at=expires_at))
    else:
        row.status, row.body, row.expires_at = status, body, expires_at


def purge_responses(s: Session, now: datetime) -> None:
    s.execute(delete(StoredResponse).where(StoredResponse.expires_at <= now))


def active_query(s: Session, active_key: str) -> DataQuery | None:
    return s.scalar(select(DataQuery).where(DataQuery.active_key == active_key))


def grant_used(s: Session, grant_key: str) -> bool:
    return s.get(GrantUse, grant_key) is not None


def query_of(s: Session, query_id: str, app_id: str, subject_ref: str, scope_id: str) -> DataQuery | None:
    """The caller's own query; a foreign or unknown id alike give None."""
    return s.scalar(
        select(DataQuery).where(
            DataQuery.id == query_id,
            DataQuery.app_id == app_id,
            DataQuery.subject_ref == subject_ref,
            DataQuery.scope_id == scope_id,
        )
    )


def count_daily(s: Session, app_id: str, scope_id: str, day: str) -> int:
    """Add one createDataQuery of the app for the scope on `day`; the day's count so far."""
    where = (DailyCount.app_id == app_id, DailyCount.scope_id == scope_id, DailyCount.day == day)
    inc = update(DailyCount).where(*where).values(count=DailyCount.count + 1)
    if s.execute(inc).rowcount == 0:  # type: ignore[attr-defined]
        try:
            with s.begin_nested():
                s.add(DailyCount(app_id=app_id, scope_id=scope_id, day=day, count=1))
        except IntegrityError:
            s.execute(inc)
        s.execute(delete(DailyCount).where(DailyCount.app_id == app_id, DailyCount.day < day))
    return int(s.scalar(select(DailyCount.count).where(*where)) or 0)


def revoke(s: Session, app_id: str, subject_ref: str | None, now: datetime) -> None:
    s.add(Revocation(id=new_id(), app_id=app_id, subject_ref=subject_ref, revoked_at=now))


def revoked_at(s: Session, app_id: str, subject_ref: str) -> datetime | None:
    """The latest revocation of the app for this customer (or for every customer), if any."""
    latest = s.scalar(
        select(func.max(Revocation.revoked_at)).where(
            Revocation.app_id == app_id,
            or_(Revocation.subject_ref == subject_ref, Revocation.subject_ref.is_(None)),
        )
    )
    return latest if isinstance(latest, datetime) else None


def active_query_ids(s: Session, app_id: str, subject_ref: str | None) -> list[str]:
    """Queries of the app (and customer) still in progress."""
    q = select(DataQuery.id).where(DataQuery.app_id == app_id, DataQuery.active_key.is_not(None))
    if subject_ref is not None:
        q = q.where(DataQuery.subject_ref == subject_ref)
    return list(s.scalars(q))
