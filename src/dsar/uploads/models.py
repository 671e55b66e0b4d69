"""Uploaded files (a temporary store) and the batches of retrieval tasks started from them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dsar.db.base import Base, UtcDateTime

# Upload.status: a link was handed out; a PUT is streaming the body; the file is stored (the link is spent).
PENDING = "pending"
RECEIVING = "receiving"
UPLOADED = "uploaded"

# RetrievalBatch.status: rows are being read and tasks started; every row was read; the file could not be read.
READING = "READING"
READ = "READ"
BATCH_FAILED = "FAILED"


class Upload(Base):
    """A file of a tenant, stored under `uploads/{id}.{ext}` until `expires_at` (30 days after creation)."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_expires_at", "expires_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    file_type: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)  # declared by createUploadLink; the PUT must send exactly this
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    uploaded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    md5: Mapped[str | None] = mapped_column(String(32), default=None)  # the ETag, as S3 gives it


class RetrievalBatch(Base):
    """Retrieval tasks started from the rows of an uploaded CSV; read by a durable job in chunks."""

    __tablename__ = "retrieval_batches"
    __table_args__ = (Index("ix_retrieval_batches_due", "status", "lease_expires"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    file_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)  # data rows consumed, committed with their tasks
    tasks_started: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_expires: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())


class BatchRejection(Base):
    """A row of the file that started no task: its line number and a reason code (never its content)."""

    __tablename__ = "retrieval_batch_rejections"

    batch_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
