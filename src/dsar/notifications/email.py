"""The outbox's e-mail channel: a message to a person, written in the transaction of the change it tells
them about and sent over SMTP by the outbox's delivery loop (retried with backoff, never lost across restarts).

A row of type `Email` holds the rendered message (sender, recipient, subject, text and HTML bodies) until it
is delivered or given up; then the bodies and the address are dropped, so the outbox keeps no personal data
longer than it needs to send it (the delivery log keeps the attempts).
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from sqlalchemy.orm import Session

from dsar.db.sealed import seal_clear
from dsar.engine.archive import mask_email
from dsar.kit.ids import new_id
from dsar.notifications.models import PENDING, OutboxMessage

EMAIL = "Email"  # outbox type; `app_id` is this constant (no subscription: the recipient is in the row)
EMAIL_APP = "email"


def queue_email(
    s: Session,
    now: datetime,
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    language: str | None = None,
) -> str:
    """Add an e-mail to the outbox in the caller's transaction; its message id."""
    mid = new_id()
    fields = {"from": sender, "to": to, "subject": subject, "text": text, "html": html, "language": language}
    s.add(
        OutboxMessage(
            id=mid,
            app_id=EMAIL_APP,
            type=EMAIL,
            fields=fields,
            status=PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
    )
    return mid


def build_message(mid: str, fields: dict[str, Any]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = fields["from"]
    msg["To"] = fields["to"]
    msg["Subject"] = fields["subject"]
    msg["Date"] = formatdate(localtime=False)
    # The same Message-ID on every attempt: a mail system that already got it can tell a retry.
    domain = str(fields["from"]).rpartition("@")[2].strip("> ") or "localhost"
    msg["Message-ID"] = make_msgid(idstring=mid.replace("-", ""), domain=domain)
    if fields.get("language"):
        msg["Content-Language"] = fields["language"]
    msg.set_content(fields["text"])
    if fields.get("html"):
        msg.add_alternative(fields["html"], subtype="html")
    return msg


def scrubbed(fields: dict[str, Any]) -> dict[str, Any]:
    """What stays of a sent (or abandoned) e-mail: no body, a masked address."""
    return {"to": mask_email(str(fields.get("to", ""))), "scrubbed": True}


def seal_clear_fields(s: Session, limit: int = 1000) -> int:
    """Seal up to `limit` outbox messages written in clear before encryption at rest was on."""
    return seal_clear(s, OutboxMessage.fields, OutboxMessage.id, limit)


__all__ = ["EMAIL", "EMAIL_APP", "build_message", "queue_email", "scrubbed", "seal_clear_fields"]
