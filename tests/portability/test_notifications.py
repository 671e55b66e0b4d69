"""SNS-style notifications over real sockets: a receiver on a loopback port that is down for the first attempts,
the SubscriptionConfirmation handshake, signatures checked by a third-party SNS verifier, and a dsar restart
between attempts (a frozen clock moves through the backoff without sleeping)."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sns_message_validator import SNSMessageValidator
from typer.testing import CliRunner

from dsar.api.app import create_app
from dsar.bootstrap import Container
from dsar.cli.app import app as cli
from dsar.config import Settings
from dsar.kit.clock import FrozenClock
from dsar.notifications import sns
from dsar.notifications.models import DELIVERED
from dsar.portability.models import DataQuery
from dsar.tasks.models import COMPLETED, DELETION, PrivacyTask
from tests.portability import docs002
from tests.portability.harness import JANE, ORDERS, PROFILE, START, adp_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """An HTTP endpoint on a real loopback socket that records every POST body."""

    def __init__(self, port: int, delay: float = 0.0) -> None:
        self.port, self.delay = port, delay  # delay: seconds before it answers (a slow endpoint)
        self.received: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.raw: list[bytes] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sns"

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                time.sleep(outer.delay)
                outer.raw.append(body)
                outer.received.append(json.loads(body))
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return self.received
            time.sleep(0.05)
        raise AssertionError(f"{len(self.received)} messages arrived, expected {count}")


@contextmanager
def real_server(settings: Settings, clock: FrozenClock, port: int) -> Iterator[Container]:
    container = Container(settings, clock=clock)
    server = uvicorn.Server(uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield container
    finally:
        server.should_exit = True
        thread.join(15)
        container.close()


def attempts_of(container: Container, mid: str) -> int:
    return len(container.notifications.deliveries(mid))


def wait_until(fn: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.local_stack
def test_receiver_down_then_up_across_a_restart(demo_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = adp_settings(tmp_path, demo_dir, public_url=base, notify_backoff_seconds=30)
    settings = settings.model_copy(update={"public_url": base})
    clock = FrozenClock(START)
    receiver = Receiver(free_port())  # not listening yet: connection refused
    validator = SNSMessageValidator(cert_url_regex=rf"^{base}/notifications/sns/")

    with real_server(settings, clock, port) as c:
        app_id = c.portability.create_app("receiver app", receiver.url).app_id
        [confirmation] = c.notifications.messages(app_id)
        wait_until(lambda: attempts_of(c, confirmation.id) == 1)
        token = c.endusers.issue(JANE, [ORDERS], app_id)
        r = httpx.post(f"{base}/portability/{ORDERS}/data-queries", headers={"authorization": f"Bearer {token}"})
        assert r.status_code == 201
        qid = r.json()["id"]
        wait_until(lambda: len(c.notifications.messages(app_id)) == 2)  # COMPLETED queued, held: not confirmed
        clock.advance(timedelta(seconds=31))  # first retry: still down
        wait_until(lambda: attempts_of(c, confirmation.id) == 2)
    # dsar stops between attempts; the outbox is in the state database
    receiver.start()
    clock.advance(timedelta(seconds=61))
    with real_server(settings, clock, port) as c:
        [conf] = receiver.wait_for(1)
        assert conf["Type"] == "SubscriptionConfirmation" and conf["MessageId"] == confirmation.id
        validator.validate_message(conf)  # the third-party verifier fetches the certificate from dsar
        assert httpx.get(conf["SubscribeURL"]).status_code == 200
        msgs = receiver.wait_for(2)
        note = msgs[1]
        validator.validate_message(note)
        completed = docs002.samples()[6].body
        assert set(note) == set(completed) | {"SignatureVersion"}
        assert note["Subject"] == completed["Subject"] and note["Type"] == "Notification"
        assert json.loads(note["Message"]) == {"id": qid, "version": "1.0", "status": "COMPLETED"}
        assert note["Message"] == completed["Message"].replace("dataQueryId1", qid)
        assert receiver.headers[1]["x-amz-sns-message-type"] == "Notification"
        time.sleep(0.5)
        assert len(receiver.received) == 2  # exactly the expected messages
        assert {m.status for m in c.notifications.messages(app_id)} == {DELIVERED}
        # tampering is detected by the verifier
        forged = dict(note, Message=note["Message"].replace("COMPLETED", "CANCELED"))
        with pytest.raises(Exception, match="Invalid signature"):
            validator.validate_message(forged)
        # redelivery sends the same message again (receivers de-duplicate by MessageId)
        result = CliRunner().invoke(
            cli,
            ["notifications", "redeliver", note["MessageId"]],
            env={"DSAR_DATA_DIR": str(settings.data_dir), "DSAR_SECRET_KEY": settings.secret_key or ""},
        )
        assert result.exit_code == 0, result.output
        clock.advance(timedelta(days=60))  # the CLI used the system clock; the server's clock is frozen in the past
        again = receiver.wait_for(3)[2]
        assert again["MessageId"] == note["MessageId"] and again["Message"] == note["Message"]
        log = c.notifications.deliveries(confirmation.id)
        assert [d.status_code for d in log] == [None, None, 200] and log[0].error == "ConnectError"
    receiver.stop()


def test_canceled_when_the_subject_was_deleted(demo_dir: Path, tmp_path: Path) -> None:
    from tests.portability.harness import running_adp

    with running_adp(adp_settings(tmp_path, demo_dir)) as adp:
        c = adp.container
        token = adp.token(PROFILE)
        c.runner.stop()
        qid = adp.start(PROFILE, token)
        now = adp.clock.now()
        with c.db.session() as s:
            s.add(
                PrivacyTask(
                    id="00000000-0000-4000-8000-00000000000d",
                    tenant="t",
                    kind=DELETION,
                    subject_email=JANE,
                    subject_ref=c.tasks.subject_ref(JANE),
                    status=COMPLETED,
                    errors=[],
                    submitted_at=now,
                    updated_at=now,
                    due_at=now,
                    finished_at=now,
                    attempts=1,
                )
            )
        c.runner.start()
        assert adp.wait(qid) == "CANCELED"
        r = adp.records(PROFILE, qid, token)
        assert r.status_code == 409 and r.json()["type"] == "QUERY_CANCELED"
        [note] = [m for m in c.notifications.messages(adp.app_id) if m.type == "Notification"]
        assert json.loads(note.fields["Message"]) == {"id": qid, "version": "1.0", "status": "CANCELED"}
        with c.db.session(write=False) as s:
            q = s.get(DataQuery, qid)
            assert q is not None and q.active_key is None


def test_signature_version_2_follows_the_aws_algorithm() -> None:
    """SignatureVersion 2 (SHA256withRSA), checked with `cryptography` directly, following AWS's steps."""
    private_pem, cert_pem = sns.new_key("test", START)
    msg = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:dsar:sns:local:000000000000:t",
        "Subject": "Data Portability Notification 1.0",
        "Message": '{"id": "q","version": "1.0","status": "COMPLETED"}',
        "Timestamp": "2026-11-01T12:00:00.000Z",
        "SignatureVersion": "2",
    }
    msg["Signature"] = sns.sign(msg, private_pem, "2")
    canonical = "".join(
        f"{k}\n{msg[k]}\n" for k in ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
    )
    public = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(base64.b64decode(msg["Signature"]), canonical.encode(), padding.PKCS1v15(), hashes.SHA256())
    assert sns.verify(msg, cert_pem.encode())
    assert not sns.verify(dict(msg, Subject="x"), cert_pem.encode())


def test_apps_cli_and_notify_url_rules(tmp_path: Path) -> None:
    env = {"DSAR_DATA_DIR": str(tmp_path), "DSAR_SECRET_KEY": "k" * 32}
    ok = CliRunner().invoke(
        cli, ["apps", "create", "--name", "Acme", "--notify-url", "https://93.184.216.34/n", "--json"], env=env
    )
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.output)
    assert set(doc) == {"app_id", "name", "notify_url", "topic_arn"}
    for url in (
        "http://93.184.216.34/n",
        "https://127.0.0.1/n",
        "https://10.1.2.3/n",
        "https://localhost/n",
        "ftp://x/y",
    ):
        bad = CliRunner().invoke(cli, ["apps", "create", "--name", "A", "--notify-url", url], env=env)
        assert bad.exit_code == 1 and "error:" in bad.output, url
    allowed = CliRunner().invoke(
        cli,
        ["apps", "create", "--name", "A", "--notify-url", "http://127.0.0.1:9/n", "--json"],
        env={**env, "DSAR_PORTABILITY__ALLOW_PRIVATE_NOTIFY_URLS": "true"},
    )
    assert allowed.exit_code == 0, allowed.output
