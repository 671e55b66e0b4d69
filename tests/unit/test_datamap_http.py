"""HTTP sources in the data map: secrets only from the environment, shipped definitions, the resources a
collection needs, and `dsar datamap check` against localstripe (reachable, credentials accepted, every
lookup a filter of the API)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsar.cli.app import app
from dsar.connectors.registry import connect
from dsar.datamap.loader import parse
from dsar.engine.check import CheckReport, check
from dsar.engine.execute import Sources
from dsar.errors import DataMapError
from tests.stripe import KEY

PROCESSING = "processing: {purpose: p, legal_basis: b, retention: r}"


def stripe_map(
    auth: str = '{type: bearer, token: "${STRIPE_KEY}"}', identity: str = "email", erasure: str = "delete"
) -> str:
    return f"""
sources:
  stripe:
    url: ${{STRIPE_URL}}
    http:
      definition: stripe
      auth: {auth}
collections:
  stripe.customers:
    primary_key: [id]
    identities: {{email: {{column: {identity}, match: exact}}}}
    erasure: {{action: {erasure}}}
    {PROCESSING}
  stripe.charges:
    primary_key: [id]
    references: [{{column: customer, to: stripe.customers.id}}]
    erasure: {{action: keep, reason: accounting}}
    {PROCESSING}
"""


ENV = {"STRIPE_URL": "http://127.0.0.1:9", "STRIPE_KEY": KEY}


def problems(text: str, env: dict[str, str] = ENV) -> str:
    with pytest.raises(DataMapError) as info:
        parse(text, "dm.yaml", env)
    return str(info.value)


def test_the_shipped_definition_fills_the_source_and_the_secret_comes_from_the_environment() -> None:
    dm = parse(stripe_map(), "dm.yaml", ENV)
    http = dm.sources["stripe"].http
    assert http is not None and http.auth.token == KEY and http.ping == "/v1/balance"
    assert set(http.resources) == {"customers", "charges", "invoices", "payment_methods", "subscriptions"}
    assert http.resources["customers"].filters["email"].param == "email"
    assert http.pagination_of(http.resources["charges"]).type == "has_more"


def test_a_literal_secret_is_refused_with_its_line() -> None:
    text = stripe_map(auth="{type: bearer, token: sk_live_literal}")
    assert "dm.yaml:7: sources.stripe.http.auth.token: write the secret as ${ENV_VAR}" in problems(text)
    text = stripe_map(auth='{type: basic, username: u, password: "pre-${STRIPE_KEY}"}')
    assert "http.auth.password: write the secret as ${ENV_VAR}" in problems(text)


def test_an_unset_secret_variable_is_named() -> None:
    text = stripe_map(auth='{type: header, name: X-Api-Key, value: "${NOT_SET_ANYWHERE}"}')
    assert "uses ${NOT_SET_ANYWHERE}, which is not set" in problems(text)


def test_incomplete_auth_and_unknown_definitions_are_refused() -> None:
    assert "needs token_url, client_id, client_secret" in problems(stripe_map(auth="{type: oauth2}"))
    assert "no definition 'paypal' ships with dsar" in problems(
        stripe_map().replace("definition: stripe", "definition: paypal")
    )


def test_collections_need_a_declared_resource_and_its_write_requests() -> None:
    text = stripe_map().replace("stripe.charges:", "stripe.refunds:")
    assert "collections.stripe.refunds: source 'stripe' declares no resource 'refunds'" in problems(text)
    text = stripe_map().replace("{action: keep, reason: accounting}", "{action: delete}")
    assert (
        "collections.stripe.charges: erasure deletes rows but resource 'charges' has no `delete` request"
        in problems(text)
    )


def test_an_http_url_without_an_http_block_is_refused() -> None:
    text = f"""
sources:
  api: {{url: "https://api.example.com"}}
collections:
  api.people: {{primary_key: [id], identities: {{email: {{column: email}}}}, {PROCESSING}}}
"""
    assert "an http(s) source needs an `http:` block" in problems(text)


def run_check(text: str, env: dict[str, str]) -> CheckReport:
    dm = parse(text, "dm.yaml", env)
    sources = Sources(dm, connect)
    try:
        return check(dm, sources)
    finally:
        sources.dispose()


def test_check_connects_and_accepts_filtered_lookups(localstripe: str) -> None:
    rep = run_check(stripe_map(), {"STRIPE_URL": localstripe, "STRIPE_KEY": KEY})
    assert rep.ok, rep.errors
    assert "source stripe: connected (http)" in rep.lines
    assert not rep.warnings  # no index advice for an API
    assert any("GET /v1/customers?email=<value>" in line for line in rep.lines)
    assert any("GET /v1/charges?customer=<value> for each value" in line for line in rep.lines)


def test_check_rejects_a_lookup_the_api_cannot_filter(localstripe: str) -> None:
    rep = run_check(stripe_map(identity="name"), {"STRIPE_URL": localstripe, "STRIPE_KEY": KEY})
    assert not rep.ok
    assert any(
        e.startswith("stripe.customers: the source 'stripe' cannot look rows up by 'name'") and "never lists" in e
        for e in rep.errors
    ), rep.errors


def test_check_says_when_the_credentials_are_refused(localstripe: str) -> None:
    rep = run_check(stripe_map(), {"STRIPE_URL": localstripe, "STRIPE_KEY": "pk_wrong"})
    assert len(rep.errors) == 1 and rep.errors[0].startswith("source stripe: ")
    assert "authentication failed" in rep.errors[0] and "pk_wrong" not in rep.errors[0]


def test_the_cli_check_fails_on_a_listing_lookup(
    localstripe: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dm.yaml"
    path.write_text(stripe_map(identity="name"), encoding="utf-8")
    monkeypatch.setenv("STRIPE_URL", localstripe)
    monkeypatch.setenv("STRIPE_KEY", KEY)
    result = CliRunner().invoke(app, ["datamap", "check", str(path)])
    assert result.exit_code != 0 and "cannot look rows up by 'name'" in result.output


def test_a_secret_never_shows_in_a_repr() -> None:
    dm = parse(stripe_map(), "dm.yaml", ENV)
    assert KEY not in repr(dm) and KEY not in str(dm.sources["stripe"])
