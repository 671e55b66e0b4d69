"""Privacy center fixtures: a real SMTP server on loopback (aiosmtpd) and the app over the demo shop."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.api.harness import Api, running_api, settings_for
from tests.odr.conftest import Inbox

JANE = "jane.doe@example.com"


class Mailbox(Inbox):
    """The inbox, read as a person reads it: the newest message to an address, its text, its code."""

    def wait_for(self, to: str, subject: str = "", after: int = 0, timeout: float = 20) -> EmailMessage:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                for rcpt, raw in reversed(self.messages[after:]):
                    msg = message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
                    if to in rcpt and subject in str(msg["Subject"]):
                        return msg
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [str(message_from_bytes(raw)["Subject"]) for _r, raw in self.messages]
                    raise AssertionError(f"no e-mail to {to} about {subject!r}; got {got}")
                self.lock.wait(left)

    def count(self) -> int:
        with self.lock:
            return len(self.messages)


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def code_in(msg: EmailMessage) -> str:
    found = re.search(r"\b(\d{6})\b", text_of(msg))
    assert found, text_of(msg)
    return found.group(1)


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on a free loopback port, and what it received."""
    box = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as found:
        yield found


def center_settings(tmp: Path, demo: Path, port: int, **privacy: Any) -> Any:
    odr = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none", "mail_from": "privacy@shop.example"}
    return settings_for(tmp, demo, odr=odr, privacy=privacy, company_name="Demo Shop", requests={"timezone": "UTC"})


@pytest.fixture
def center_api(tmp_path: Path, demo_dir: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Api]:
    with running_api(center_settings(tmp_path, demo_dir, mailbox[1])) as api:
        yield api
