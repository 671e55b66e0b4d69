"""The retrieval job: claim a due task, walk the sources, stream the archive to storage, finish once."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from dsar import __version__, log
from dsar.datamap.model import DataMap
from dsar.db.engine import Database
from dsar.engine.archive import build_archive, mask_email
from dsar.engine.erase import apply as apply_erasure
from dsar.engine.erase import locate
from dsar.engine.execute import EngineOptions, Sources, normalize_email, run_retrieval
from dsar.engine.plan import Plan
from dsar.engine.results import ArchiveMeta
from dsar.errors import SourceError
from dsar.kit.clock import Clock
from dsar.storage.base import Storage
from dsar.tasks import repository as repo
from dsar.tasks.models import COMPLETED, FAILED, RETRIEVAL, PrivacyTask

_log = log.get("dsar.jobs")


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

    def claim(self, owner: str) -> str | None:
        with self.db.session() as s:
            return repo.claim_next(s, owner, self.clock.now(), self.lease)

    def heartbeat(self, owner: str) -> None:
        with self.db.session() as s:
            repo.renew_leases(s, owner, self.clock.now() + self.lease)

    def run(self, task_id: str, owner: str) -> None:
        with self.db.session(write=False) as s:
            task = s.get(PrivacyTask, task_id)
            if task is None or task.lease_owner != owner:
                return
            kind, email, attempts = task.kind, task.subject_email, task.attempts
        log_ = _log.bind(task_id=task_id, attempt=attempts)
        if attempts > self.max_attempts:
            self._finish(
                task_id,
                owner,
                FAILED,
                "INTERNAL_ERROR",
                f"The task for request {task_id} could not be completed.",
            )
            return
        try:
            if kind == RETRIEVAL:
                self._retrieve(task_id, owner, email)
            else:
                self._delete(task_id, owner, email)
        except SourceError as exc:
            log_.warning("task_failed", reason="source", source=exc.source)
            self._finish(task_id, owner, FAILED, "SOURCE_UNAVAILABLE", exc.message)
        except Exception as exc:
            log_.error("task_error", error=type(exc).__name__)
            with self.db.session() as s:
                repo.release(s, task_id, owner, self.clock.now() + self.retry_delay)

    def _retrieve(self, task_id: str, owner: str, email: str) -> None:
        spool = self._spool(task_id, owner)
        try:
            started = self.clock.now()
            results, reports = run_retrieval(
                self.datamap, self.plan, self.sources, {"email": normalize_email(email)}, spool, self.engine
            )
            total = sum(r.records for r in results)
            if total == 0:
                self._finish(
                    task_id,
                    owner,
                    FAILED,
                    "DATA_SUBJECT_NOT_FOUND",
                    f"The shopper email for request {task_id} does not exist",
                )
                return
            meta = ArchiveMeta(
                task_id=task_id,
                subject_masked=mask_email(email),
                generated_at=self.clock.now(),
                data_as_of=started,
                generator=f"dsar {__version__}",
                company=self.company,
                contact=self.contact,
            )
            key = result_key(task_id)
            self.storage.discard_partial(key)  # an earlier attempt killed mid-write
            stored = self.storage.put_stream(
                key,
                build_archive(results, reports, meta, html_rows=self.html_rows),
                content_type="application/zip",
            )
            summary = {"records": total, "collections": {r.key: r.records for r in results if r.records}}
            if self._finish(
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
        finally:
            shutil.rmtree(spool, ignore_errors=True)

    def _delete(self, task_id: str, owner: str, email: str) -> None:
        spool = self._spool(task_id, owner)
        try:
            ep = locate(self.datamap, self.plan, self.sources, email, spool, self.engine, self.erase_key)
        finally:
            shutil.rmtree(spool, ignore_errors=True)
        if ep.blocks:
            b = ep.blocks[0]
            self._finish(task_id, owner, FAILED, b.code, b.message)
            return
        with self.db.session(write=False) as s:
            task = s.get(PrivacyTask, task_id)
            earlier = dict((task.summary or {}).get("erased", {})) if task else {}
        if ep.found == 0 and not earlier:
            self._finish(
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
        rows = sum(int(str(v.get("rows", 0))) for v in earlier.values() if v.get("action") != "keep")
        if self._finish(task_id, owner, COMPLETED, None, None, summary={"erased": earlier}):
            _log.info("task_completed", task_id=task_id, kind="deletion", rows_changed=rows)

    def _spool(self, task_id: str, owner: str) -> Path:
        spool = self.work_dir / f"{task_id}.{owner.rsplit(':', 1)[-1]}"
        shutil.rmtree(spool, ignore_errors=True)
        spool.mkdir(parents=True)
        return spool

    def _finish(
        self, task_id: str, owner: str, status: str, code: str | None, message: str | None, **values: object
    ) -> bool:
        errors = [{"code": code, "message": message or ""}] if code else []
        with self.db.session() as s:
            done = repo.finish(s, task_id, owner, self.clock.now(), status, errors=errors, **values)
        if not done:
            _log.warning("lease_lost", task_id=task_id)
        return done
