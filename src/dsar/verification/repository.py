"""SQL of the privacy center's tables (owned by `dsar.verification`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from dsar.db.sealed import seal_clear
from dsar.verification.models import Budget, Challenge, Requester


def add_challenge(s: Session, challenge: Challenge) -> None:
    s.add(challenge)


def challenge(s: Session, challenge_id: str, *, lock: bool = False) -> Challenge | None:
    q = select(Challenge).where(Challenge.id == challenge_id)
    return s.scalar(q.with_for_update() if lock else q)


def challenge_by_oidc_state(s: Session, state: str) -> Challenge | None:
    return s.scalar(select(Challenge).where(Challenge.oidc_state == state).with_for_update())


def take_budget(s: Session, subject_ref: str, now: datetime, per_hour: int) -> bool:
    """Count one verification e-mail to this address; False when this hour's budget is spent."""
    row = s.scalar(select(Budget).where(Budget.subject_ref == subject_ref).with_for_update())
    if row is None:
        s.add(Budget(subject_ref=subject_ref, window_start=now, sent=1))
        s.flush()
        return True
    if row.window_start <= now - timedelta(hours=1):
        row.window_start, row.sent = now, 0
    if row.sent >= per_hour:
        return False
    row.sent += 1
    return True


def add_requester(s: Session, requester: Requester) -> None:
    s.add(requester)


# Whether a case came through the privacy center: asked at every end of every case (a Core statement built
# once; most cases, those opened through the API, have no requester, and then nothing more is loaded).
_HAS_REQUESTER = select(Requester.request_id).where(Requester.request_id == bindparam("request_id"))


def requester(s: Session, request_id: str, *, lock: bool = False) -> Requester | None:
    if not lock:
        if s.autoflush:  # as the ORM query below would: a requester added in this transaction counts
            s.flush()
        if s.connection().execute(_HAS_REQUESTER, {"request_id": request_id}).first() is None:
            return None
    q = select(Requester).where(Requester.request_id == request_id)
    return s.scalar(q.with_for_update() if lock else q)


def waiting(s: Session, limit: int = 500) -> list[Requester]:
    """Verified requesters whose answer is not ready yet (the team may have approved their case since)."""
    q = select(Requester).where(Requester.verified_at.is_not(None), Requester.ended_at.is_(None)).limit(limit)
    return list(s.scalars(q))


def to_remind(s: Session, completed_before: datetime, limit: int = 500) -> list[Requester]:
    """Requesters whose archive is ready since before `completed_before` and who were not reminded yet."""
    q = (
        select(Requester)
        .where(Requester.completed_at.is_not(None), Requester.completed_at <= completed_before)
        .where(Requester.reminded_at.is_(None))
        .limit(limit)
    )
    return list(s.scalars(q))


def expired_documents(s: Session, ended_before: datetime) -> list[tuple[str, str]]:
    """(request id, file) of the agents' permissions whose requests `delete_expired` forgets."""
    q = select(Requester.request_id, Requester.agent_document).where(
        Requester.ended_at < ended_before, Requester.agent_document.is_not(None)
    )
    return [(str(rid), str(doc)) for rid, doc in s.execute(q)]


def delete_expired(s: Session, now: datetime, ended_before: datetime) -> int:
    """Expired checks, and the contact of requests that ended before `ended_before` (the download and appeal
    windows have passed)."""
    n = s.execute(delete(Challenge).where(Challenge.expires_at < now - timedelta(days=1))).rowcount  # type: ignore[attr-defined]
    m = s.execute(  # the case keeps its record; the address goes
        delete(Requester).where(Requester.ended_at.is_not(None), Requester.ended_at < ended_before)
    ).rowcount  # type: ignore[attr-defined]
    return int(n or 0) + int(m or 0)


def seal_clear_fields(s: Session, limit: int = 1000) -> int:
    """Seal up to `limit` requesters' e-mails and agents' names written in clear before encryption at rest was on."""
    done = 0
    for column in (Requester.email, Requester.agent_email, Requester.agent_name):
        if done < limit:
            done += seal_clear(s, column, Requester.request_id, limit - done)
    return done
