"""All SQL on uploads, retrieval batches and their rejected rows. Lookups are scoped to a tenant.

The tasks a batch started are the task repository's (`dsar.tasks.repository`): rows in, counts and pages out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from dsar.uploads.models import PENDING, READING, RECEIVING, UPLOADED, BatchRejection, RetrievalBatch, Upload

# -- uploads -----------------------------------------------------------------------------------------


def get_upload(s: Session, tenant: str, file_id: str, now: datetime) -> Upload | None:
    """The tenant's file, unless it expired (an expired file answers like an unknown one)."""
    return s.scalar(select(Upload).where(Upload.id == file_id, Upload.tenant == tenant, Upload.expires_at > now))


def get_upload_for_put(s: Session, file_id: str) -> Upload | None:
    """Any tenant's upload: the signed link is the capability, and it names no tenant."""
    return s.get(Upload, file_id)


def claim_upload(s: Session, file_id: str, now: datetime) -> bool:
    """pending -> receiving, for one PUT at a time; False if another PUT holds it or it is stored already."""
    res = s.execute(
        update(Upload)
        .where(Upload.id == file_id, Upload.status == PENDING, Upload.expires_at > now)
        .values(status=RECEIVING)
    )
    return bool(res.rowcount == 1)  # type: ignore[attr-defined]


def release_upload(s: Session, file_id: str) -> None:
    """receiving -> pending: the PUT failed and stored nothing, so the link may be used again until it expires."""
    s.execute(update(Upload).where(Upload.id == file_id, Upload.status == RECEIVING).values(status=PENDING))


def complete_upload(s: Session, file_id: str, now: datetime, sha256: str | None, md5: str | None) -> bool:
    res = s.execute(
        update(Upload)
        .where(Upload.id == file_id, Upload.status.in_((PENDING, RECEIVING)))
        .values(status=UPLOADED, uploaded_at=now, sha256=sha256, md5=md5)
    )
    return bool(res.rowcount == 1)  # type: ignore[attr-defined]


def expired_uploads(s: Session, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(id, file type) of uploads past their expiry, oldest first."""
    rows = s.execute(
        select(Upload.id, Upload.file_type).where(Upload.expires_at <= now).order_by(Upload.expires_at).limit(limit)
    )
    return [(r[0], r[1]) for r in rows]


def delete_uploads(s: Session, ids: Sequence[str], now: datetime) -> int:
    res = s.execute(delete(Upload).where(Upload.id.in_(ids), Upload.expires_at <= now))
    return int(res.rowcount)  # type: ignore[attr-defined]


# -- batches -----------------------------------------------------------------------------------------


def get_batch(s: Session, tenant: str, batch_id: str) -> RetrievalBatch | None:
    return s.scalar(select(RetrievalBatch).where(RetrievalBatch.id == batch_id, RetrievalBatch.tenant == tenant))


def batch_due(s: Session, now: datetime) -> bool:
    """Whether some batch waits for a reader (a read, so idle runners take no write lock)."""
    free = or_(RetrievalBatch.lease_expires.is_(None), RetrievalBatch.lease_expires < now)
    due = and_(RetrievalBatch.status == READING, RetrievalBatch.due_at <= now, free)
    return s.scalar(select(RetrievalBatch.id).where(due).limit(1)) is not None


def claim_batch(s: Session, owner: str, now: datetime, lease: timedelta) -> str | None:
    """Take the lease of one batch still being read whose lease is free or expired; its id, or None."""
    free = or_(RetrievalBatch.lease_expires.is_(None), RetrievalBatch.lease_expires < now)
    due = and_(RetrievalBatch.status == READING, RetrievalBatch.due_at <= now, free)
    chosen = s.scalar(select(RetrievalBatch.id).where(due).order_by(RetrievalBatch.due_at).limit(1))
    if chosen is None:
        return None
    res = s.execute(
        update(RetrievalBatch)
        .where(RetrievalBatch.id == chosen, due)
        .values(lease_owner=owner, lease_expires=now + lease, attempts=RetrievalBatch.attempts + 1)
    )
    return chosen if res.rowcount == 1 else None  # type: ignore[attr-defined]


def renew_batch_leases(s: Session, owner: str, until: datetime) -> int:
    res = s.execute(
        update(RetrievalBatch)
        .where(RetrievalBatch.lease_owner == owner, RetrievalBatch.status == READING)
        .values(lease_expires=until)
    )
    return int(res.rowcount)  # type: ignore[attr-defined]


def advance_batch(
    s: Session, batch_id: str, owner: str, now: datetime, lease_until: datetime, rows: int, started: int, rejected: int
) -> bool:
    """Count a chunk of rows read (in the transaction that created its tasks); False if we lost the lease."""
    res = s.execute(
        update(RetrievalBatch)
        .where(RetrievalBatch.id == batch_id, RetrievalBatch.lease_owner == owner, RetrievalBatch.status == READING)
        .values(
            rows_read=RetrievalBatch.rows_read + rows,
            tasks_started=RetrievalBatch.tasks_started + started,
            rows_rejected=RetrievalBatch.rows_rejected + rejected,
            updated_at=now,
            lease_expires=lease_until,
        )
    )
    return bool(res.rowcount == 1)  # type: ignore[attr-defined]


def end_batch(
    s: Session, batch_id: str, owner: str | None, now: datetime, status: str, errors: list[dict[str, str]]
) -> bool:
    """READING -> READ or FAILED, once; with `owner`, only for the lease holder."""
    cond = [RetrievalBatch.id == batch_id, RetrievalBatch.status == READING]
    if owner is not None:
        cond.append(RetrievalBatch.lease_owner == owner)
    res = s.execute(
        update(RetrievalBatch)
        .where(*cond)
        .values(status=status, errors=errors, updated_at=now, read_at=now, lease_owner=None, lease_expires=None)
    )
    return bool(res.rowcount == 1)  # type: ignore[attr-defined]


def release_batch(s: Session, batch_id: str, owner: str, retry_at: datetime) -> None:
    s.execute(
        update(RetrievalBatch)
        .where(RetrievalBatch.id == batch_id, RetrievalBatch.lease_owner == owner)
        .values(lease_owner=None, lease_expires=None, due_at=retry_at)
    )


def add_rejections(s: Session, batch_id: str, rows: Sequence[tuple[int, str]]) -> None:
    if rows:
        s.execute(insert(BatchRejection), [{"batch_id": batch_id, "line": line, "code": code} for line, code in rows])


def rejections(s: Session, batch_id: str, after_line: int, limit: int) -> list[tuple[int, str]]:
    rows = s.execute(
        select(BatchRejection.line, BatchRejection.code)
        .where(BatchRejection.batch_id == batch_id, BatchRejection.line > after_line)
        .order_by(BatchRejection.line)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in rows]


__all__ = [
    "add_rejections",
    "advance_batch",
    "batch_due",
    "claim_batch",
    "claim_upload",
    "complete_upload",
    "delete_uploads",
    "end_batch",
    "expired_uploads",
    "get_batch",
    "get_upload",
    "get_upload_for_put",
    "rejections",
    "release_batch",
    "release_upload",
    "renew_batch_leases",
]
