"""Wires settings to concrete adapters: the one place that knows which storage, runner and database."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from threading import get_ident
from typing import Any

from sqlalchemy.orm import Session

from dsar import log
from dsar.auth.endusers import EndUserTokens, IdentityProvider
from dsar.auth.oidc import OidcClient
from dsar.auth.service import AuthService
from dsar.config import Settings
from dsar.connectors.base import Connector
from dsar.connectors.registry import connect, scheme_of
from dsar.connectors.service import ServiceConnector, service_secret
from dsar.connectors.service_replies import ServiceReplies
from dsar.datamap.loader import load as load_datamap
from dsar.datamap.model import DataMap
from dsar.db.engine import Database, make_engine
from dsar.engine.execute import EngineOptions, Sources
from dsar.engine.plan import Plan, build_plan
from dsar.errors import DataMapError, DsarError, InvalidInput
from dsar.jobs.base import JobRunner, NoRunner
from dsar.jobs.inprocess import InProcessRunner, Loop
from dsar.jobs.periodic import PeriodicJobs, Schedule
from dsar.kit import memory
from dsar.kit.clock import Clock, SystemClock
from dsar.kit.jws import JwsError, SigningKey
from dsar.kit.signing import derive_key
from dsar.manual import service as manual_service
from dsar.manual.service import ManualSteps
from dsar.notifications import email as outbox_email
from dsar.notifications.mail import Mailer, OutboxMailer, SmtpConfig, SmtpMailer
from dsar.notifications.service import Notifications, http_transport
from dsar.notifications.webhooks import Webhooks
from dsar.odr import repository as odr_repo
from dsar.odr.face import OIDC_CALLBACK, Odr
from dsar.odr.jobs import odr_handler
from dsar.odr.oauth import OdrAuth
from dsar.odr.service import OdrConfig, OdrRequests
from dsar.operators.service import Operators
from dsar.portability.jobs import DataQueryJob
from dsar.portability.service import CHANNEL as ADP_CHANNEL
from dsar.portability.service import Portability, check_notify_url
from dsar.ratelimit.service import Counters, DbCounters, RateLimits, RedisCounters, Rule
from dsar.requests.categories import CategoriesRequests
from dsar.requests.events import CaseEvent, PreferenceEvent
from dsar.requests.preferences import SubjectPreferences
from dsar.requests.queue import RequestQueue
from dsar.requests.rectification import RectificationRequests
from dsar.requests.rules import load_rules
from dsar.requests.service import PrivacyRequests
from dsar.signing.keys import KeyStore, SigningKeyError
from dsar.storage.base import Storage
from dsar.storage.encrypted import EncryptedStorage, Rotation, Sweep
from dsar.storage.factory import MASTER_KEY_ID, make_keyring, storage_from_url
from dsar.storage.keyring import Keyring
from dsar.tasks import repository as tasks_repo
from dsar.tasks.jobs import TaskWorker
from dsar.tasks.service import PrivacyTasks
from dsar.tasks.states import RETRIEVAL
from dsar.uploads.batches import RetrievalBatches
from dsar.uploads.links import LocalUploadLinks, PresignedUploadLinks, UploadLinks
from dsar.uploads.service import Uploads
from dsar.verification import repository as verification_repo
from dsar.verification.center import PrivacyCenter
from dsar.verification.datapoints import datamap_lookup
from dsar.verification.messages import Messages


def master_key(secret: str | None, data_dir: Path) -> bytes:
    """DSAR_SECRET_KEY, or a key generated on first use and kept (mode 0600) in the data directory.

    Called when the container first needs a key (to sign a token or a link), never as a side effect of reading
    the settings."""
    if secret:
        return secret.encode("utf-8")
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of the same deployment made it first
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode("utf-8")


def archive_keys(settings: Settings) -> KeyStore:
    """The archive signing keys: a PEM key from the settings, or keys generated into the keys directory."""
    a = settings.archive_signing
    try:
        configured = SigningKey.from_pem(a.private_key, a.not_before, a.not_after) if a.private_key else None
    except JwsError as exc:
        raise SigningKeyError(
            f"the configured signing key is invalid (DSAR_ARCHIVE_SIGNING__PRIVATE_KEY): {exc}"
        ) from None
    return KeyStore(
        (a.keys_dir or settings.data_dir / "signing-keys").resolve(),
        lifetime=timedelta(days=a.key_lifetime_days),
        grace=timedelta(days=a.grace_days),
        generate=a.enabled and configured is None,
        configured=configured,
    )


class _StorageReplies:
    """Company services' late answers kept in the storage port, which the API and the workers share."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def put(self, key: str, data: bytes) -> None:
        self.storage.put_stream(key, [data], "application/json")

    def take(self, key: str) -> bytes | None:
        if not self.storage.exists(key):
            return None
        with self.storage.open(key) as fh:
            data = fh.read()
        self.storage.delete(key)
        return data


@dataclass
class Container:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    with_workers: bool = True

    def __post_init__(self) -> None:
        memory.limit_arenas(2)  # before the workers' threads start: see dsar.kit.memory

    @cached_property
    def master_key(self) -> bytes:
        return master_key(self.settings.secret_key, self.settings.data_dir)

    def key(self, purpose: str) -> bytes:
        return derive_key(self.master_key, purpose)

    @cached_property
    def db(self) -> Database:
        db = Database(make_engine(self.settings.state_url()))
        if self.settings.encryption.enabled:  # subjects' data sealed in the state (docs/encryption.md)
            # Derived on first use: a command that fails to reach the database generates no master key.
            db.seal_fields(lambda: self.key("state-fields"))
        return db

    @cached_property
    def storage(self) -> Storage:
        plain = storage_from_url(
            self.settings.objects_url(),
            public_url=self.settings.public_url.rstrip("/"),
            signing_key=self.key("storage-links"),
            clock=self.clock,
        )
        return self.encrypted(plain)

    def encrypted(self, plain: Storage) -> EncryptedStorage:
        """`plain` behind encryption at rest, with this deployment's keys (docs/encryption.md). With encryption
        off, new objects are stored in clear, and objects written sealed before are still decrypted (with the
        keys still configured) or refused, never served as their header's bytes."""
        e = self.settings.encryption
        return EncryptedStorage(
            plain,
            self.keyring if e.enabled else self.reading_keyring,
            public_url=self.settings.public_url.rstrip("/"),
            signing_key=self.key("storage-links"),
            clock=self.clock,
            plaintext_reads=e.plaintext_reads,
            seal_writes=e.enabled,
        )

    @cached_property
    def reading_keyring(self) -> Keyring:
        """With encryption off: the keys that open what was sealed before (no key id needs to be current)."""
        e = self.settings.encryption
        key_id = e.key_id if e.key_id in e.keys else MASTER_KEY_ID
        return make_keyring(e.keys, key_id, e.kms_key_id, master_kek=self.key("storage-kek"))

    def sweep_orphans(self, now: datetime, grace: timedelta | None = None) -> Sweep:
        """Delete the sealed bodies no header names that are older than the grace period (`dsar storage sweep`,
        the periodic job `sealed-orphans`; docs/encryption.md)."""
        storage = self.storage
        if grace is None:
            grace = timedelta(hours=self.settings.encryption.orphan_grace_hours)
        if not isinstance(storage, EncryptedStorage):
            return Sweep(deleted=0, named=0, young=0, unknown=0)
        return storage.sweep_orphans(now - grace)

    def rotate_keys(self) -> tuple[Rotation, int]:
        """`dsar keys rotate`: every stored object's data key re-wrapped under the current key, and the personal
        fields of the state written in clear before encryption was on sealed (how many)."""
        if not self.settings.encryption.enabled or not isinstance(self.storage, EncryptedStorage):
            raise InvalidInput("Encryption at rest is off (DSAR_ENCRYPTION__ENABLED): there are no keys to rotate.")
        done = self.storage.rotate()
        sealed = 0
        for seal in (
            tasks_repo.seal_clear_emails,
            odr_repo.seal_clear_emails,
            verification_repo.seal_clear_fields,
            outbox_email.seal_clear_fields,
            manual_service.seal_clear_fields,
        ):
            while True:
                with self.db.session() as s:
                    count = seal(s)
                sealed += count
                if not count:
                    break
        return done, sealed

    @cached_property
    def keyring(self) -> Keyring:
        e = self.settings.encryption
        return make_keyring(e.keys, e.key_id, e.kms_key_id, master_kek=self.key("storage-kek"))

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
        return Sources(self.datamap, self._connect)

    def _connect(self, name: str, url: str) -> Connector:
        """The registry's adapter; a company service also gets the mailbox its late answers arrive in."""
        if scheme_of(url) == "service":
            return ServiceConnector(name, url, mailbox=self.service_replies)
        return connect(name, url)

    @cached_property
    def service_replies(self) -> ServiceReplies:
        def secret_of(source: str) -> str | None:
            try:
                src = self.datamap.sources.get(source)
            except DataMapError:
                return None
            return service_secret(src.url) if src is not None else None

        return ServiceReplies(
            store=_StorageReplies(self.storage),
            key=self.key("service-replies"),
            public_url=self.settings.public_url,
            secret_of=secret_of,
            now=self.clock.now,
        )

    @cached_property
    def auth(self) -> AuthService:
        return AuthService(
            db=self.db,
            key=self.key("access-tokens"),
            clock=self.clock,
            token_ttl_seconds=self.settings.token_ttl_seconds,
        )

    @cached_property
    def endusers(self) -> EndUserTokens:
        idp = self.settings.idp
        provider = (
            IdentityProvider(idp.issuer, idp.audience, idp.jwks_url, idp.email_claim)
            if idp.issuer and idp.jwks_url
            else None
        )
        return EndUserTokens(key=self.key("enduser-tokens"), clock=self.clock, idp=provider)

    @cached_property
    def celery(self) -> Any:
        """The Celery app of the distributed mode (DSAR_JOBS=celery)."""
        from dsar.jobs.celery import create_celery

        if not self.settings.broker_url:
            raise DsarError("DSAR_JOBS=celery needs DSAR_BROKER_URL (redis://... or amqp://...)")
        return create_celery(self.settings.broker_url, self.settings.job.queue)

    @cached_property
    def runner(self) -> JobRunner:
        if self.settings.jobs == "celery":  # the API only sends task ids; `dsar worker` processes run them
            from dsar.jobs.celery import CeleryRunner

            return CeleryRunner(self.celery, self.settings.job.queue)
        if not self.with_workers or not self.settings.run_workers:
            return NoRunner()
        return self.local_runner(self.settings.job.workers)

    def run_celery_worker(self) -> None:
        """`dsar worker` with DSAR_JOBS=celery, until told to stop: the Celery consumer, and beside it the lease
        heartbeat, periodic jobs, batch reader, notification delivery and the sweeper (blocking)."""
        from dsar.jobs import celery

        job = self.settings.job
        sender = celery.CeleryRunner(self.celery, job.queue)
        sweep = celery.sweeper(sender.send, self.worker.overdue, timedelta(seconds=job.sweep_seconds))
        background = self.local_runner(0, [Loop("sweeper", sweep)])
        worker = self.worker
        celery.register(self.celery, lambda task_id: worker.run_if_free(task_id, f"{background.owner}/c{get_ident()}"))
        background.start()
        log.get("dsar.worker").info("worker_started", mode="celery", workers=job.workers)
        try:
            celery.consume(self.celery, job.queue, job.workers)
        finally:
            background.stop()

    def local_runner(self, workers: int, extra: Sequence[Loop] = ()) -> InProcessRunner:
        """Worker threads claiming from the state database, the heartbeat, and the background loops."""
        w = self.worker
        job = self.settings.job
        batches = self.batches

        def heartbeat(owner: str) -> None:
            w.heartbeat(owner)
            batches.heartbeat(owner)

        return InProcessRunner(
            w.claim,
            w.run,
            heartbeat,
            workers=workers,
            poll_seconds=job.poll_seconds,
            heartbeat_seconds=max(job.lease_seconds / 3, 0.2),
            loops=[
                Loop("periodic", self.periodic.run_due),
                Loop("batches", batches.run_next, woken_by_notify=True),
                ("notifications", self.notifications.deliver_due),
                *extra,
            ],
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
                seal_spool=s.encryption.enabled,
            ),
            lease=timedelta(seconds=s.job.lease_seconds),
            max_attempts=s.job.max_attempts,
            html_rows=s.engine.html_rows,
            company=s.company_name,
            contact=s.privacy_contact,
            erase_key=self.key("erasure-pseudonyms"),
            public_url=s.public_url.rstrip("/"),
            signer=self.archive_keys.signer if s.archive_signing.enabled else lambda _now: None,
            on_end=self.task_ended,
            manual=self.manual_steps.gate,
            handlers={
                (ADP_CHANNEL, RETRIEVAL): self.data_query_job,
                ("odr", RETRIEVAL): odr_handler(self.odr.requests),
            },
        )

    @cached_property
    def archive_keys(self) -> KeyStore:
        return archive_keys(self.settings)

    @cached_property
    def tasks(self) -> PrivacyTasks:
        return PrivacyTasks(
            db=self.db,
            clock=self.clock,
            subject_key=self.key("subject-pseudonyms"),
            notify=self._notify,
            on_end=self.task_ended,
            on_open=self.requests.tasks_opened_in,
            identity_kinds=lambda: self.datamap.identities,
        )

    @cached_property
    def requests(self) -> PrivacyRequests:
        r = self.settings.requests
        return PrivacyRequests(
            db=self.db,
            clock=self.clock,
            rules=load_rules(r.rules),
            subject_key=self.key("subject-pseudonyms"),  # the tasks' key: a subject's requests and tasks match
            timezone=r.timezone,
            retention_months=r.retention_months,
            remind_days_before=r.remind_days_before,
            default_jurisdiction=r.default_jurisdiction,
            company_tenant=r.company_tenant,
            on_change=lambda *a: self.privacy_center.case_changed(*a),
            on_events=self._case_events,
        )

    def _case_events(self, s: Session, events: Sequence[CaseEvent]) -> None:
        """A privacy request's changes become webhook events in the transaction that made them."""
        self.webhooks.queue(s, [e.outgoing() for e in events])

    def _preference_changed(self, s: Session, e: PreferenceEvent) -> None:
        self.webhooks.queue(s, [e.outgoing()])

    @cached_property
    def preferences(self) -> SubjectPreferences:
        return SubjectPreferences(self.requests, on_change=self._preference_changed)

    @cached_property
    def rectifications(self) -> RectificationRequests:
        return RectificationRequests(self.tasks, lambda: self.datamap, lambda: self.sources)

    @cached_property
    def categories(self) -> CategoriesRequests:
        return CategoriesRequests(self.requests, lambda: self.datamap)

    @cached_property
    def request_queue(self) -> RequestQueue:
        return RequestQueue(self.requests)

    @cached_property
    def operators(self) -> Operators:
        c = self.settings.console
        return Operators(
            db=self.db,
            clock=self.clock,
            key=self.key("operators"),
            public_url=self.settings.public_url,
            idle_minutes=c.idle_minutes,
            max_failures=c.max_failures,
            lockout_minutes=c.lockout_minutes,
            setup_link_hours=c.setup_link_hours,
        )

    def task_ended(self, s: Session, task_id: str, status: str, error_code: str | None) -> None:
        """Where a task ends (the worker's finish, a cancelled deletion), in that transaction: the webhook event
        and the privacy request that holds the task."""
        self.webhooks.on_task_end(s, task_id)
        self.requests.task_ended_in(s, task_id, status, error_code)

    @cached_property
    def upload_links(self) -> UploadLinks:
        if self.storage.capabilities.presigned_put:  # an object store checks the signed size and type itself
            return PresignedUploadLinks(self.storage)
        return LocalUploadLinks(public_url=self.settings.public_url, key=self.key("upload-links"), clock=self.clock)

    @cached_property
    def uploads(self) -> Uploads:
        u = self.settings.uploads
        return Uploads(
            db=self.db,
            clock=self.clock,
            storage=self.storage,
            links=self.upload_links,
            max_bytes=u.max_bytes,
            link_ttl_seconds=u.link_ttl_seconds,
            retention=timedelta(days=u.retention_days),
            download_ttl_seconds=self.settings.link_ttl_seconds,
        )

    @cached_property
    def batches(self) -> RetrievalBatches:
        s = self.settings
        return RetrievalBatches(
            db=self.db,
            clock=self.clock,
            uploads=self.uploads,
            subject_ref=self.tasks.subject_ref,
            notify=self._notify,
            chunk_rows=s.uploads.batch_chunk_rows,
            lease=timedelta(seconds=s.job.lease_seconds),
            max_attempts=s.job.max_attempts,
            on_open=self.requests.tasks_opened_in,
        )

    @cached_property
    def rate_limits(self) -> RateLimits:
        """Counters shared by every replica: Redis when configured, else the state database."""
        url = self.settings.rate_limits.redis_url
        counters: Counters = RedisCounters(url) if url else DbCounters(self.db)
        return RateLimits(counters, self.clock, self.key("rate-limits"))

    def rate_rule(self, name: str) -> Rule:
        """`token_failures` or `sign_ins`, from the settings."""
        r = self.settings.rate_limits
        return Rule(name, int(getattr(r, name)), r.window_seconds)

    @cached_property
    def periodic(self) -> PeriodicJobs:
        every = timedelta(seconds=self.settings.uploads.janitor_interval_seconds)
        odr_every = timedelta(seconds=self.settings.odr.janitor_interval_seconds)
        orphans_every = timedelta(seconds=self.settings.encryption.orphan_sweep_interval_seconds)
        return PeriodicJobs(
            db=self.db,
            clock=self.clock,
            schedules=[
                Schedule("uploads-expiry", every, self.uploads.delete_expired),
                Schedule("odr-expiry", odr_every, self.odr.requests.delete_expired),
                Schedule("requests-purge", timedelta(hours=1), self.requests.purge_expired),  # retention in months
                Schedule("privacy-center", timedelta(minutes=1), lambda _now: self.privacy_center.run_due()),
                Schedule("requests-reminders", timedelta(hours=1), self.requests.remind),  # days before due
                Schedule("manual-reminders", timedelta(minutes=15), self.manual_steps.remind_due),
                Schedule("manual-purge", timedelta(hours=1), self.manual_steps.purge_expired),
                Schedule("console-sessions", timedelta(hours=1), self.operators.end_idle_sessions),
                Schedule("sealed-orphans", orphans_every, self.sweep_orphans),  # bodies no header names
            ],
        )

    @cached_property
    def notifications(self) -> Notifications:
        p = self.settings.portability
        return Notifications(
            db=self.db,
            clock=self.clock,
            public_url=self.settings.public_url,
            signature_version=p.signature_version,
            backoff_seconds=p.notify_backoff_seconds,
            max_backoff_seconds=p.notify_max_backoff_seconds,
            give_up=timedelta(hours=p.notify_give_up_hours),
            lease=timedelta(seconds=max(p.notify_timeout_seconds * 3, self.settings.job.lease_seconds)),
            transport=http_transport(p.notify_timeout_seconds, p.allow_private_notify_urls, p.notify_ca_bundle),
            mailer=self.mailer,
        )

    @cached_property
    def portability(self) -> Portability:
        return Portability(
            db=self.db,
            clock=self.clock,
            endusers=self.endusers,
            subject_ref=self.tasks.subject_ref,
            datamap=lambda: self.datamap,
            storage=self.storage,
            notifications=self.notifications,
            settings=self.settings.portability,
            page_key=self.key("portability-page-tokens"),
            notify=self._notify,
            on_open=self.requests.tasks_opened_in,
        )

    @cached_property
    def webhooks(self) -> Webhooks:
        allow = self.settings.portability.allow_private_notify_urls
        return Webhooks(db=self.db, clock=self.clock, check_url=lambda url: check_notify_url(url, allow))

    @cached_property
    def data_query_job(self) -> DataQueryJob:
        return DataQueryJob(
            notifications=self.notifications,
            scopes=self.portability.scopes,
            rows=self.settings.portability.rows_per_part,
        )

    @cached_property
    def odr(self) -> Odr:
        s = self.settings
        o = s.odr
        public = s.public_url.rstrip("/")
        contact = o.privacy_contact_email or (s.privacy_contact if "@" in s.privacy_contact else "")
        config = OdrConfig(
            settings=o,
            public_url=public,
            organisation=o.organisation_name or s.company_name,
            legal_entity=o.legal_entity or s.company_name,
            contact_email=contact,
        )
        requests = OdrRequests(
            db=self.db,
            clock=self.clock,
            storage=self.storage,
            section=lambda: self.datamap.odr,
            subject_ref=self.tasks.subject_ref,
            notify=self._notify,
            config=config,
            on_open=self.requests.tasks_opened_in,
        )
        oidc = None
        if o.oidc_issuer:
            callback = public + o.prefix + OIDC_CALLBACK
            oidc = OidcClient(
                issuer=o.oidc_issuer,
                client_id=o.oidc_client_id,
                client_secret=o.oidc_client_secret,
                redirect_uri=callback,
            )
        auth = OdrAuth(
            db=self.db,
            clock=self.clock,
            key=self.key("odr-oauth"),
            endusers=self.endusers,
            mailer=self.mailer,
            settings=o,
            subject_ref=self.tasks.subject_ref,
            organisation=config.organisation,
            issuer=public + o.prefix,
            oidc=oidc,
        )
        return Odr(requests, auth, config)

    @cached_property
    def manual_steps(self) -> ManualSteps:
        """Manual sources' steps: the worker's gate, the respondents' links, reminders (docs/manual-sources.md)."""
        s = self.settings
        return ManualSteps(
            db=self.db,
            clock=self.clock,
            storage=self.storage,
            datamap=lambda: self.datamap,
            key=self.key("manual-step-links"),
            settings=s.manual,
            public_url=s.public_url,
            sender=s.manual.mail_from or s.odr.mail_from,
            company=s.company_name,
            on_answer=lambda task_id: self.tasks.wake(task_id),
        )

    @cached_property
    def privacy_center(self) -> PrivacyCenter:
        s = self.settings
        p = s.privacy
        oidc = None
        if s.odr.oidc_issuer:  # the company's identity provider, as the ODR sign-in uses it
            oidc = OidcClient(
                issuer=s.odr.oidc_issuer,
                client_id=s.odr.oidc_client_id,
                client_secret=s.odr.oidc_client_secret,
                redirect_uri=s.public_url.rstrip("/") + "/privacy/oidc/callback",
            )
        center = PrivacyCenter(
            db=self.db,
            clock=self.clock,
            requests=self.requests,
            storage=self.storage,
            mailer=self.mailer,
            messages=Messages(override_dir=p.templates_dir, company=s.company_name, color=p.primary_color),
            settings=p,
            key=self.key("privacy-center-codes"),
            public_url=s.public_url,
            sender=p.mail_from or s.odr.mail_from,
            company=s.company_name,
            oidc=oidc,
            data_points=datamap_lookup(lambda: self.datamap, lambda: self.sources),
            link_ttl_seconds=s.link_ttl_seconds,
        )
        center.tasks = PrivacyTasks(
            db=self.db,
            clock=self.clock,
            subject_key=self.key("subject-pseudonyms"),
            notify=self._notify,
            on_end=self.task_ended,
            on_open=center.task_opened,
        )
        return center

    @cached_property
    def mailer(self) -> Mailer:
        """SMTP (DSAR_ODR__SMTP_*), or .eml files in data_dir/outbox when no server is set."""
        o = self.settings.odr
        if not o.smtp_host:
            return OutboxMailer(self.settings.data_dir.resolve() / "outbox")
        return SmtpMailer(SmtpConfig(o.smtp_host, o.smtp_port, o.smtp_security, o.smtp_username, o.smtp_password))

    def _notify(self, task_id: str) -> None:
        self.runner.notify(task_id)

    def close(self) -> None:
        if "runner" in self.__dict__:
            self.runner.stop()
        if "sources" in self.__dict__:
            self.sources.dispose()
        if "db" in self.__dict__:
            self.db.dispose()
