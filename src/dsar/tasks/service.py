"""Starting and reading privacy tasks. The caller's tenant scopes every lookup: a foreign id is unknown."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from dsar import log
from dsar.datamap.identities import InvalidIdentity, parse_identity
from dsar.db.engine import Database
from dsar.errors import Conflict, InvalidInput, NotFound
from dsar.kit.clock import Clock, iso_z
from dsar.kit.ids import is_uuid, new_id
from dsar.kit.signing import keyed_hash
from dsar.tasks import repository as repo
from dsar.tasks.records import OnOpen, OpenedTask, TaskView
from dsar.tasks.states import DELETION, FAILED, IN_PROGRESS, ON_HOLD, RECTIFICATION, RETRIEVAL

_log = log.get("dsar.tasks")


class _Raced(Exception):
    """Another request registered the same client token first."""


class CannotCancel(InvalidInput):
    def __init__(self, status: str) -> None:
        super().__init__(
            f"The personalDataDeletionTask cannot be cancelled with a status of {status}.",
            code="CannotCancelPersonalDataDeletionTask",
        )
        self.status = status


@dataclass(frozen=True)
class _Request:
    tenant: str
    kind: str
    operation: str
    email: str
    client_token: str | None
    channel: str
    holding_days: int = 0
    reason: str | None = None
    identities: tuple[tuple[str, str], ...] = ()  # besides the e-mail: (identity name, normalised value)
    summary: dict[str, Any] | None = None  # a rectification's requested values, read by its job
    jurisdiction: str | None = None


def _more(identities: tuple[tuple[str, str], ...]) -> str:
    """The fingerprint's part for identities besides the e-mail (empty without any: fingerprints stay as they were)."""
    return "".join(f"\n{name}={value}" for name, value in identities)


class PrivacyTasks:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        subject_key: bytes,
        notify: Callable[[str], None],
        on_end: Callable[[Session, str, str, str | None], None] | None = None,
        on_open: OnOpen | None = None,
        identity_kinds: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self.db, self.clock, self.subject_key, self.notify = db, clock, subject_key, notify
        self.on_end = on_end  # called in the transaction that ends a task (a cancelled deletion)
        self.on_open = on_open  # called in the transaction that creates a task (its privacy request opens)
        self.identity_kinds = identity_kinds or (lambda: {"email": "email"})  # the data map's identity kinds

    def subject_ref(self, email: str) -> str:
        return keyed_hash(self.subject_key, email.strip().lower(), 32)

    def start_retrieval(
        self, tenant: str, email: str, client_token: str | None, channel: str = "bwp", jurisdiction: str | None = None
    ) -> str:
        """Create a retrieval task (or return the one this client token created within 8 hours)."""
        return self._start_once(
            _Request(
                tenant,
                RETRIEVAL,
                "startPersonalDataRetrievalTask",
                email,
                client_token,
                channel,
                jurisdiction=jurisdiction,
            )
        )

    def start_rectification(
        self,
        tenant: str,
        email: str,
        values: dict[str, str | None],
        client_token: str | None,
        channel: str = "bwp",
        jurisdiction: str | None = None,
    ) -> str:
        """Create a rectification task: new values of `<source>.<collection>.<column>` fields, checked by the
        caller against the data map (`dsar.engine.rectify.check`) and again by the job before any change."""
        return self._start_once(
            _Request(
                tenant,
                RECTIFICATION,
                "startPersonalDataRectificationTask",
                email,
                client_token,
                channel,
                summary={"requested": dict(sorted(values.items()))},
                jurisdiction=jurisdiction,
            )
        )

    def start_deletion(
        self,
        tenant: str,
        email: str,
        holding_days: int,
        reason: str | None,
        client_token: str | None,
        channel: str = "bwp",
        jurisdiction: str | None = None,
    ) -> str:
        """Create a deletion task: ON_HOLD for the holding period (cancellable), then run once."""
        return self._start_once(
            _Request(
                tenant,
                DELETION,
                "startPersonalDataDeletionTask",
                email,
                client_token,
                channel,
                holding_days,
                reason,
                jurisdiction=jurisdiction,
            )
        )

    def start_for(
        self,
        tenant: str,
        kind: str,
        identities: Mapping[str, str],
        *,
        client_token: str | None = None,
        channel: str = "console",
        holding_days: int = 0,
        reason: str | None = None,
        jurisdiction: str | None = None,
    ) -> str:
        """A retrieval or deletion task for a subject known by any identities of the data map (an e-mail, an
        internationalised one too, a phone, a customer id): the way in for the case layer and new faces. Each
        value is checked and normalised for its kind (`InvalidIdentity` says which is wrong, never the value)."""
        if kind not in (RETRIEVAL, DELETION):
            raise InvalidInput(f"Unknown task kind {kind!r}: use {RETRIEVAL} or {DELETION}.")
        kinds = self.identity_kinds()
        normal: dict[str, str] = {}
        for name, value in sorted(identities.items()):
            if name not in kinds:
                raise InvalidIdentity(f"Unknown identity {name!r}: use one of {', '.join(sorted(kinds))}.")
            normal[name] = parse_identity(kinds[name], value)
        if not normal:
            raise InvalidIdentity("Give at least one identity of the subject.")
        emails = [n for n in normal if kinds[n] == "email"]
        email = normal.pop(emails[0]) if emails else ""
        operation = "startPersonalDataRetrievalTask" if kind == RETRIEVAL else "startPersonalDataDeletionTask"
        others = tuple(sorted(normal.items()))
        return self._start_once(
            _Request(
                tenant,
                kind,
                operation,
                email,
                client_token,
                channel,
                holding_days,
                reason,
                others,
                jurisdiction=jurisdiction,
            )
        )

    def _subject(self, req: _Request) -> str:
        """What the subject is known by, for the keyed hash: the e-mail, else the other identities."""
        if req.email.strip():
            return req.email
        return "\n".join(f"{name}={value}" for name, value in req.identities)

    def cancel_deletion(self, tenant: str, task_id: str) -> str:
        """Cancel a deletion still ON_HOLD. It then reads FAILED with the error CANCELLED (an audit trail)."""
        if not is_uuid(task_id):
            raise NotFound("Request references a resource which does not exist.")
        now = self.clock.now()
        with self.db.session() as s:
            t = repo.get_task(s, tenant, task_id, DELETION)
            if t is None:
                raise NotFound("Request references a resource which does not exist.")
            if not repo.cancel_on_hold(
                s,
                task_id,
                now,
                [{"code": "CANCELLED", "message": f"The personalDataDeletionTask was cancelled on {iso_z(now)}."}],
            ):
                s.refresh(t)
                raise CannotCancel(t.status)
            if self.on_end is not None:
                self.on_end(s, task_id, FAILED, "CANCELLED")
        _log.info("task_cancelled", task_id=task_id)
        return task_id

    def _start_once(self, req: _Request) -> str:
        try:
            return self._start(req)
        except _Raced:  # the other request's transaction is committed now: answer with its task
            return self._start(req)

    def _start(self, req: _Request) -> str:
        now = self.clock.now()
        email = req.email.strip()
        fingerprint = hashlib.sha256(
            f"{req.kind}\n{email.lower()}\n{req.holding_days}\n{req.reason or ''}{_more(req.identities)}".encode()
            + (json.dumps(req.summary, sort_keys=True).encode() if req.summary else b"")
        ).hexdigest()
        task_id = new_id()
        on_hold = req.kind == DELETION and req.holding_days > 0
        with self.db.session() as s:
            if req.client_token:
                hit = repo.find_by_token(s, req.tenant, req.operation, req.client_token, now)
                if hit is not None:
                    if hit.fingerprint != fingerprint:
                        raise Conflict(
                            "The clientToken was already used with different input within the last 8 hours.",
                            code="IdempotencyMismatch",
                        )
                    return hit.task_id
            repo.add_task(
                s,
                task_id=task_id,
                tenant=req.tenant,
                kind=req.kind,
                channel=req.channel,
                subject_type="SHOPPER",
                subject_email=email,
                subject_ref=self.subject_ref(self._subject(req)),
                status=ON_HOLD if on_hold else IN_PROGRESS,
                now=now,
                due_at=now + timedelta(days=req.holding_days),
                holding_period_days=req.holding_days if req.kind == DELETION else None,
                reason=req.reason,
                subject_identities=dict(req.identities) or None,
                summary=req.summary,
            )
            s.flush()
            if self.on_open is not None:
                subject = email or self._subject(req)
                opened = OpenedTask(task_id, req.tenant, req.kind, req.channel, subject, jurisdiction=req.jurisdiction)
                self.on_open(s, [opened])
            if req.client_token and not repo.remember_token(
                s, req.tenant, req.operation, req.client_token, task_id, fingerprint, now
            ):
                raise _Raced()
        _log.info("task_started", task_id=task_id, kind=req.kind, subject=self.subject_ref(self._subject(req))[:16])
        if not on_hold:
            self.notify(task_id)
        return task_id

    def wake(self, task_id: str) -> None:
        """A task waiting for a person (a manual step) runs now rather than at its next look."""
        with self.db.session() as s:
            woke = repo.wake(s, task_id, self.clock.now())
        if woke:
            self.notify(task_id)

    def get(self, tenant: str, task_id: str, kind: str) -> TaskView:
        """One short read (`Database.read`): the API may call it on its event loop (`Context.read`)."""
        if not is_uuid(task_id):
            raise NotFound("Request references a resource which does not exist.")
        with self.db.read() as conn:
            row = repo.view_row(conn, tenant, task_id, kind)
        if row is None:
            raise NotFound("Request references a resource which does not exist.")
        return TaskView.of(row)


__all__ = ["CannotCancel", "PrivacyTasks", "TaskView"]
