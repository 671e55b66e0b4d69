"""Set-based creation of retrieval tasks: the rows `PrivacyTasks.start_retrieval` writes, many per statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from dsar.kit.ids import new_id
from dsar.tasks.models import IN_PROGRESS, RETRIEVAL, PrivacyTask


def insert_retrieval_tasks(
    s: Session, tenant: str, batch_id: str, subjects: Sequence[tuple[str, str]], now: datetime, channel: str = "bwp"
) -> list[str]:
    """One IN_PROGRESS retrieval task, due now, per (trimmed e-mail, subject ref); their ids, in order.

    The caller commits, then wakes the runner.
    """
    if not subjects:
        return []
    ids = [new_id() for _ in subjects]
    s.execute(
        insert(PrivacyTask),
        [
            {
                "id": task_id,
                "tenant": tenant,
                "kind": RETRIEVAL,
                "channel": channel,
                "subject_type": "SHOPPER",
                "subject_email": email,
                "subject_ref": ref,
                "status": IN_PROGRESS,
                "errors": [],
                "submitted_at": now,
                "updated_at": now,
                "due_at": now,
                "attempts": 0,
                "holding_period_days": None,
                "reason": None,
                "batch_id": batch_id,
            }
            for task_id, (email, ref) in zip(ids, subjects, strict=True)
        ],
    )
    return ids


__all__ = ["insert_retrieval_tasks"]
