"""Retrieval tasks started from the rows of an uploaded CSV, read by a durable job.

`start` checks the file (uploaded, UTF-8 CSV with an `email` column) and records the batch: it answers at
once, whatever the file's size. A background loop of the runner then claims the batch (a lease, like a
task) and reads the file as a stream, `chunk_rows` rows per transaction: the transaction inserts the
chunk's tasks and rejected rows and advances `rows_read`, so a reader that dies resumes after the last
committed chunk, and the batch query shows progress. Duplicates are found with the tasks' subject-ref
index, not with a set in memory.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from dsar import log
from dsar.db.engine import Database
from dsar.errors import Conflict, NotFound, is_outage
from dsar.kit.clock import Clock, iso_z
from dsar.kit.ids import is_uuid, new_id
from dsar.tasks import repository as task_repo
from dsar.tasks.records import OnOpen, OpenedTask, TaskView
from dsar.tasks.states import FAILED, IN_PROGRESS, ON_HOLD, RETRIEVAL
from dsar.tasks.validation import EMAIL_MAX, EMAIL_PATTERN
from dsar.uploads import repository as repo
from dsar.uploads.csvreader import CsvRows, Row
from dsar.uploads.errors import FileNotUploaded, FileProblem
from dsar.uploads.models import BATCH_FAILED, READ, READING, RetrievalBatch
from dsar.uploads.service import NOT_FOUND, Uploads

_log = log.get("dsar.uploads.batches")
_EMAIL = re.compile(EMAIL_PATTERN)

OPERATION = "startPersonalDataRetrievalTasks"

# Why a row started no task. Stored as the code; the message is the API's wording of it.
REJECTIONS = {
    "EMAIL_MISSING": "The row has no e-mail address in the email column.",
    "EMAIL_INVALID": f'The e-mail address does not match "{EMAIL_PATTERN}".',
    "EMAIL_TOO_LONG": f"The e-mail address is longer than {EMAIL_MAX} characters.",
    "DUPLICATE_EMAIL": "The e-mail address (compared case-insensitively) is on an earlier line of the file.",
    "MALFORMED_ROW": "The row is not valid CSV (for example a stray quote, or a field that is far too long).",
}

# The batch as the API shows it.
BATCH_IN_PROGRESS = "IN_PROGRESS"
BATCH_COMPLETED = "COMPLETED"


@dataclass(frozen=True)
class BatchView:
    id: str
    file_id: str
    status: str
    submitted_at: str
    updated_at: str
    rows_read: int
    tasks_started: int
    rows_rejected: int
    task_counts: dict[str, int]
    errors: list[dict[str, str]]
    reading: bool


@dataclass(frozen=True)
class Rejection:
    line: int
    code: str
    message: str


class _Raced(Exception):
    """Another request registered the same client token first."""


class _LeaseLost(Exception):
    """Another reader holds the batch now (ours expired): stop without committing."""


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def _rule(email: str) -> str | None:
    if not email:
        return "EMAIL_MISSING"
    if len(email) > EMAIL_MAX:
        return "EMAIL_TOO_LONG"
    if not _EMAIL.fullmatch(email):
        return "EMAIL_INVALID"
    return None


class RetrievalBatches:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        uploads: Uploads,
        subject_ref: Callable[[str], str],
        notify: Callable[[str], None],
        chunk_rows: int = 1000,
        lease: timedelta = timedelta(seconds=30),
        max_attempts: int = 5,
        retry_delay: timedelta = timedelta(seconds=5),
        on_open: OnOpen | None = None,
    ) -> None:
        self.on_open = on_open  # called in the transaction that creates a chunk's tasks
        self.db, self.clock, self.uploads = db, clock, uploads
        self.subject_ref, self.notify = subject_ref, notify
        self.chunk_rows, self.lease, self.max_attempts, self.retry_delay = chunk_rows, lease, max_attempts, retry_delay

    # -- starting and reading ----------------------------------------------------------------------

    def start(self, tenant: str, file_id: str, client_token: str | None) -> str:
        """Record a batch for the tenant's uploaded CSV (or return the one this client token started)."""
        fingerprint = hashlib.sha256(f"retrieval-batch\n{file_id}".encode()).hexdigest()
        if client_token:
            with self.db.session(write=False) as s:
                earlier = self._earlier(s, tenant, client_token, fingerprint)
            if earlier is not None:
                return earlier
        view = self.uploads.uploaded(tenant, file_id)
        with self.uploads.storage.open(view.key) as raw:
            CsvRows(raw)  # the header, now: a file without an email column is refused right away
        try:
            batch_id = self._insert(tenant, file_id, client_token, fingerprint)
        except _Raced:
            with self.db.session(write=False) as s:
                earlier = self._earlier(s, tenant, client_token or "", fingerprint)
            if earlier is None:
                raise
            return earlier
        _log.info("batch_started", batch_id=batch_id, file_id=file_id)
        self.notify(batch_id)
        return batch_id

    def _earlier(self, s: Session, tenant: str, token: str, fingerprint: str) -> str | None:
        hit = task_repo.find_by_token(s, tenant, OPERATION, token, self.clock.now())
        if hit is None:
            return None
        if hit.fingerprint != fingerprint:
            raise Conflict(
                "The clientToken was already used with different input within the last 8 hours.",
                code="IdempotencyMismatch",
            )
        return hit.task_id

    def _insert(self, tenant: str, file_id: str, client_token: str | None, fingerprint: str) -> str:
        now = self.clock.now()
        batch_id = new_id()
        with self.db.session() as s:
            s.add(
                RetrievalBatch(
                    id=batch_id,
                    tenant=tenant,
                    file_id=file_id,
                    status=READING,
                    rows_read=0,
                    tasks_started=0,
                    rows_rejected=0,
                    errors=[],
                    submitted_at=now,
                    updated_at=now,
                    due_at=now,
                    attempts=0,
                )
            )
            s.flush()
            if client_token and not task_repo.remember_token(
                s, tenant, OPERATION, client_token, batch_id, fingerprint, now
            ):
                raise _Raced()
        return batch_id

    def heartbeat(self, owner: str) -> None:
        with self.db.session() as s:
            repo.renew_batch_leases(s, owner, self.clock.now() + self.lease)

    def run_next(self, owner: str, stopping: Callable[[], bool] = lambda: False) -> bool:
        """Claim one batch still being read and read on from where it stopped; False if there was none."""
        with self.db.session(write=False) as s:
            if not repo.batch_due(s, self.clock.now()):
                return False
        with self.db.session() as s:
            batch_id = repo.claim_batch(s, owner, self.clock.now(), self.lease)
        if batch_id is None:
            return False
        try:
            self._read(batch_id, owner, stopping)
        except _LeaseLost:
            _log.warning("batch_lease_lost", batch_id=batch_id)
        except Exception as exc:  # an outage (storage, state database) is retried like a bug, logged as a warning
            (_log.warning if is_outage(exc) else _log.error)("batch_error", batch_id=batch_id, error=type(exc).__name__)
            with self.db.session() as s:
                repo.release_batch(s, batch_id, owner, self.clock.now() + self.retry_delay)
        return True

    def _read(self, batch_id: str, owner: str, stopping: Callable[[], bool]) -> None:
        with self.db.session(write=False) as s:
            b = s.get(RetrievalBatch, batch_id)
            if b is None or b.lease_owner != owner:
                return
            tenant, file_id, done, attempts = b.tenant, b.file_id, b.rows_read, b.attempts
        if attempts > self.max_attempts:
            self._end(batch_id, owner, "INTERNAL_ERROR", f"The file {file_id} could not be read.")
            return
        try:
            view = self.uploads.uploaded(tenant, file_id)
            raw = self.uploads.storage.open(view.key)
        except (NotFound, FileNotUploaded):
            self._end(batch_id, owner, "FILE_NOT_FOUND", f"The file {file_id} expired before all its rows were read.")
            return
        try:
            rows = iter(CsvRows(raw))
            for _ in itertools.islice(rows, done):  # committed by an earlier attempt
                pass
            for chunk in _chunks(rows, self.chunk_rows):
                if stopping():  # shutting down: let the next runner go on at once
                    with self.db.session() as s:
                        repo.release_batch(s, batch_id, owner, self.clock.now())
                    return
                for task_id in self._commit(batch_id, tenant, owner, chunk):
                    self.notify(task_id)  # after the commit; a distributed runner queues each task by id
        except FileProblem as exc:
            self._end(batch_id, owner, "INVALID_FILE", exc.reason)
            return
        finally:
            raw.close()
        self._end(batch_id, owner, None, None)

    def _commit(self, batch_id: str, tenant: str, owner: str, chunk: list[Row]) -> list[str]:
        """The chunk's tasks, rejected rows and progress, in one transaction; the new tasks' ids."""
        rejected: list[tuple[int, str]] = []
        fresh: dict[str, tuple[int, str]] = {}
        for row in chunk:
            if row.malformed:
                rejected.append((row.line, "MALFORMED_ROW"))
                continue
            email = (row.email or "").strip()
            problem = _rule(email)
            if problem is None:
                ref = self.subject_ref(email)
                if ref in fresh:
                    problem = "DUPLICATE_EMAIL"
                else:
                    fresh[ref] = (row.line, email)
            if problem is not None:
                rejected.append((row.line, problem))
        now = self.clock.now()
        with self.db.session() as s:
            for ref in task_repo.refs_in_batch(s, batch_id, fresh):
                rejected.append((fresh.pop(ref)[0], "DUPLICATE_EMAIL"))
            subjects = [(email, ref) for ref, (_, email) in fresh.items()]
            ids = task_repo.insert_retrieval_tasks(s, tenant, batch_id, subjects, now)
            if self.on_open is not None and ids:
                opened = [
                    OpenedTask(i, tenant, RETRIEVAL, "bwp", e, bulk=True)
                    for i, (e, _) in zip(ids, subjects, strict=True)
                ]
                self.on_open(s, opened)
            repo.add_rejections(s, batch_id, sorted(rejected))
            if not repo.advance_batch(s, batch_id, owner, now, now + self.lease, len(chunk), len(fresh), len(rejected)):
                raise _LeaseLost()
        return ids

    def _end(self, batch_id: str, owner: str, code: str | None, message: str | None) -> None:
        errors = [{"code": code, "message": message or ""}] if code else []
        with self.db.session() as s:
            done = repo.end_batch(s, batch_id, owner, self.clock.now(), BATCH_FAILED if code else READ, errors)
        if done:
            _log.info("batch_read", batch_id=batch_id, failed=code)

    # -- reading the batch -------------------------------------------------------------------------

    def get(self, tenant: str, batch_id: str) -> BatchView:
        if not is_uuid(batch_id):
            raise NotFound(NOT_FOUND)
        with self.db.session(write=False) as s:
            b = repo.get_batch(s, tenant, batch_id)
            if b is None:
                raise NotFound(NOT_FOUND)
            counts = task_repo.count_by_status_of_batch(s, batch_id)
            reading = b.status == READING
            running = counts.get(IN_PROGRESS, 0) + counts.get(ON_HOLD, 0)
            if b.status == BATCH_FAILED:
                status = FAILED
            elif reading or running:
                status = BATCH_IN_PROGRESS
            else:
                status = BATCH_COMPLETED
            return BatchView(
                id=b.id,
                file_id=b.file_id,
                status=status,
                submitted_at=iso_z(b.submitted_at),
                updated_at=iso_z(b.updated_at),
                rows_read=b.rows_read,
                tasks_started=b.tasks_started,
                rows_rejected=b.rows_rejected,
                task_counts=counts,
                errors=list(b.errors or []),
                reading=reading,
            )

    def rejections(self, tenant: str, batch_id: str, after_line: int, limit: int) -> list[Rejection]:
        with self.db.session(write=False) as s:
            if repo.get_batch(s, tenant, batch_id) is None:
                raise NotFound(NOT_FOUND)
            rows = repo.rejections(s, batch_id, after_line, limit)
        return [Rejection(line, code, REJECTIONS.get(code, code)) for line, code in rows]

    def tasks(self, tenant: str, batch_id: str, after_id: str, limit: int) -> list[TaskView]:
        with self.db.session(write=False) as s:
            if repo.get_batch(s, tenant, batch_id) is None:
                raise NotFound(NOT_FOUND)
            return task_repo.tasks_of_batch(s, batch_id, after_id, limit)


__all__ = ["REJECTIONS", "BatchView", "Rejection", "RetrievalBatches"]
