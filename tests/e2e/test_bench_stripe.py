"""`python -m bench.stripe`'s measurement, tiny: the request count of a Stripe retrieval is what the
pagination implies (a figure, not a timing), and the walk finds every row."""

from __future__ import annotations

from bench.stripe import expected_requests, measure

from tests.stripe import Seed


def test_a_stripe_retrieval_sends_one_request_per_page(localstripe: str, stripe_seed: Seed) -> None:
    figures = measure(localstripe, charges=120, runs=1)
    run = figures["runs"][0]
    assert run["requests"] == expected_requests(120) == 6  # charges: 121 rows in 2 pages of 100
    assert run["records"] == 1 + 121 + 1 + 1 + 1  # customer, charges, invoice, card, subscription
    assert run["archive_bytes"] > 0
