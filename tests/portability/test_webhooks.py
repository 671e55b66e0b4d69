"""Privacy events of the GraphQL face to webhook subscriptions, signed with Standard Webhooks (verified with the
`standardwebhooks` package) and delivered to a real receiver on a loopback port."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from typer.testing import CliRunner

from dsar.cli.app import app as cli
from dsar.errors import InvalidInput
from dsar.tasks.models import COMPLETED, DELETION, FAILED, PrivacyTask
from tests.api.harness import running_api
from tests.portability.harness import JANE, adp_settings
from tests.portability.test_notifications import Receiver, free_port


def test_privacy_events_are_signed_and_delivered_once(demo_dir: Path, tmp_path: Path) -> None:
    receiver = Receiver(free_port())
    receiver.start()
    other = Receiver(free_port())
    other.start()
    try:
        with running_api(adp_settings(tmp_path, demo_dir)) as api:
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
            now = api.container.clock.now()
            with api.container.db.session() as s:
                for tid, status in (
                    ("00000000-0000-4000-8000-0000000000d1", COMPLETED),
                    ("00000000-0000-4000-8000-0000000000d2", FAILED),
                ):
                    s.add(
                        PrivacyTask(
                            id=tid,
                            tenant="default",
                            kind=DELETION,
                            subject_email=JANE,
                            subject_ref="r",
                            status=status,
                            errors=[],
                            submitted_at=now,
                            updated_at=now,
                            due_at=now,
                            finished_at=now,
                            attempts=1,
                        )
                    )
            api.container.runner.notify("wake")
            receiver.wait_for(4)
            other.wait_for(1)
            time.sleep(0.5)
            assert len(receiver.received) == 4 and len(other.received) == 1  # exactly once each
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


def test_webhooks_cli(tmp_path: Path) -> None:
    env = {"DSAR_DATA_DIR": str(tmp_path), "DSAR_SECRET_KEY": "k" * 32}
    args = ["webhooks", "create", "--url", "https://93.184.216.34/hook", "--event"]
    r = CliRunner().invoke(cli, [*args, "PERSONAL_DATA_RETRIEVAL_TASK_COMPLETED", "--json"], env=env)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["secret"].startswith("whsec_") and doc["events"] == ["PERSONAL_DATA_RETRIEVAL_TASK_COMPLETED"]
    bad = CliRunner().invoke(cli, [*args, "NOPE"], env=env)
    assert bad.exit_code == 1 and "Unknown event" in bad.output
