"""Starting and reading privacy tasks. The caller's tenant scopes every lookup: a foreign id is unknown."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from dsar import log
from dsar.db.engine import Database
from dsar.errors import Conflict, InvalidInput, NotFound
from dsar.kit.clock import Clock, iso_z
from dsar.kit.ids import is_uuid, new_id
from dsar.kit.signing import keyed_hash
from dsar.tasks import repository as repo
from dsar.tasks.records import OnOpen, OpenedTask, TaskView
from dsar.tasks.states import DELETION, IN_PROGRESS, ON_HOLD, RECTIFICATION, RETRIEVAL

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
    summary: dict[str, Any] | None = None  # a rectification's requested values, read by its job
    jurisdiction: str | None = None


class PrivacyTasks:
    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        subject_key: bytes,
        notify: Callable[[str], None],
        on_end: Callable[[Session, str], None] | None = None,
        on_open: OnOpen | None = None,
    ) -> None:
        self.db, self.clock, self.subject_key, self.notify = db, clock, subject_key, notify
        self.on_end = on_end  # called in the transaction that ends a task (a cancelled deletion)
        self.on_open = on_open  # called in the transaction that creates a task (its privacy request opens)

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
                self.on_end(s, task_id)
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
            f"{req.kind}\n{email.lower()}\n{req.holding_days}\n{req.reason or ''}".encode()
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
                subject_ref=self.subject_ref(email),
                status=ON_HOLD if on_hold else IN_PROGRESS,
                now=now,
                due_at=now + timedelta(days=req.holding_days),
                holding_period_days=req.holding_days if req.kind == DELETION else None,
                reason=req.reason,
                summary=req.summary,
            )
            s.flush()
            if self.on_open is not None:
                opened = OpenedTask(task_id, req.tenant, req.kind, req.channel, email, jurisdiction=req.jurisdiction)
                self.on_open(s, [opened])
            if req.client_token and not repo.remember_token(
                s, req.tenant, req.operation, req.client_token, task_id, fingerprint, now
            ):
                raise _Raced()
        _log.info("task_started", task_id=task_id, kind=req.kind, subject=self.subject_ref(email)[:16])
        if not on_hold:
            self.notify(task_id)
        return task_id

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
