"""Loading the data map: every error names the file, the line and what to change."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsar.datamap.loader import load, parse
from dsar.demo.generate import packaged_datamap
from dsar.errors import DataMapError

# Line numbers matter below: they are asserted in the error messages.
GOOD = """\
version: 1
sources:
  shop:
    url: "sqlite:///${DATAMAP_DIR}/shop.sqlite"
collections:
  shop.customers:
    primary_key: [id]
    identities:
      email: {column: email, match: lower_trim}
    exclude: [password_hash]
    processing: {purpose: p, legal_basis: b, retention: r}
  shop.orders:
    primary_key: [id]
    references:
      - {column: customer_id, to: shop.customers.id}
    fields:
      total: {categories: [user.financial], erase: keep}
    processing: {purpose: p, legal_basis: b, retention: r}
"""
ENV = {"DATAMAP_DIR": "/data"}


def error_of(text: str, filename: str = "dm.yaml", env: dict[str, str] | None = None) -> str:
    with pytest.raises(DataMapError) as info:
        parse(text, filename, ENV if env is None else env)
    assert info.value.code == "DataMapInvalid" and info.value.kind == "config"
    return info.value.message


def edit(old: str, new: str) -> str:
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


def test_the_example_parses_with_references_identities_and_env() -> None:
    dm = parse(GOOD, "dm.yaml", ENV)
    assert dm.sources["shop"].url == "sqlite:////data/shop.sqlite"
    assert sorted(dm.collections) == ["shop.customers", "shop.orders"]
    ref = dm.collections["shop.orders"].references[0]
    assert (ref.column, ref.parent, ref.parent_column) == ("customer_id", "shop.customers", "id")
    assert dm.collections["shop.customers"].identities["email"].match == "lower_trim"
    assert dm.collections["shop.customers"].exclude == ["password_hash"]
    assert dm.table_of("shop.orders") == "orders"
    assert dm.identities == {"email": "email"}


def test_a_misspelt_key_is_named_with_its_line_and_the_missing_one_too() -> None:
    msg = error_of(edit("    primary_key: [id]\n    references:", "    primary_kye: [id]\n    references:"))
    assert msg.splitlines() == [
        "dm.yaml:12: collections.shop.orders.primary_key: add `primary_key`",
        "dm.yaml:13: collections.shop.orders.primary_kye: remove `primary_kye` or check its spelling",
    ]


def test_a_missing_required_key_points_at_its_collection() -> None:
    msg = error_of(edit("    processing: {purpose: p, legal_basis: b, retention: r}\n  shop.orders:", "  shop.orders:"))
    assert msg == "dm.yaml:6: collections.shop.customers.processing: add `processing`"


def test_a_missing_nested_key_points_at_its_mapping() -> None:
    msg = error_of(edit("      email: {column: email, match: lower_trim}", "      email: {match: lower_trim}"))
    assert msg == "dm.yaml:9: collections.shop.customers.identities.email.column: add `column`"


def test_a_wrong_enum_value_lists_the_allowed_ones() -> None:
    msg = error_of(edit("match: lower_trim", "match: lowercase"))
    assert msg == ("dm.yaml:9: collections.shop.customers.identities.email.match: use one of 'lower_trim' or 'exact'")
    msg = error_of(edit("erase: keep", "erase: forget"))
    assert msg.startswith("dm.yaml:17: collections.shop.orders.fields.total.erase: use one of ")
    assert "'delete_row'" in msg


def test_a_reference_to_an_unknown_collection() -> None:
    msg = error_of(edit("to: shop.customers.id", "to: shop.custmers.id"))
    assert msg == (
        "dm.yaml:15: collections.shop.orders.references[0].to: 'shop.custmers.id' is not "
        "`<source>.<collection>.<column>` of a declared collection"
    )
    msg = error_of(edit("to: shop.customers.id", "to: customers.id"))
    assert msg.startswith("dm.yaml:15: collections.shop.orders.references[0].to: 'customers.id' is not")


def test_an_identity_that_is_not_declared() -> None:
    msg = error_of(edit("      email: {column: email", "      phone: {column: email"))
    assert msg == "dm.yaml:9: collections.shop.customers.identities: unknown identity 'phone'; use one of ['email']"


def test_a_collection_of_an_undeclared_source() -> None:
    msg = error_of(edit("  shop.orders:", "  billing.orders:"))
    assert msg == (
        "dm.yaml:12: collections.billing.orders: name it `<source>.<collection>` with a source declared under `sources`"
    )


def test_a_field_that_is_also_excluded() -> None:
    msg = error_of(
        edit("    exclude: [password_hash]", "    exclude: [password_hash]\n    fields: {password_hash: {}}")
    )
    assert msg == "dm.yaml:11: collections.shop.customers.fields.password_hash is also in `exclude`; keep one"


def test_an_unset_environment_variable_is_named_not_replaced_silently() -> None:
    msg = error_of(edit("${DATAMAP_DIR}/shop.sqlite", "${SHOP_DB_PASSWORD}@db"))
    assert msg == (
        "dm.yaml:4: sources.shop.url uses ${SHOP_DB_PASSWORD}, which is not set; set the environment variable"
    )
    dm = parse(edit("${DATAMAP_DIR}/shop.sqlite", "${SHOP_DB_PASSWORD}@db"), "dm.yaml", {"SHOP_DB_PASSWORD": "s3"})
    assert dm.sources["shop"].url == "sqlite:///s3@db"


def test_an_unset_variable_and_a_schema_error_are_both_reported() -> None:
    text = edit("${DATAMAP_DIR}/shop.sqlite", "${NOPE}").replace("match: lower_trim", "match: lowercase")
    lines = error_of(text).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == ["dm.yaml:4", "dm.yaml:9"]


def test_invalid_yaml_names_the_line() -> None:
    msg = error_of(edit("    references:\n", "    references:\n  - [oops\n"))
    assert msg.startswith("dm.yaml:") and "not valid YAML" in msg
    line = int(msg.split(":")[1])
    assert 15 <= line <= 16
    msg = error_of("sources:\n  shop:\n\turl: x\n")
    assert msg.startswith("dm.yaml:3: not valid YAML")


def test_duplicate_keys_are_an_error_not_a_silent_override() -> None:
    msg = error_of(edit('    url: "sqlite:///${DATAMAP_DIR}/shop.sqlite"\n', "    url: a\n    url: b\n"))
    assert msg == "dm.yaml:5: duplicate key 'url'; keep one"
    msg = error_of(GOOD + "  shop.orders:\n    primary_key: [id]\n")
    assert msg == "dm.yaml:19: duplicate key 'shop.orders'; keep one"


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_an_empty_file(text: str) -> None:
    assert error_of(text) == "dm.yaml:1: the data map is empty; declare `sources` and `collections`"


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n"])
def test_a_file_that_is_not_a_mapping(text: str) -> None:
    assert error_of(text) == "dm.yaml:1: the data map must be a mapping with `sources` and `collections`"


def test_sources_that_are_not_a_mapping_give_an_error_not_a_crash() -> None:
    msg = error_of("sources: [shop]\ncollections: {}\n")
    assert msg.startswith("dm.yaml:1: sources: ")


def test_a_wrong_version() -> None:
    assert error_of(edit("version: 1", "version: 2")) == "dm.yaml:1: version: use one of 1"


def test_anchors_and_aliases_are_resolved() -> None:
    text = """\
sources: {s: {url: "sqlite://"}}
collections:
  s.a:
    primary_key: [id]
    identities: {email: {column: email}}
    processing: &facts {purpose: p, legal_basis: b, retention: r, recipients: [x]}
  s.b:
    primary_key: [id]
    processing: *facts
"""
    dm = parse(text, "dm.yaml", {})
    assert dm.collections["s.b"].processing.recipients == ["x"]
    assert dm.collections["s.a"].processing == dm.collections["s.b"].processing


def test_load_substitutes_the_files_own_directory(tmp_path: Path) -> None:
    sub = tmp_path / "conf dir"
    sub.mkdir()
    path = sub / "datamap.yaml"
    path.write_text(GOOD, encoding="utf-8")
    dm = load(path, env={"DATAMAP_DIR": "/elsewhere"})  # the file's directory wins
    assert dm.sources["shop"].url == f"sqlite:///{sub.resolve()}/shop.sqlite"


def test_load_errors_carry_the_path(tmp_path: Path) -> None:
    path = tmp_path / "datamap.yaml"
    path.write_text(edit("match: lower_trim", "match: lowercase"), encoding="utf-8")
    with pytest.raises(DataMapError) as info:
        load(path, env={})
    assert info.value.message.startswith(f"{path}:9: collections.shop.customers.identities.email.match")


def test_load_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataMapError) as info:
        load(tmp_path / "nope.yaml", env={})
    assert info.value.message.startswith(f"{tmp_path / 'nope.yaml'}: cannot read the data map")
    assert "DSAR_DATAMAP" in info.value.message


def test_the_demo_data_map_loads(tmp_path: Path) -> None:
    path = tmp_path / "datamap.yaml"
    path.write_text(packaged_datamap(), encoding="utf-8")
    dm = load(path, env={})
    assert dm.sources["shop"].url == f"sqlite:///{tmp_path.resolve()}/shop.sqlite"
    assert dm.sources["support"].url == f"sqlite:///{tmp_path.resolve()}/support.sqlite"
    assert len(dm.collections) == 10
    assert dm.collections["shop.customers"].exclude == ["password_hash"]
    assert dm.collections["shop.order_items"].processing == dm.collections["shop.orders"].processing
    with_identity = sorted(k for k, c in dm.collections.items() if c.identities)
    assert with_identity == ["shop.customers", "support.tickets"]


def test_a_key_that_is_not_a_plain_name() -> None:
    assert error_of(GOOD + "? [a, b]\n: 1\n") == "dm.yaml:19: use a plain name as key"
