"""Sending the one-time sign-in code: SMTP, or `.eml` files in an outbox folder for demos."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from dsar.kit.ids import new_id
from dsar.odr.settings import OdrSettings


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    def __init__(self, s: OdrSettings, timeout: float = 15.0) -> None:
        self.s, self.timeout = s, timeout

    def send(self, message: EmailMessage) -> None:
        s = self.s
        smtp: smtplib.SMTP
        if s.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
        with smtp:
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
            smtp.send_message(message)


class OutboxMailer:
    """Writes each message to `<dir>/<id>.eml` (no SMTP server configured: demos and development)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{new_id()}.eml").write_bytes(bytes(message))


def code_message(sender: str, to: str, organisation: str, code: str, minutes: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"Your sign-in code for {organisation}: {code}"
    msg.set_content(
        f"Your sign-in code is {code}\n\n"
        f"Enter it on the {organisation} sign-in page to let an app request a copy of your personal data.\n"
        f"It is valid for {minutes} minutes and can be used once.\n\n"
        "If you did not try to sign in, ignore this e-mail: nothing happens without the code.\n"
    )
    return msg
