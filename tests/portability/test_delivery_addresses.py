"""Notification URLs are checked when a message is sent (DNS rebinding): the host is resolved once per attempt,
a loopback, private or link-local address refuses the attempt, and the connection goes to the address checked,
with the original Host header. Real sockets; the resolver is injected only to give a name an address that the
machine's DNS cannot (a `.test` name)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from dsar.db.engine import Database, make_engine
from dsar.db.migrate import upgrade
from dsar.kit.clock import SystemClock
from dsar.notifications.addresses import (
    BlockedAddress,
    IPAddress,
    Unresolvable,
    checked_addresses,
    pinned_transport,
    system_resolver,
)
from dsar.notifications.service import Notifications
from tests.portability.test_notifications import Receiver, free_port

LOOPBACK = ipaddress.ip_address("127.0.0.1")


def _loopback(host: str, port: int) -> list[IPAddress]:
    return [LOOPBACK]


@pytest.fixture
def receiver() -> Receiver:
    r = Receiver(free_port())
    r.start()
    yield r  # type: ignore[misc]
    r.stop()


def test_the_connection_goes_to_the_checked_address_with_the_original_host(receiver: Receiver) -> None:
    post = pinned_transport(5.0, allow_private=True, resolve=_loopback)
    url = f"http://hooks.example.test:{receiver.port}/sns?x=1"  # .test never resolves in real DNS
    assert post(url, b'{"n": 1}', {"content-type": "application/json"}) == 200
    assert receiver.received == [{"n": 1}]
    assert receiver.headers[0]["host"] == f"hooks.example.test:{receiver.port}"


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254", "10.1.2.3", "192.168.0.1", "0.0.0.0"],
)
def test_non_global_addresses_are_refused_at_delivery(receiver: Receiver, host: str) -> None:
    post = pinned_transport(5.0, allow_private=False)
    with pytest.raises(BlockedAddress):
        post(f"http://{host}:{receiver.port}/sns", b"{}", {})
    assert receiver.received == []


def test_a_name_that_rebinds_to_loopback_is_refused(receiver: Receiver) -> None:
    answers = iter([[ipaddress.ip_address("93.184.215.14")], [LOOPBACK]])  # public when registered, then not
    first = checked_addresses("hooks.example.test", 443, False, lambda h, p: next(answers))
    assert first == [ipaddress.ip_address("93.184.215.14")]
    post = pinned_transport(5.0, allow_private=False, resolve=lambda h, p: next(answers))
    with pytest.raises(BlockedAddress):
        post(f"http://hooks.example.test:{receiver.port}/sns", b"{}", {})
    assert receiver.received == []


def test_an_unresolvable_name_is_a_failed_attempt() -> None:
    with pytest.raises(Unresolvable):
        checked_addresses("no-such-host.invalid", 443, False, system_resolver)


def test_the_outbox_logs_a_refused_attempt_and_delivers_nothing(tmp_path: Path, receiver: Receiver) -> None:
    db = Database(make_engine(f"sqlite:///{tmp_path}/state.sqlite3"))
    upgrade(db.engine)
    try:
        strict = Notifications(
            db=db, clock=SystemClock(), public_url="http://dsar.test", transport=pinned_transport(5.0, False)
        )
        with db.session() as s:  # registered while private URLs were allowed (or before the name rebound)
            strict.subscribe(s, "app-1", receiver.url)
        [mid] = strict.claim("w1")
        assert strict.attempt(mid, "w1") is False
        [attempt] = strict.deliveries(mid)
        assert (attempt.status_code, attempt.error) == (None, "BlockedAddress")
        assert receiver.received == []
        allowing = Notifications(
            db=db, clock=SystemClock(), public_url="http://dsar.test", transport=pinned_transport(5.0, True)
        )
        allowing.redeliver(mid)
        [again] = allowing.claim("w2")
        assert allowing.attempt(again, "w2") is True
        assert receiver.received[0]["Type"] == "SubscriptionConfirmation"
    finally:
        db.dispose()
