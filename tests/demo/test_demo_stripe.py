"""The demo with Stripe: only when DSAR_DEMO_STRIPE_URL and DSAR_DEMO_STRIPE_KEY are set; seeded once."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.stripe import KEY, Seed

from dsar.datamap.loader import load
from dsar.demo.generate import build_demo, packaged_datamap


def test_without_the_variables_the_demo_is_unchanged(tmp_path: Path) -> None:
    info = build_demo(tmp_path / "d", customers=5, env={"DSAR_DEMO_STRIPE_URL": "http://127.0.0.1:1"})  # no key
    assert info.datamap.read_text(encoding="utf-8") == packaged_datamap()


def test_a_stripe_url_that_does_not_answer_is_one_clear_error(tmp_path: Path) -> None:
    env = {"DSAR_DEMO_STRIPE_URL": "http://127.0.0.1:1", "DSAR_DEMO_STRIPE_KEY": KEY}
    with pytest.raises(RuntimeError) as info:
        build_demo(tmp_path / "d", customers=5, env=env)
    assert str(info.value).startswith("DSAR_DEMO_STRIPE_URL is set, but the Stripe API there did not answer")


def test_with_stripe_the_data_map_gains_it_and_the_subject_is_seeded_once(
    tmp_path: Path, localstripe: str, stripe_seed: Seed
) -> None:
    env = {"DSAR_DEMO_STRIPE_URL": localstripe, "DSAR_DEMO_STRIPE_KEY": KEY}
    build_demo(tmp_path / "d", customers=5, env=env)
    info = build_demo(tmp_path / "d", customers=5, env=env)
    dm = load(info.datamap, env=env)
    assert dm.sources["stripe"].http is not None and "stripe.charges" in dm.collections
    found = stripe_seed.get("/v1/customers", email=info.subject_email).json()["data"]
    assert len(found) == 1
    charges = stripe_seed.get("/v1/charges", customer=found[0]["id"]).json()["data"]
    assert len(charges) == 4  # three orders and the subscription's first invoice
