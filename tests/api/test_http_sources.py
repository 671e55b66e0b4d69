"""A retrieval and a deletion across the demo shop and Stripe (localstripe), through the API.

The demo data map gains Stripe when DSAR_DEMO_STRIPE_URL and DSAR_DEMO_STRIPE_KEY are set; the subject
then has a Stripe customer with charges, a card and a subscription (so an invoice). The archive is
downloaded and read back; the deletion removes her Stripe customer and nobody else's.
"""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dsar.demo.generate import build_demo
from tests.api.harness import Api, running_api, settings_for
from tests.api.test_deletion import close_janes_orders, started, wait
from tests.stripe import KEY, Seed

JANE = "jane.doe@example.com"


@pytest.fixture
def shop(tmp_path: Path, stripe_seed: Seed, localstripe: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    env = {"DSAR_DEMO_STRIPE_URL": localstripe, "DSAR_DEMO_STRIPE_KEY": KEY}
    for k, v in env.items():
        monkeypatch.setenv(k, v)  # the data map refers to them; the app reads them when it loads it
    d = tmp_path / "demo"
    build_demo(d, customers=300, env=env)
    return d


@pytest.fixture
def api(tmp_path: Path, shop: Path) -> Iterator[Api]:
    with running_api(settings_for(tmp_path, shop)) as a:
        yield a


def archive_of(api: Api, task_id: str) -> dict[str, bytes]:
    task = api.wait(task_id)
    assert task["status"] == "COMPLETED", task
    link = httpx.URL(task["dataRetrievalLink"])
    download = api.client.get(link.raw_path.decode())
    assert download.status_code == 200
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_the_archive_holds_her_shop_and_stripe_data(api: Api, stripe_seed: Seed, shop: Path) -> None:
    bob = stripe_seed.customer("bob@example.com", "Bob")
    stripe_seed.charge(bob, 5000)
    text = (shop / "datamap.yaml").read_text()
    assert "stripe.customers" in text and "sk_" not in text  # the key stays in the environment
    members = archive_of(api, api.start(JANE))
    customers = json.loads(members["data/stripe/customers.json"])
    assert [c["email"] for c in customers] == [JANE] and customers[0]["name"] == "Jane Doe"
    charges = json.loads(members["data/stripe/charges.json"])
    assert sorted(c["amount"] for c in charges) == [499, 1999, 2499, 2999]  # 499: the subscription's first invoice
    assert {c["customer"] for c in charges} == {customers[0]["id"]}
    for key in ("invoices", "payment_methods", "subscriptions"):
        rows = json.loads(members[f"data/stripe/{key}.json"])
        assert rows and {r["customer"] for r in rows} == {customers[0]["id"]}, key
    cards = json.loads(members["data/stripe/payment_methods.json"])
    assert cards[0]["card"]["last4"] == "4242"  # nested objects come as they are
    shop_customers = json.loads(members["data/shop/customers.json"])
    assert [c["email"] for c in shop_customers] == [JANE]
    assert b"bob@example.com" not in b"".join(members.values())


def test_a_deletion_deletes_her_stripe_customer_only(api: Api, stripe_seed: Seed, shop: Path) -> None:
    bob = stripe_seed.customer("bob@example.com", "Bob")
    close_janes_orders(shop)
    tid = started(api, JANE, ", holdingPeriod: 0")
    t = wait(api, tid)
    assert (t["status"], t["errors"]) == ("COMPLETED", []), t
    assert stripe_seed.get("/v1/customers", email=JANE).json()["data"] == []
    assert stripe_seed.get(f"/v1/customers/{bob}").status_code == 200
    with sqlite3.connect(shop / "shop.sqlite") as db:
        email = db.execute("SELECT email FROM customers WHERE id = 1").fetchone()[0]
    assert email.startswith("erased-")
    # a second deletion walks Stripe again without an error, and finds nobody left
    again = wait(api, started(api, JANE, ", holdingPeriod: 0"))
    assert [e["code"] for e in again["errors"]] == ["DATA_SUBJECT_NOT_FOUND"]
