"""All SQL on operators, their sessions and the audit log. Other packages call `dsar.operators.service`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from dsar.operators.audit import Entry
from dsar.operators.models import AuditEntry, Operator, OperatorSession


def by_email(s: Session, email: str) -> Operator | None:
    return s.scalar(select(Operator).where(Operator.email == email))


def by_id(s: Session, operator_id: str, *, lock: bool = False) -> Operator | None:
    stmt = select(Operator).where(Operator.id == operator_id)
    return s.scalar(stmt.with_for_update() if lock else stmt)


def by_oidc_subject(s: Session, subject: str) -> Operator | None:
    return s.scalar(select(Operator).where(Operator.oidc_subject == subject))


def add(s: Session, operator: Operator) -> None:
    s.add(operator)
    s.flush()


def all_operators(s: Session) -> Sequence[Operator]:
    return s.scalars(select(Operator).order_by(Operator.email)).all()


def count(s: Session) -> int:
    return int(s.scalar(select(func.count()).select_from(Operator)) or 0)


def add_session(s: Session, session_id: str, operator_id: str, now: datetime) -> None:
    s.add(OperatorSession(id=session_id, operator_id=operator_id, created_at=now, last_seen_at=now))


def get_session(s: Session, session_id: str) -> OperatorSession | None:
    return s.get(OperatorSession, session_id)


def touch_session(s: Session, session_id: str, now: datetime) -> None:
    s.execute(update(OperatorSession).where(OperatorSession.id == session_id).values(last_seen_at=now))


def end_session(s: Session, session_id: str) -> None:
    s.execute(delete(OperatorSession).where(OperatorSession.id == session_id))


def end_sessions_of(s: Session, operator_id: str) -> None:
    s.execute(delete(OperatorSession).where(OperatorSession.operator_id == operator_id))


def end_idle_sessions(s: Session, seen_before: datetime) -> int:
    result = s.execute(delete(OperatorSession).where(OperatorSession.last_seen_at < seen_before))
    return int(getattr(result, "rowcount", 0) or 0)


# -- the audit log: append only ---------------------------------------------------------------------------------


def last_entry(s: Session) -> AuditEntry | None:
    return s.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))


def append(s: Session, values: dict[str, Any]) -> None:
    s.add(AuditEntry(**values))
    s.flush()


def _entry(row: AuditEntry) -> Entry:
    return Entry(row.seq, row.at, row.actor, row.action, row.target, row.detail, row.prev_hash, row.hash)


def entries(s: Session, *, batch: int = 1000) -> Iterator[Entry]:
    """Every entry in order, read in batches (the log may be long)."""
    after = 0
    while True:
        stmt = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(batch)
        rows = s.scalars(stmt).all()
        if not rows:
            return
        for row in rows:
            yield _entry(row)
        after = rows[-1].seq


def recent(s: Session, limit: int, before: int | None = None, action: str | None = None) -> list[Entry]:
    stmt = select(AuditEntry)
    if before is not None:
        stmt = stmt.where(AuditEntry.seq < before)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return [_entry(r) for r in s.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit)).all()]
