"""The demo's Stripe: when DSAR_DEMO_STRIPE_URL names a Stripe API (localstripe, or Stripe's test mode), the
demo data map gains the Stripe source and collections of `stripe.yaml`, and the demo's subject gets a
customer there with charges, a saved card and a subscription (made once: an existing customer is kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import httpx
import yaml

URL_ENV = "DSAR_DEMO_STRIPE_URL"
KEY_ENV = "DSAR_DEMO_STRIPE_KEY"
_CARD = {"card[number]": "4242424242424242", "card[exp_month]": "12", "card[exp_year]": "2030", "card[cvc]": "123"}


def configured(env: Mapping[str, str]) -> bool:
    return bool(env.get(URL_ENV)) and bool(env.get(KEY_ENV))


def with_stripe(datamap: str) -> str:
    """The demo data map with the Stripe source and collections added (comments of the original are lost)."""
    raw = yaml.safe_load(datamap)
    extra = yaml.safe_load(resources.files("dsar.demo").joinpath("stripe.yaml").read_text(encoding="utf-8"))
    raw["sources"].update(extra["sources"])
    raw["collections"].update(extra["collections"])
    header = "# The dsar demo data map with Stripe (DSAR_DEMO_STRIPE_URL is set); see stripe.yaml in dsar.demo.\n"
    return header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=110)


def seed(url: str, key: str, email: str, name: str, charges: int = 3) -> str:
    """The subject's Stripe customer id, made with `charges` charges, a card and a subscription if missing."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:

        def post(path: str, **data: Any) -> dict[str, Any]:
            resp = http.post(path, data=data)
            resp.raise_for_status()
            body: dict[str, Any] = resp.json()
            return body

        found = http.get("/v1/customers", params={"email": email})
        found.raise_for_status()
        if found.json().get("data"):
            return str(found.json()["data"][0]["id"])
        token = post("/v1/tokens", **_CARD)["id"]
        customer = str(post("/v1/customers", email=email, name=name, source=token)["id"])
        for i in range(charges):
            post("/v1/charges", customer=customer, amount=1999 + i * 500, currency="eur", description=f"Order {i + 1}")
        pm = post("/v1/payment_methods", type="card", **_CARD)["id"]
        post(f"/v1/payment_methods/{pm}/attach", customer=customer)
        plans = http.get("/v1/plans/dsar-demo-club")
        if plans.status_code == 404:
            post(
                "/v1/plans",
                id="dsar-demo-club",
                amount=499,
                currency="eur",
                interval="month",
                **{"product[name]": "Shop club"},
            )
        post("/v1/subscriptions", customer=customer, **{"items[0][plan]": "dsar-demo-club"})
        return customer
