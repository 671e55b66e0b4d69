"""The retrieval job: claim a due task, walk the sources, stream the archive to storage, finish once."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from dsar import __version__, log
from dsar.datamap.model import DataMap
from dsar.db.engine import Database
from dsar.db.outage import as_unavailable
from dsar.engine.archive import build_archive, mask_email
from dsar.engine.erase import apply as apply_erasure
from dsar.engine.erase import locate
from dsar.engine.execute import EngineOptions, Selection, Sources, run_retrieval
from dsar.engine.plan import Plan
from dsar.engine.results import ArchiveMeta, CollectionResult, SourceReport
from dsar.errors import SourceError, is_outage
from dsar.kit import memory
from dsar.kit.clock import Clock
from dsar.kit.jws import ManifestSigner
from dsar.storage.base import Storage, StoredObject
from dsar.tasks import repository as repo
from dsar.tasks.contract import ExtraMembers, Handler, ManualGate, ManualOutcome, TaskRef, Waiting
from dsar.tasks.models import COMPLETED, FAILED, RETRIEVAL, PrivacyTask
from dsar.tasks.rectify import run_rectification
from dsar.tasks.states import RECTIFICATION

_log = log.get("dsar.jobs")


@dataclass
class _Job:
    """The `TaskJob` of one run: the worker's parts a handler may use, bound to the claimed task."""

    worker: TaskWorker
    ref: TaskRef

    @property
    def datamap(self) -> DataMap:
        return self.worker.datamap

    @property
    def max_attempts(self) -> int:
        return self.worker.max_attempts

    def now(self) -> datetime:
        return self.worker.clock.now()

    def session(self, *, write: bool = True) -> AbstractContextManager[Session]:
        return self.worker.db.session(write=write)

    def spool(self) -> Path:
        return self.worker.spool(self.ref.id, self.ref.owner)

    def retrieve(
        self, spool: Path, selection: Selection | None = None
    ) -> tuple[list[CollectionResult], list[SourceReport]]:
        w = self.worker
        return run_retrieval(w.datamap, w.plan, w.sources, self.ref.subject(), spool, w.engine, selection)

    def retrieve_archive(self, selection: Selection | None = None, extra: ExtraMembers | None = None) -> bool:
        return self.worker.retrieve_archive(self.ref, selection, extra)

    def archive_meta(self, data_as_of: datetime) -> ArchiveMeta:
        return self.worker.archive_meta(self.ref, data_as_of)

    def store(self, key: str, chunks: Iterable[bytes], content_type: str, *, fresh: bool = False) -> StoredObject:
        if fresh:
            self.worker.storage.discard_partial(key)
        return self.worker.storage.put_stream(key, chunks, content_type=content_type)

    def discard(self, key: str) -> None:
        self.worker.storage.delete(key)

    def finish(self, status: str, code: str | None, message: str | None, **values: object) -> bool:
        return self.worker.finish(self.ref.id, self.ref.owner, status, code, message, **values)

    def finish_in(self, s: Session, status: str, errors: list[dict[str, str]], **values: object) -> bool:
        return self.worker.finish_in(s, self.ref.id, self.ref.owner, status, errors, **values)


# What a run needs of its task, read once per run (a Core statement built once).
_REF = select(
    PrivacyTask.kind,
    PrivacyTask.channel,
    PrivacyTask.subject_email,
    PrivacyTask.attempts,
    PrivacyTask.lease_owner,
    PrivacyTask.subject_identities,
).where(PrivacyTask.id == bindparam("task_id"))


def result_key(task_id: str) -> str:
    return f"privacyRequest/{task_id}/result/data_retrieval.zip"


@dataclass
class TaskWorker:
    """Everything a worker needs to run privacy tasks; built by bootstrap."""

    db: Database
    clock: Clock
    storage: Storage
    datamap: DataMap
    plan: Plan
    sources: Sources
    engine: EngineOptions
    work_dir: Path
    lease: timedelta
    max_attempts: int = 5
    html_rows: int = 500
    retry_delay: timedelta = timedelta(seconds=5)
    company: str = "the company"
    contact: str = ""
    erase_key: bytes = b""  # keyed hashes that replace erased values
    public_url: str = ""  # named in the archive: where its signing keys are published
    signer: Callable[[datetime], ManifestSigner | None] = lambda _now: None  # the key that signs at that time
    # (channel, kind) -> handler, for API faces with their own kind of result (Data Portability, ODR).
    handlers: dict[tuple[str, str], Handler] = field(default_factory=dict)
    # Called in the transaction that ends a task (session, task id, its final status, the code of its first error):
    # events written there exist iff it ended.
    on_end: Callable[[Session, str, str, str | None], None] | None = None
    # The steps of manual sources (dsar.manual): asked before each walk; None when the data map has none.
    manual: ManualGate | None = None
    # The leases this process is running right now: only these are renewed by the heartbeat, so a lease
    # whose run ended without finishing or releasing the task (the state DB was unreachable) expires.
    _running: set[str] = field(default_factory=set, init=False, repr=False)
    _running_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def claim(self, owner: str, task_id: str | None = None) -> str | None:
        """Take the lease of the oldest due task (or of `task_id`, if it is due and free)."""
        with self.db.session() as s:
            return repo.claim_next(s, owner, self.clock.now(), self.lease, task_id)

    def run_if_free(self, task_id: str, owner: str) -> bool:
        """What a queue message says: "task_id is due". Run the most urgent due task, which is task_id unless a
        single request waits (claim order: tasks that no batch started first, then oldest), so that a request
        sent after the ten thousand messages of a batch does not wait for them. One message, at most one run:
        each task still gets a run, since messages never fall behind due tasks (and the sweeper re-queues
        anything overdue). False if nothing was due (task_id finished or is held by another worker)."""
        chosen = self.claim(owner)
        if chosen is None:
            return False
        self.run(chosen, owner)
        return True

    def overdue(self, grace: timedelta, limit: int = 1000) -> list[str]:
        """Due tasks nobody claimed for `grace` (a lost message, a holding period that ended)."""
        with self.db.session(write=False) as s:
            return repo.overdue_ids(s, self.clock.now(), grace, limit)

    def heartbeat(self, owner: str) -> None:
        """Renew the leases of the runs in progress under `owner` (or its threads, `owner/...`)."""
        with self._running_lock:
            mine = sorted(o for o in self._running if o == owner or o.startswith(owner + "/"))
        if mine:
            with self.db.session() as s:
                repo.renew_leases(s, mine, self.clock.now() + self.lease)

    def running(self) -> int:
        """Tasks this process is running right now."""
        with self._running_lock:
            return len(self._running)

    def run(self, task_id: str, owner: str) -> None:
        with self._running_lock:
            self._running.add(owner)
        try:
            self._run(task_id, owner)
        finally:
            with self._running_lock:
                self._running.discard(owner)
            memory.release()  # a retrieval's buffers go back to the system, not to this thread's arena

    def _run(self, task_id: str, owner: str) -> None:
        with self.db.engine.connect() as conn:
            task = conn.execute(_REF, {"task_id": task_id}).one_or_none()
        if task is None or task.lease_owner != owner:
            return
        ref = TaskRef(
            task_id, owner, task.kind, task.channel, task.subject_email, task.attempts, task.subject_identities
        )
        log_ = _log.bind(task_id=task_id, attempt=ref.attempts)
        if ref.attempts > self.max_attempts:
            self.finish(
                task_id,
                owner,
                FAILED,
                "INTERNAL_ERROR",
                f"The task for request {task_id} could not be completed.",
            )
            return
        handler = self.handlers.get((ref.channel, ref.kind))
        try:
            if handler is not None:
                handler(_Job(self, ref))
            elif ref.kind == RETRIEVAL:
                self.retrieve_archive(ref)
            elif ref.kind == RECTIFICATION:
                run_rectification(self, ref)
            else:
                self._delete(task_id, owner, ref.subject(), ref)
        except Waiting as wait:  # a person has not answered yet: run again later, holding no worker meanwhile
            log_.info("task_waiting", reason="manual_step")
            with self.db.session() as s:
                repo.release(s, task_id, owner, wait.until, refund=True)
        except SourceError as exc:
            log_.warning("task_failed", reason="source", source=exc.source)
            self.finish(task_id, owner, FAILED, "SOURCE_UNAVAILABLE", exc.message)
        except Exception as exc:
            # A service that is down (an adapter raised Unavailable) is not the task's fault: the attempt is
            # given back, so an outage of any length makes tasks wait rather than fail after max_attempts.
            unavailable = is_outage(exc) or as_unavailable(exc) is not None
            (log_.warning if unavailable else log_.error)(
                "task_error", error=type(exc).__name__, retry_free=unavailable
            )
            try:
                with self.db.session() as s:
                    repo.release(s, task_id, owner, self.clock.now() + self.retry_delay, refund=unavailable)
            except Exception as again:  # the state DB is down too: the lease expires, the sweeper re-sends
                log_.error("release_failed", error=type(again).__name__)

    def retrieve_archive(
        self, ref: TaskRef, selection: Selection | None = None, extra: ExtraMembers | None = None
    ) -> bool:
        """Walk the sources, stream the archive to `result_key(id)`, finish the task; True if it completed."""
        task_id, owner = ref.id, ref.owner
        manual = self._manual(ref)
        if manual is None:
            return False
        spool = self.spool(task_id, owner)
        try:
            started = self.clock.now()
            results, reports = run_retrieval(
                self.datamap,
                self.plan,
                self.sources,
                ref.subject(),
                spool,
                self.engine,
                selection,
                parallel=self.running() <= 1,
            )
            total = sum(r.records for r in results)
            reports = [*reports, *manual.reports]
            if total == 0 and manual.found == 0:
                self.finish(
                    task_id,
                    owner,
                    FAILED,
                    "DATA_SUBJECT_NOT_FOUND",
                    f"The shopper email for request {task_id} does not exist",
                )
                return False
            meta = self.archive_meta(ref, started)
            key = result_key(task_id)
            if ref.attempts > 1:  # an earlier attempt may have been killed mid-write (a first one has nothing)
                self.storage.discard_partial(key)
            stored = self.storage.put_stream(
                key,
                build_archive(
                    results,
                    reports,
                    meta,
                    html_rows=self.html_rows,
                    extra=[*manual.members, *(extra(results) if extra else ())],
                ),
                content_type="application/zip",
            )
            summary: dict[str, object] = {
                "records": total,
                "collections": {r.key: r.records for r in results if r.records},
            }
            if manual.reports:
                summary["manual"] = {r.name: r.manual for r in manual.reports}
            if self.finish(
                task_id,
                owner,
                COMPLETED,
                None,
                None,
                result_key=key,
                result_size=stored.size,
                result_sha256=stored.sha256,
                summary=summary,
            ):
                _log.info("task_completed", task_id=task_id, records=total, bytes=stored.size)
                return True
            return False
        finally:
            shutil.rmtree(spool, ignore_errors=True)

    def _manual(self, ref: TaskRef) -> ManualOutcome | None:
        """What the manual sources' respondents said; raises `Waiting` while one has not; None if the task ended
        (a step ran out of time under the `block` policy)."""
        if self.manual is None:
            return ManualOutcome()
        outcome = self.manual(ref)
        if outcome.blocked is not None:
            self.finish(ref.id, ref.owner, FAILED, outcome.blocked[0], outcome.blocked[1])
            return None
        if outcome.wait_until is not None:
            raise Waiting(outcome.wait_until)
        return outcome

    def _delete(self, task_id: str, owner: str, subject: Mapping[str, str], ref: TaskRef) -> None:
        spool = self.spool(task_id, owner)
        try:
            ep = locate(self.datamap, self.plan, self.sources, subject, spool, self.engine, self.erase_key)
        finally:
            shutil.rmtree(spool, ignore_errors=True)
        if ep.blocks:
            b = ep.blocks[0]
            self.finish(task_id, owner, FAILED, b.code, b.message)
            return
        manual = self._manual(ref)  # after the blockers: nobody is asked to erase what a blocked deletion keeps
        if manual is None:
            return
        with self.db.session(write=False) as s:
            task = s.get(PrivacyTask, task_id)
            earlier = dict((task.summary or {}).get("erased", {})) if task else {}
        if ep.found == 0 and not earlier and manual.found == 0:
            self.finish(
                task_id,
                owner,
                FAILED,
                "DATA_SUBJECT_NOT_FOUND",
                f"The shopper email for request {task_id} does not exist",
            )
            return

        def progress(_source: str, done: dict[str, dict[str, object]]) -> None:
            earlier.update(done)  # a rerun after a crash keeps what an earlier attempt erased
            with self.db.session() as s:
                repo.set_summary(s, task_id, owner, {"erased": earlier})

        apply_erasure(ep, self.sources, self.engine, progress)
        for report in manual.reports:  # what the people answering for manual sources attested
            earlier[f"{report.name}.manual"] = {"action": "manual", "rows": 0, "fields": [], "reason": report.manual}
        archives = self._discard_archives(task_id)
        with self.db.session() as s:  # what rectifications of this subject kept of their values goes too
            task = s.get(PrivacyTask, task_id)
            if task is not None:
                repo.forget_rectified_values(s, task.subject_ref)
        if archives:
            earlier["dsar.archives"] = {
                "action": "delete",
                "rows": archives,
                "fields": [],
                "reason": "archives of earlier retrievals of this subject",
            }
        rows = sum(int(str(v.get("rows", 0))) for v in earlier.values() if v.get("action") != "keep")
        if self.finish(task_id, owner, COMPLETED, None, None, summary={"erased": earlier}):
            _log.info("task_completed", task_id=task_id, kind="deletion", rows_changed=rows)

    def _discard_archives(self, deletion_id: str) -> int:
        """Delete the stored archives of the subject's earlier retrievals: dsar's own copies are personal data too."""
        with self.db.session(write=False) as s:
            task = s.get(PrivacyTask, deletion_id)
            keys = repo.archives_of(s, task.subject_ref) if task else []
        for task_id, key in keys:
            self.storage.delete(key)
            with self.db.session() as s:
                repo.forget_archive(s, task_id)
        return len(keys)

    def spool(self, task_id: str, owner: str) -> Path:
        """An empty work directory for this attempt (the caller removes it)."""
        spool = self.work_dir / f"{task_id}.{owner.rsplit(':', 1)[-1].replace('/', '-')}"
        shutil.rmtree(spool, ignore_errors=True)
        spool.mkdir(parents=True)
        return spool

    def archive_meta(self, ref: TaskRef, data_as_of: datetime) -> ArchiveMeta:
        generated = self.clock.now()
        return ArchiveMeta(
            task_id=ref.id,
            subject_masked=mask_email(ref.email),
            generated_at=generated,
            data_as_of=data_as_of,
            generator=f"dsar {__version__}",
            company=self.company,
            contact=self.contact,
            public_url=self.public_url,
            signer=self.signer(generated),  # the key that signs at this moment (rotation)
        )

    def finish(
        self, task_id: str, owner: str, status: str, code: str | None, message: str | None, **values: object
    ) -> bool:
        """Move the task to a final state once, if we still hold its lease."""
        errors = [{"code": code, "message": message or ""}] if code else []
        with self.db.session() as s:
            done = self.finish_in(s, task_id, owner, status, errors, **values)
        return done

    def finish_in(
        self, s: Session, task_id: str, owner: str, status: str, errors: list[dict[str, str]], **values: object
    ) -> bool:
        """`finish` in the caller's transaction: the events `on_end` writes exist iff the task ended."""
        done = repo.finish(s, task_id, owner, self.clock.now(), status, errors=errors, **values)
        if done and self.on_end is not None:  # the outcome as just written: no need to read it back
            self.on_end(s, task_id, status, (errors[0].get("code") if errors else None) or None)
        if not done:
            _log.warning("lease_lost", task_id=task_id)
        return done
