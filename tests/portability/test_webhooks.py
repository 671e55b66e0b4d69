"""Privacy events of the GraphQL face to webhook subscriptions, signed with Standard Webhooks (verified with the
`standardwebhooks` package) and delivered to a real receiver on a loopback port."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook
from typer.testing import CliRunner

from dsar.cli.app import app as cli
from dsar.demo.generate import build_demo
from dsar.errors import InvalidInput
from dsar.notifications.models import WebhookEvent
from tests.api.harness import running_api
from tests.api.test_deletion import close_janes_orders, started, wait
from tests.portability.harness import JANE, adp_settings
from tests.portability.test_notifications import Receiver, free_port

CANCEL = 'mutation { cancelPersonalDataDeletionTask(taskId: "%s") { taskId } }'


def test_privacy_events_are_signed_and_delivered_once(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    build_demo(shop, customers=300)  # deletion changes it: a shop of its own
    receiver = Receiver(free_port())
    receiver.start()
    other = Receiver(free_port())
    other.start()
    try:
        with running_api(adp_settings(tmp_path, shop)) as api:
            hooks = api.container.webhooks
            with pytest.raises(InvalidInput, match="Unknown event"):
                hooks.create(receiver.url, ["PERSONAL_DATA_SOMETHING"])
            everything = hooks.create(
                receiver.url,
                [
                    "PERSONAL_DATA_RETRIEVAL_TASK_COMPLETED",
                    "PERSONAL_DATA_RETRIEVAL_TASK_FAILED",
                    "PERSONAL_DATA_DELETION_TASK_COMPLETED",
                    "PERSONAL_DATA_DELETION_TASK_FAILED",
                ],
            )
            only_deletions = hooks.create(other.url, ["PERSONAL_DATA_DELETION_TASK_COMPLETED"])
            ok = api.start(JANE)
            missing = api.start("nobody.at.all@example.com")
            assert api.wait(ok)["status"] == "COMPLETED" and api.wait(missing)["status"] == "FAILED"
            close_janes_orders(shop)
            erased = started(api, JANE, ", holdingPeriod: 0")
            cancelled = started(api, "john.smith@example.com")
            assert "errors" not in api.gql(CANCEL % cancelled).json()
            assert wait(api, erased)["status"] == "COMPLETED"
            receiver.wait_for(4)
            other.wait_for(1)
            time.sleep(0.5)
            assert len(receiver.received) == 4 and len(other.received) == 1  # exactly once each
            with api.container.db.session(write=False) as s:  # queued with the end of each task, once
                assert sorted(
                    s.scalars(select(WebhookEvent.task_id).where(WebhookEvent.subscription_id == everything.id))
                ) == sorted([ok, missing, erased, cancelled])
            verifier = Webhook(everything.secret)
            by_type = {}
            for raw, headers in zip(receiver.raw, receiver.headers, strict=True):
                event = verifier.verify(raw, headers)
                assert headers["webhook-id"] == event["id"]
                by_type[event["detail-type"]] = event
            assert set(by_type) == {
                "PERSONAL_DATA_RETRIEVAL_TASK_COMPLETED",
                "PERSONAL_DATA_RETRIEVAL_TASK_FAILED",
                "PERSONAL_DATA_DELETION_TASK_COMPLETED",
                "PERSONAL_DATA_DELETION_TASK_FAILED",
            }
            done = by_type["PERSONAL_DATA_RETRIEVAL_TASK_COMPLETED"]
            assert set(done) == {
                "version",
                "id",
                "detail-type",
                "source",
                "account",
                "time",
                "region",
                "resources",
                "detail",
            }
            assert done["resources"] == [f"businessProduct/default/personalDataRetrievalTask/{ok}"]
            assert by_type["PERSONAL_DATA_RETRIEVAL_TASK_FAILED"]["resources"][0].endswith(missing)
            assert by_type["PERSONAL_DATA_DELETION_TASK_COMPLETED"]["resources"] == [
                f"businessProduct/default/personalDataDeletionTask/{erased}"
            ]
            assert by_type["PERSONAL_DATA_DELETION_TASK_FAILED"]["resources"][0].endswith(cancelled)
            assert Webhook(only_deletions.secret).verify(other.raw[0], other.headers[0])["detail-type"] == (
                "PERSONAL_DATA_DELETION_TASK_COMPLETED"
            )
            with pytest.raises(Exception):  # noqa: B017  (another subscription's secret does not verify)
                Webhook(only_deletions.secret).verify(receiver.raw[0], receiver.headers[0])
            forged = json.loads(receiver.raw[0])
            forged["detail-type"] = "X"
            with pytest.raises(Exception):  # noqa: B017
                verifier.verify(json.dumps(forged).encode(), receiver.headers[0])
    finally:
        receiver.stop()
        other.stop()


def test_a_slow_endpoint_does_not_hold_up_the_others(demo_dir: Path, tmp_path: Path) -> None:
    """Due messages are delivered in parallel batches: events for a fast receiver arrive while a receiver
    that takes 3 s per request is still answering (one at a time, the fast ones would wait 3 s each)."""
    slow, fast = Receiver(free_port(), delay=3.0), Receiver(free_port())
    slow.start()
    fast.start()
    try:
        with running_api(adp_settings(tmp_path, demo_dir)) as api:
            for r in (slow, fast):
                api.container.webhooks.create(r.url, ["PERSONAL_DATA_RETRIEVAL_TASK_COMPLETED"])
            ids = [api.start(JANE) for _ in range(6)]
            assert all(api.wait(t)["status"] == "COMPLETED" for t in ids)
            ended = time.monotonic()
            fast.wait_for(6)
            assert time.monotonic() - ended < 6, "the fast receiver waited for the slow one"
            slow.wait_for(6, timeout=30)
            assert sorted(e["resources"][0].rsplit("/", 1)[1] for e in fast.received) == sorted(ids)
    finally:
        slow.stop()
        fast.stop()


def test_webhooks_cli(tmp_path: Path) -> None:
    env = {"DSAR_DATA_DIR": str(tmp_path), "DSAR_SECRET_KEY": "k" * 32}
    args = ["webhooks", "create", "--url", "https://93.184.216.34/hook", "--event"]
    r = CliRunner().invoke(cli, [*args, "PERSONAL_DATA_RETRIEVAL_TASK_COMPLETED", "--json"], env=env)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["secret"].startswith("whsec_") and doc["events"] == ["PERSONAL_DATA_RETRIEVAL_TASK_COMPLETED"]
    bad = CliRunner().invoke(cli, [*args, "NOPE"], env=env)
    assert bad.exit_code == 1 and "Unknown event" in bad.output
