"""All SQL on uploads, retrieval batches and their rejected rows. Lookups are scoped to a tenant.

The tasks a batch started are the task repository's (`dsar.tasks.repository`): rows in, counts and pages out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from dsar.db.lease import Lease
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


_BATCH_LEASE = Lease(
    RetrievalBatch.__table__,  # type: ignore[arg-type]
    attempts="attempts",
    due="due_at",
    claimable=RetrievalBatch.status == READING,
    held=RetrievalBatch.status == READING,
)
_BATCH_CANDIDATES = (_BATCH_LEASE.candidates().order_by(RetrievalBatch.due_at).limit(1),)


def batch_due(s: Session, now: datetime) -> bool:
    """Whether some batch waits for a reader (a read, so idle runners take no write lock)."""
    return s.connection().scalar(_BATCH_CANDIDATES[0], {"now": now}) is not None


def claim_batch(s: Session, owner: str, now: datetime, lease: timedelta) -> str | None:
    """Take the lease of one batch still being read whose lease is free or expired; its id, or None."""
    chosen = _BATCH_LEASE.claim_first(s.connection(), _BATCH_CANDIDATES, owner, now, lease, tries=1)
    return None if chosen is None else str(chosen)


def renew_batch_leases(s: Session, owner: str, until: datetime) -> int:
    return _BATCH_LEASE.renew(s.connection(), [owner], until)


def advance_batch(
    s: Session, batch_id: str, owner: str, now: datetime, lease_until: datetime, rows: int, started: int, rejected: int
) -> bool:
    """Count a chunk of rows read (in the transaction that created its tasks); False if we lost the lease."""
    return _BATCH_LEASE.finish(
        s.connection(),
        batch_id,
        owner,
        {"updated_at": now, "lease_expires": lease_until},
        add={"rows_read": rows, "tasks_started": started, "rows_rejected": rejected},
        release=False,
    )


def end_batch(
    s: Session, batch_id: str, owner: str | None, now: datetime, status: str, errors: list[dict[str, str]]
) -> bool:
    """READING -> READ or FAILED, once; with `owner`, only for the lease holder."""
    values = {"status": status, "errors": errors, "updated_at": now, "read_at": now}
    if owner is not None:
        return _BATCH_LEASE.finish(s.connection(), batch_id, owner, values)
    res = s.execute(
        update(RetrievalBatch)
        .where(RetrievalBatch.id == batch_id, RetrievalBatch.status == READING)
        .values(**values, lease_owner=None, lease_expires=None)
    )
    return bool(res.rowcount == 1)  # type: ignore[attr-defined]


def release_batch(s: Session, batch_id: str, owner: str, retry_at: datetime) -> None:
    _BATCH_LEASE.release(s.connection(), batch_id, owner, retry_at)


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
