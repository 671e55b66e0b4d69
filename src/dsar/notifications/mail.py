"""Sending e-mail: SMTP, or `.eml` files in a folder for demos. Shared by every face that writes to people
(the ODR sign-in codes, the privacy center's codes and its notifications through the outbox)."""

from __future__ import annotations

import os
import smtplib
import ssl
import stat
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol

from dsar.kit.ids import new_id


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password: str = ""


class SmtpMailer:
    def __init__(self, config: SmtpConfig, timeout: float = 15.0) -> None:
        self.config, self.timeout = config, timeout

    def send(self, message: EmailMessage) -> None:
        c = self.config
        smtp: smtplib.SMTP
        if c.security == "ssl":
            smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=self.timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(c.host, c.port, timeout=self.timeout)
        with smtp:
            if c.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if c.username:
                smtp.login(c.username, c.password)
            smtp.send_message(message)


class OutboxMailer:
    """Writes each message to `<dir>/<id>.eml` (no SMTP server configured: demos and development). The files
    hold codes and addresses: only the service's user may read them (files 0600, the folder 0700)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(self.directory.stat().st_mode) & 0o077:  # made earlier, or under a lax umask
            self.directory.chmod(0o700)
        path = self.directory / f"{new_id()}.eml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes(message))


__all__ = ["Mailer", "OutboxMailer", "SmtpConfig", "SmtpMailer"]
