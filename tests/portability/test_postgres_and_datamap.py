"""The Data Portability repositories on PostgreSQL (through the real API), and the data map section's checks."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from dsar.datamap.loader import parse
from dsar.errors import DataMapError
from tests.portability.harness import ORDERS, PROFILE, adp_settings, running_adp


@pytest.mark.postgres
def test_queries_memory_throttling_and_outbox_on_postgres(demo_dir: Path, tmp_path: Path, pg_url: str) -> None:
    settings = adp_settings(tmp_path, demo_dir, database_url=pg_url)
    with running_adp(settings) as adp:
        token = adp.token(ORDERS)
        first = adp.post(ORDERS, token)
        assert first.status_code == 201
        assert adp.post(ORDERS, token).json() == first.json()  # remembered in PostgreSQL
        qid = first.json()["id"]
        assert adp.wait(qid) == "COMPLETED"
        records = adp.all_records(ORDERS, qid, token)
        assert len(records) == 3 and all(adp.fetch(r["file"]).status_code == 200 for r in records)
        assert adp.records(ORDERS, "00000000-0000-4000-8000-000000000000", token).status_code == 404
        app = adp.app("pg throttled", rate_limit=2)
        t2 = adp.token(PROFILE, app_id=app)
        adp.clock.advance(timedelta(seconds=60))
        assert [adp.post(PROFILE, t2).status_code for _ in range(3)] == [201, 201, 429]
        messages = adp.container.notifications.messages(adp.app_id)
        assert sorted(m.type for m in messages) == ["Notification", "SubscriptionConfirmation"]
        [confirmation] = [m for m in messages if m.type == "SubscriptionConfirmation"]
        deadline = time.monotonic() + 10
        while not adp.container.notifications.deliveries(confirmation.id) and time.monotonic() < deadline:
            time.sleep(0.05)
        [note] = [m for m in messages if m.type == "Notification"]
        assert adp.container.notifications.status(note.id) == ("PENDING", 0)  # held until the endpoint confirms


BASE = """
sources:
  shop: {url: "sqlite:///x.db"}
collections:
  shop.orders:
    primary_key: [id]
    exclude: [secret]
    processing: {purpose: p, legal_basis: b, retention: r}
"""


def test_scope_cross_checks_name_the_line() -> None:
    text = BASE + "portability:\n  scopes:\n    portability-x:\n      collections:\n        shop.nope: {}\n"
    with pytest.raises(DataMapError, match=r"<datamap>:\d+: portability.scopes.portability-x.collections.shop.nope"):
        parse(text)
    excluded = BASE + (
        "portability:\n  scopes:\n    portability-x:\n      collections:\n        shop.orders: {timestamp: secret}\n"
    )
    with pytest.raises(DataMapError, match="excluded"):
        parse(excluded)
    with pytest.raises(DataMapError, match="portability-<kebab-case>"):
        parse(BASE + "portability:\n  scopes:\n    Orders:\n      collections:\n        shop.orders: {}\n")
    with pytest.raises(DataMapError, match="remove `foo`"):
        parse(BASE + "portability:\n  scopes:\n    portability-x:\n      collections: {shop.orders: {foo: 1}}\n")
    dm = parse(
        BASE + "portability:\n  scopes:\n    portability-x:\n      collections: {shop.orders: {where: {s: [a]}}}\n"
    )
    assert dm.portability is not None and dm.portability.scopes["portability-x"].collections["shop.orders"].where
