"""Wires settings to concrete adapters: the one place that knows which storage, runner and database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from dsar.auth.endusers import EndUserTokens
from dsar.auth.service import AuthService
from dsar.config import Settings
from dsar.datamap.loader import load as load_datamap
from dsar.datamap.model import DataMap
from dsar.db.engine import Database, make_engine
from dsar.engine.execute import EngineOptions, Sources
from dsar.engine.plan import Plan, build_plan
from dsar.errors import DataMapError
from dsar.jobs.base import JobRunner, NoRunner
from dsar.jobs.inprocess import InProcessRunner
from dsar.kit.clock import Clock, SystemClock
from dsar.kit.signing import derive_key
from dsar.storage.base import Storage, storage_from_url
from dsar.tasks.jobs import TaskWorker
from dsar.tasks.service import PrivacyTasks


@dataclass
class Container:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    with_workers: bool = True

    @cached_property
    def master_key(self) -> bytes:
        return self.settings.master_key()

    def key(self, purpose: str) -> bytes:
        return derive_key(self.master_key, purpose)

    @cached_property
    def db(self) -> Database:
        return Database(make_engine(self.settings.state_url()))

    @cached_property
    def storage(self) -> Storage:
        return storage_from_url(
            self.settings.objects_url(),
            public_url=self.settings.public_url.rstrip("/"),
            signing_key=self.key("storage-links"),
            clock=self.clock,
        )

    @cached_property
    def datamap(self) -> DataMap:
        if self.settings.datamap is None:
            raise DataMapError(
                "No data map: set DSAR_DATAMAP to the path of your data map YAML (`dsar demo` writes an example)."
            )
        return load_datamap(self.settings.datamap)

    @cached_property
    def plan(self) -> Plan:
        return build_plan(self.datamap)

    @cached_property
    def sources(self) -> Sources:
        return Sources(self.datamap)

    @cached_property
    def auth(self) -> AuthService:
        return AuthService(self.db, self.key("access-tokens"), self.clock, self.settings.token_ttl_seconds)

    @cached_property
    def endusers(self) -> EndUserTokens:
        return EndUserTokens(self.key("enduser-tokens"), self.clock)

    @cached_property
    def runner(self) -> JobRunner:
        if not self.with_workers or self.settings.jobs != "inprocess" or not self.settings.run_workers:
            return NoRunner()
        w = self.worker
        job = self.settings.job
        return InProcessRunner(
            w.claim,
            w.run,
            w.heartbeat,
            workers=job.workers,
            poll_seconds=job.poll_seconds,
            heartbeat_seconds=max(job.lease_seconds / 3, 0.2),
        )

    @cached_property
    def worker(self) -> TaskWorker:
        s = self.settings
        return TaskWorker(
            db=self.db,
            clock=self.clock,
            storage=self.storage,
            datamap=self.datamap,
            plan=self.plan,
            sources=self.sources,
            work_dir=s.data_dir.resolve() / "work",
            engine=EngineOptions(
                chunk_size=s.engine.chunk_size,
                parallelism=s.engine.parallelism,
                retries=s.engine.source_retries,
                backoff_seconds=s.engine.retry_backoff_seconds,
            ),
            lease=timedelta(seconds=s.job.lease_seconds),
            max_attempts=s.job.max_attempts,
            html_rows=s.engine.html_rows,
            company=s.company_name,
            contact=s.privacy_contact,
            erase_key=self.key("erasure-pseudonyms"),
        )

    @cached_property
    def tasks(self) -> PrivacyTasks:
        return PrivacyTasks(self.db, self.clock, self.key("subject-pseudonyms"), self._notify)

    def _notify(self, task_id: str) -> None:
        self.runner.notify(task_id)

    def close(self) -> None:
        if "runner" in self.__dict__:
            self.runner.stop()
        if "sources" in self.__dict__:
            self.sources.dispose()
        if "db" in self.__dict__:
            self.db.dispose()
