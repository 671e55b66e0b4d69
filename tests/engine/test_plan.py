"""The walk plan: entry points, dependency order, cycles as one unit, unreachable collections."""

from __future__ import annotations

import random
from typing import Any

import pytest

from dsar.datamap.model import DataMap
from dsar.engine.plan import Match, Plan, build_plan

PROCESSING = {"purpose": "p", "legal_basis": "b", "retention": "r"}


def coll(
    *refs: tuple[str, str], identity: str | None = None, pk: str = "id", exclude: list[str] | None = None
) -> dict[str, Any]:
    """A collection: `refs` are (column, "<source>.<collection>.<column>") pairs."""
    out: dict[str, Any] = {
        "primary_key": [pk],
        "references": [{"column": c, "to": to} for c, to in refs],
        "processing": PROCESSING,
    }
    if identity:
        out["identities"] = {"email": {"column": identity, "match": "lower_trim"}}
    if exclude:
        out["exclude"] = exclude
    return out


def datamap(collections: dict[str, dict[str, Any]]) -> DataMap:
    sources = {key.split(".")[0] for key in collections}
    return DataMap.model_validate(
        {"sources": {s: {"url": f"sqlite:///{s}.db"} for s in sorted(sources)}, "collections": collections}
    )


def unit_of(plan: Plan, key: str) -> int:
    return next(i for i, u in enumerate(plan.units) if key in [s.key for s in u.steps])


def shop() -> DataMap:
    return datamap(
        {
            "shop.customers": coll(identity="email", exclude=["password_hash"]),
            "shop.orders": coll(("customer_id", "shop.customers.id")),
            "shop.items": coll(("order_id", "shop.orders.id")),
            # reachable along two paths: from the customer and from the order
            "shop.notes": coll(("customer_id", "shop.customers.id"), ("order_id", "shop.orders.id")),
            "support.tickets": coll(identity="requester_email"),
            "support.messages": coll(("ticket_id", "support.tickets.id")),
            "shop.products": coll(),  # no identity, no reference
            "shop.product_images": coll(("product_id", "shop.products.id")),
        }
    )


def test_every_collection_with_an_identity_is_an_entry_point_with_no_prerequisite() -> None:
    plan = build_plan(shop())
    entries = [u for u in plan.units if any(m.kind == "identity" for s in u.steps for m in s.matches)]
    assert sorted(s.key for u in entries for s in u.steps) == ["shop.customers", "support.tickets"]
    assert all(u.after == set() and not u.cyclic for u in entries)
    customers = plan.steps["shop.customers"]
    assert customers.matches == [Match("identity", "email", identity="email", mode="lower_trim")]
    assert customers.exclude == ["password_hash"]
    assert customers.source == "shop" and customers.table == "customers"


def test_children_come_after_their_parents_and_parents_keep_only_needed_columns() -> None:
    plan = build_plan(shop())
    assert unit_of(plan, "shop.orders") > unit_of(plan, "shop.customers")
    assert unit_of(plan, "shop.items") > unit_of(plan, "shop.orders")
    assert unit_of(plan, "support.messages") > unit_of(plan, "support.tickets")
    assert plan.units[unit_of(plan, "shop.items")].after == {unit_of(plan, "shop.orders")}
    assert plan.units[unit_of(plan, "support.messages")].after == {unit_of(plan, "support.tickets")}
    assert plan.steps["shop.customers"].needed == {"id"}
    assert plan.steps["shop.orders"].needed == {"id"}
    assert plan.steps["shop.items"].needed == set()
    assert plan.steps["support.messages"].needed == set()


def test_a_collection_reached_along_two_paths_is_one_step_with_two_matches_after_both_parents() -> None:
    plan = build_plan(shop())
    steps = [s for u in plan.units for s in u.steps if s.key == "shop.notes"]
    assert len(steps) == 1
    assert steps[0].matches == [
        Match("reference", "customer_id", parent="shop.customers", parent_column="id"),
        Match("reference", "order_id", parent="shop.orders", parent_column="id"),
    ]
    notes = unit_of(plan, "shop.notes")
    assert plan.units[notes].after == {unit_of(plan, "shop.customers"), unit_of(plan, "shop.orders")}
    assert notes > unit_of(plan, "shop.orders") > unit_of(plan, "shop.customers")


def test_unreachable_collections_are_listed_and_not_planned() -> None:
    plan = build_plan(shop())
    assert plan.unreachable == ["shop.product_images", "shop.products"]
    planned = sorted(s.key for u in plan.units for s in u.steps)
    assert planned == [
        "shop.customers",
        "shop.items",
        "shop.notes",
        "shop.orders",
        "support.messages",
        "support.tickets",
    ]
    # still in steps (the check reports on them), but their keys are not fetched by anyone reachable
    assert set(plan.steps) == set(shop().collections)


def test_a_cycle_of_two_collections_is_one_cyclic_unit() -> None:
    dm = datamap(
        {
            "app.accounts": coll(("invite_id", "app.invites.id"), identity="email"),
            "app.invites": coll(("account_id", "app.accounts.id")),
            "app.sessions": coll(("account_id", "app.accounts.id")),
        }
    )
    plan = build_plan(dm)
    cyclic = [u for u in plan.units if u.cyclic]
    assert len(cyclic) == 1
    assert [s.key for s in cyclic[0].steps] == ["app.accounts", "app.invites"]
    sessions = unit_of(plan, "app.sessions")
    assert not plan.units[sessions].cyclic
    assert plan.units[sessions].after == {plan.units.index(cyclic[0])}
    assert plan.steps["app.accounts"].needed == {"id"}
    assert plan.steps["app.invites"].needed == {"id"}


def test_a_cycle_entered_from_outside_waits_for_its_parent() -> None:
    dm = datamap(
        {
            "app.users": coll(identity="email"),
            "app.a": coll(("user_id", "app.users.id"), ("b_id", "app.b.id")),
            "app.b": coll(("a_id", "app.a.id")),
        }
    )
    plan = build_plan(dm)
    assert [[s.key for s in u.steps] for u in plan.units] == [["app.users"], ["app.a", "app.b"]]
    assert plan.units[1].cyclic and plan.units[1].after == {0}
    assert plan.unreachable == []


def test_a_self_reference_is_a_cyclic_unit_of_one() -> None:
    dm = datamap({"hr.employees": coll(("manager_id", "hr.employees.id"), identity="email")})
    plan = build_plan(dm)
    assert len(plan.units) == 1
    unit = plan.units[0]
    assert unit.cyclic and unit.after == set()
    assert [s.key for s in unit.steps] == ["hr.employees"]
    assert [m.kind for m in unit.steps[0].matches] == ["identity", "reference"]
    assert unit.steps[0].needed == {"id"}


def test_describe_names_order_dependencies_cycles_and_unreachable() -> None:
    dm = datamap(
        {
            "shop.customers": coll(identity="email"),
            "shop.orders": coll(("customer_id", "shop.customers.id")),
            "hr.employees": coll(("manager_id", "hr.employees.id"), identity="email"),
            "shop.products": coll(),
        }
    )
    text = list(build_plan(dm).describe())
    assert text == [
        "1. shop.customers (after: none): WHERE lower(trim(email)) = <email>",
        "2. shop.orders (after: 1): WHERE customer_id IN <shop.customers.id>",
        "3. hr.employees (after: none) (cycle: read to a fixpoint): "
        "WHERE lower(trim(email)) = <email> OR manager_id IN <hr.employees.id>",
        "-  shop.products: not reachable from any identity (add an identity or a reference)",
    ]


def test_exact_identity_match_is_described_without_functions() -> None:
    dm = DataMap.model_validate(
        {
            "sources": {"s": {"url": "sqlite://"}},
            "collections": {
                "s.users": {
                    "primary_key": ["id"],
                    "identities": {"email": {"column": "email_norm", "match": "exact"}},
                    "processing": PROCESSING,
                }
            },
        }
    )
    assert list(build_plan(dm).describe()) == ["1. s.users (after: none): WHERE email_norm = <email>"]


def _sccs_by_reachability(nodes: list[str], edges: dict[str, set[str]]) -> set[frozenset[str]]:
    reach: dict[str, set[str]] = {}
    for n in nodes:
        seen, todo = {n}, [n]
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        reach[n] = seen
    return {frozenset(m for m in nodes if m in reach[n] and n in reach[m]) for n in nodes}


@pytest.mark.parametrize("seed", range(25))
def test_random_graphs_give_strongly_connected_units_in_dependency_order(seed: int) -> None:
    rnd = random.Random(seed)
    names = [f"c{i:02d}" for i in range(rnd.randint(2, 14))]
    colls: dict[str, dict[str, Any]] = {}
    edges: dict[str, set[str]] = {n: set() for n in names}  # parent -> children
    for n in names:
        parents = rnd.sample(names, rnd.randint(0, 2))
        for p in parents:
            edges[p].add(n)
        refs = [(f"{p}_id", f"db.{p}.id") for p in parents]
        colls[f"db.{n}"] = coll(*refs, identity="email" if rnd.random() < 0.25 else None)
    plan = build_plan(datamap(colls))

    roots = [n for n in names if "identities" in colls[f"db.{n}"]]
    reachable, todo = set(roots), list(roots)
    while todo:
        for child in edges[todo.pop()]:
            if child not in reachable:
                reachable.add(child)
                todo.append(child)
    assert plan.unreachable == sorted(f"db.{n}" for n in set(names) - reachable)

    sub = sorted(reachable)
    expected = _sccs_by_reachability(sub, {n: edges[n] & reachable for n in sub})
    got = {frozenset(s.key[3:] for s in u.steps) for u in plan.units}
    assert got == expected
    position = {s.key[3:]: i for i, u in enumerate(plan.units) for s in u.steps}
    for i, unit in enumerate(plan.units):
        members = [s.key[3:] for s in unit.steps]
        assert unit.cyclic == (len(members) > 1 or members[0] in edges[members[0]])
        assert unit.after == {position[p] for m in members for p in reachable if m in edges[p]} - {i}
        assert all(d < i for d in unit.after)
