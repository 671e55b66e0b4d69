"""Tables of the Data Portability face: apps, data queries (beside their `privacy_tasks` row), grants,
the five-minute response memory and the throttling counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dsar.db.base import Base, UtcDateTime

CHANNEL = "adp"
COMPLETED = "COMPLETED"
CANCELED = "CANCELED"


class App(Base):
    """A third-party app: its id is the `client_id` of its users' tokens; notifications go to `notify_url`."""

    __tablename__ = "portability_apps"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    notify_url: Mapped[str] = mapped_column(String(2000))
    rate_limit: Mapped[int | None] = mapped_column(Integer, default=None)  # requests per window; None: the setting
    daily_quota: Mapped[int | None] = mapped_column(Integer, default=None)  # queries per scope and day; None: setting
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DataQuery(Base):
    """The parameters and result of one data query; its life is the `privacy_tasks` row with the same id."""

    __tablename__ = "portability_queries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(36), index=True)
    subject_ref: Mapped[str] = mapped_column(String(32))
    scope_id: Mapped[str] = mapped_column(String(100))
    # "<app>:<subject_ref>:<scope>" while the query runs, NULL after: one query in progress per caller and scope.
    active_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    since: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    records: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class GrantUse(Base):
    """A one-time authorization that already started its transfer."""

    __tablename__ = "portability_grant_uses"

    grant_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    query_id: Mapped[str] = mapped_column(String(36))
    used_at: Mapped[datetime] = mapped_column(UtcDateTime())


class StoredResponse(Base):
    """A response given to a caller, answered again for the same parameters until `expires_at`."""

    __tablename__ = "portability_responses"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class RateCounter(Base):
    __tablename__ = "portability_rate_counters"

    app_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class DailyCount(Base):
    """createDataQuery requests of an app for one scope on one UTC day (the daily quota)."""

    __tablename__ = "portability_daily_counts"

    app_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    scope_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    count: Mapped[int] = mapped_column(Integer, default=0)


class Revocation(Base):
    """The customer (or, with no subject, the company for every customer) revoked the app's authorization:
    tokens issued until `revoked_at` are refused and queries created until then are canceled."""

    __tablename__ = "portability_revocations"
    __table_args__ = (Index("ix_portability_revocations_app_id_subject_ref", "app_id", "subject_ref"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(36))
    subject_ref: Mapped[str | None] = mapped_column(String(32), default=None)
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime())
