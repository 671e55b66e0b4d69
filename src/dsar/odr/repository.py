"""All SQL of the Open Data Rights face: requests (over `privacy_tasks`), accounts, sign-ins, refresh tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsar.db.sealed import seal_clear
from dsar.odr.models import OdrAccount, OdrRefreshToken, OdrRequest, OdrSignIn
from dsar.tasks import repository as tasks_repo
from dsar.tasks.repository import TASKS_FOR_JOINS as _T
from dsar.tasks.states import COMPLETED, FAILED, IN_PROGRESS, RETRIEVAL

CHANNEL = "odr"


@dataclass(frozen=True)
class RequestRow:
    id: str
    data_types: list[str]
    created_at: datetime
    completed_at: datetime | None  # None while in progress (or failed)
    archive_key: str | None  # where the archive is, once completed


# The columns of its task that a request shows (selected with the request, in one query).
_TASK_STATE = (_T.c.status, _T.c.finished_at, _T.c.result_key)


def _row(req: OdrRequest, status: str, finished_at: datetime | None, result_key: str | None) -> RequestRow:
    if status == COMPLETED and result_key:
        return RequestRow(req.id, list(req.data_types), req.created_at, finished_at, result_key)
    if status == FAILED and req.archive_key:
        return RequestRow(req.id, list(req.data_types), req.created_at, finished_at, req.archive_key)
    return RequestRow(req.id, list(req.data_types), req.created_at, None, None)


def _alive(now: datetime, retention: timedelta) -> object:
    """Not expired: in progress, or finished less than `retention` ago."""
    return or_(_T.c.finished_at.is_(None), _T.c.finished_at > now - retention)


def lock_account(s: Session, subject_ref: str) -> OdrAccount:
    """The person's account row, created if needed and locked for this transaction (serialises their writes)."""
    if s.get(OdrAccount, subject_ref) is None:
        try:
            with s.begin_nested():
                s.add(OdrAccount(subject_ref=subject_ref, mails_sent=0))
        except IntegrityError:
            pass
    account = s.scalar(select(OdrAccount).where(OdrAccount.subject_ref == subject_ref).with_for_update())
    assert account is not None
    return account


def in_progress(s: Session, subject_ref: str) -> int:
    q = (
        select(func.count())
        .select_from(OdrRequest)
        .join(_T, _T.c.id == OdrRequest.id)
        .where(OdrRequest.subject_ref == subject_ref, _T.c.status == IN_PROGRESS)
    )
    return int(s.scalar(q) or 0)


def create_request(
    s: Session, *, task_id: str, email: str, subject_ref: str, client_id: str, data_types: list[str], now: datetime
) -> None:
    tasks_repo.add_task(
        s,
        task_id=task_id,
        tenant=f"odr:{subject_ref}",  # no back-office client's tenant: BwP lookups never see it
        kind=RETRIEVAL,
        channel=CHANNEL,
        subject_type="USER",
        subject_email=email,
        subject_ref=subject_ref,
        status=IN_PROGRESS,
        now=now,
        due_at=now,
    )
    s.flush()  # the task first: PostgreSQL checks nothing here, but the order reads as the life of the request
    s.add(OdrRequest(id=task_id, subject_ref=subject_ref, client_id=client_id, data_types=data_types, created_at=now))


def list_requests(s: Session, subject_ref: str, now: datetime, retention: timedelta) -> list[RequestRow]:
    q = (
        select(OdrRequest, *_TASK_STATE)
        .join(_T, _T.c.id == OdrRequest.id)
        .where(OdrRequest.subject_ref == subject_ref, _alive(now, retention))  # type: ignore[arg-type]
        .order_by(OdrRequest.created_at, OdrRequest.id)
    )
    return [_row(*r) for r in s.execute(q).all()]


def get_request(
    s: Session, subject_ref: str, request_id: str, now: datetime, retention: timedelta
) -> RequestRow | None:
    q = (
        select(OdrRequest, *_TASK_STATE)
        .join(_T, _T.c.id == OdrRequest.id)
        .where(OdrRequest.id == request_id, OdrRequest.subject_ref == subject_ref, _alive(now, retention))  # type: ignore[arg-type]
    )
    found = s.execute(q).first()
    return _row(*found) if found else None


def request_types(s: Session, request_id: str) -> list[str] | None:
    """The data types of a request, or None when it was cancelled."""
    req = s.get(OdrRequest, request_id)
    return None if req is None else list(req.data_types)


def set_archive_key(s: Session, request_id: str, key: str) -> bool:
    res = s.execute(update(OdrRequest).where(OdrRequest.id == request_id).values(archive_key=key))
    return bool(res.rowcount == 1)  # type: ignore[attr-defined]


def delete_requests(s: Session, ids: list[str]) -> list[str]:
    """Delete the requests and their tasks; the storage keys of what they gathered."""
    if not ids:
        return []
    keys = tasks_repo.result_keys(s, ids)
    keys += [k for k in s.scalars(select(OdrRequest.archive_key).where(OdrRequest.id.in_(ids))) if k]
    s.execute(delete(OdrRequest).where(OdrRequest.id.in_(ids)))
    tasks_repo.delete_tasks(s, ids, CHANNEL)
    return keys


def expired_ids(s: Session, now: datetime, retention: timedelta, limit: int = 500) -> list[str]:
    q = (
        select(OdrRequest.id)
        .join(_T, _T.c.id == OdrRequest.id)
        .where(and_(_T.c.finished_at.is_not(None), _T.c.finished_at <= now - retention))
        .limit(limit)
    )
    return list(s.scalars(q))


# --- sign-in -------------------------------------------------------------------------------------------------


def add_sign_in(s: Session, sign_in: OdrSignIn) -> None:
    s.add(sign_in)


def get_sign_in(s: Session, sign_in_id: str, now: datetime, *, lock: bool = False) -> OdrSignIn | None:
    q = select(OdrSignIn).where(OdrSignIn.id == sign_in_id, OdrSignIn.expires_at > now)
    return s.scalar(q.with_for_update() if lock else q)


def sign_in_by_oidc_state(s: Session, state: str, now: datetime) -> OdrSignIn | None:
    q = select(OdrSignIn).where(OdrSignIn.oidc_state == state, OdrSignIn.expires_at > now)
    return s.scalar(q.with_for_update())


def take_mail_budget(s: Session, subject_ref: str, now: datetime, per_hour: int) -> bool:
    """Count one sign-in e-mail to this person; False when this hour's budget is spent."""
    account = lock_account(s, subject_ref)
    if account.mail_window_start is None or account.mail_window_start <= now - timedelta(hours=1):
        account.mail_window_start, account.mails_sent = now, 0
    if account.mails_sent >= per_hour:
        return False
    account.mails_sent += 1
    return True


def use_code(s: Session, code_hash: str, now: datetime) -> tuple[OdrSignIn | None, bool]:
    """Spend an authorization code once: (its sign-in, True), or (the sign-in, False) if it was used or expired."""
    sign_in = s.scalar(select(OdrSignIn).where(OdrSignIn.code_hash == code_hash))
    if sign_in is None:
        return None, False
    res = s.execute(
        update(OdrSignIn)
        .where(OdrSignIn.id == sign_in.id, OdrSignIn.code_used_at.is_(None), OdrSignIn.code_expires_at > now)
        .values(code_used_at=now)
    )
    return sign_in, bool(res.rowcount == 1)  # type: ignore[attr-defined]


def delete_sign_ins_before(s: Session, now: datetime) -> int:
    res = s.execute(delete(OdrSignIn).where(OdrSignIn.expires_at <= now))
    return int(res.rowcount)  # type: ignore[attr-defined]


def add_refresh(s: Session, token: OdrRefreshToken) -> None:
    s.add(token)


def rotate_refresh(s: Session, token_hash: str, now: datetime) -> tuple[OdrRefreshToken | None, bool]:
    """Spend a refresh token: (it, True); a reused one revokes its family and gives (it, False)."""
    token = s.get(OdrRefreshToken, token_hash)
    if token is None:
        return None, False
    res = s.execute(
        update(OdrRefreshToken)
        .where(
            OdrRefreshToken.token_hash == token_hash,
            OdrRefreshToken.used_at.is_(None),
            OdrRefreshToken.revoked.is_(False),
            OdrRefreshToken.expires_at > now,
        )
        .values(used_at=now)
    )
    if res.rowcount == 1:  # type: ignore[attr-defined]
        return token, True
    if token.used_at is not None:  # replay of a rotated token: someone else may hold the chain
        revoke_family(s, token.family)
    return token, False


def revoke_family(s: Session, family: str) -> None:
    s.execute(update(OdrRefreshToken).where(OdrRefreshToken.family == family).values(revoked=True))


def delete_refresh_before(s: Session, now: datetime) -> int:
    res = s.execute(delete(OdrRefreshToken).where(OdrRefreshToken.expires_at <= now))
    return int(res.rowcount)  # type: ignore[attr-defined]


def seal_clear_emails(s: Session, limit: int = 1000) -> int:
    """Seal up to `limit` e-mails of sign-ins and refresh tokens written in clear before encryption was on."""
    done = seal_clear(s, OdrSignIn.email, OdrSignIn.id, limit)
    return done + seal_clear(s, OdrRefreshToken.email, OdrRefreshToken.token_hash, limit - done)
