"""Privacy requests (cases), their timeline and the engine tasks under them. Owned by `dsar.requests`.

A request row is also the record an auditor asks for (CCPA regulations §7101): dates, type, channel,
jurisdiction, due and extended dates, decision and basis, date of response. It holds no personal data: the
subject is a keyed hash (to find a person's requests) and a masked e-mail, so the record outlives the
subject's own deletion and is purged `retention_months` after the request ended.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from dsar.db.base import Base, UtcDateTime

_OPEN = text("status IN ('received', 'in_progress')")


class PrivacyRequest(Base):
    __tablename__ = "privacy_requests"
    __table_args__ = (
        # The queue, newest first, per tenant; and the filters a privacy team uses every day.
        Index("ix_privacy_requests_tenant_received", "tenant", "received_at", "id"),
        Index("ix_privacy_requests_tenant_status_due", "tenant", "status", "due_on"),
        Index("ix_privacy_requests_subject", "tenant", "subject_ref"),
        Index("ix_privacy_requests_purge", "purge_after"),
        Index("ix_privacy_requests_status_due", "status", "due_on"),  # reminders across tenants
        # Pages of one status or one type stay newest-first walks of an index (bench/cases.py).
        Index("ix_privacy_requests_tenant_status_received", "tenant", "status", "received_at", "id"),
        Index("ix_privacy_requests_tenant_type_received", "tenant", "type", "received_at", "id"),
        # The overdue filter: open requests only, newest first.
        Index(
            "ix_privacy_requests_open_received",
            "tenant",
            "received_at",
            "id",
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
        Index("ix_privacy_requests_tenant_due", "tenant", "due_on", "id"),  # the console's queue, soonest due first
        Index("ix_privacy_requests_tenant_id", "tenant", "id"),  # the console's search by reference (id prefix)
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    jurisdiction: Mapped[str | None] = mapped_column(String(16), default=None)
    rule: Mapped[str] = mapped_column(String(32))
    subject_ref: Mapped[str] = mapped_column(String(32))
    subject_masked: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_on: Mapped[date] = mapped_column(Date)  # the day of receipt in the company's time zone
    due_on: Mapped[date] = mapped_column(Date)
    extendable_until: Mapped[date | None] = mapped_column(Date, default=None)
    extended_on: Mapped[date | None] = mapped_column(Date, default=None)
    extension_reason: Mapped[str | None] = mapped_column(Text, default=None)
    confirm_by: Mapped[date | None] = mapped_column(Date, default=None)
    assignee: Mapped[str | None] = mapped_column(String(128), default=None)
    decision: Mapped[str | None] = mapped_column(String(16), default=None)
    decision_basis: Mapped[str | None] = mapped_column(String(32), default=None)
    decision_law: Mapped[str | None] = mapped_column(String(200), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(128), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    withheld: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, default=None)
    responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    purge_after: Mapped[date | None] = mapped_column(Date, default=None)
    reminded_for: Mapped[date | None] = mapped_column(Date, default=None)  # the due date last reminded of
    response_days: Mapped[int | None] = mapped_column(Integer, default=None)  # received to answered, in days
    late: Mapped[bool | None] = mapped_column(Boolean, default=None)  # answered after the due date
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PrivacyRequestEvent(Base):
    """One line of a request's timeline: who did what, when. `data` holds no personal data."""

    __tablename__ = "privacy_request_events"
    __table_args__ = (Index("ix_privacy_request_events_request", "request_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # increasing: the timeline order
    request_id: Mapped[str] = mapped_column(String(36), ForeignKey("privacy_requests.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class PrivacyRequestTask(Base):
    """An engine task under a request (a retrieval, a deletion); the task row belongs to `dsar.tasks`."""

    __tablename__ = "privacy_request_tasks"

    request_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("privacy_requests.id", ondelete="CASCADE"), primary_key=True
    )
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True, index=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False)  # the task ended COMPLETED


class SubjectPreference(Base):
    """A subject's standing choice: restriction of processing (GDPR Art. 18), objection (Art. 21), opt-out of sale
    or sharing (CCPA §1798.120). Keyed by the subject's keyed hash: the company's systems look it up by e-mail
    (hashed with the same key) and are told of changes by webhook. `scope` narrows it (e.g. the purposes objected
    to); no personal data is stored."""

    __tablename__ = "privacy_preferences"
    __table_args__ = (Index("ix_privacy_preferences_changed", "tenant", "updated_at"),)

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    preference: Mapped[str] = mapped_column(String(32), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    scope: Mapped[str | None] = mapped_column(Text, default=None)
    request_id: Mapped[str | None] = mapped_column(String(36), default=None)  # the case that last changed it
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
