"""The `odr:` section of the data map: types, languages, and line-numbered errors."""

from __future__ import annotations

import pytest

from dsar.datamap.loader import parse
from dsar.demo.generate import packaged_datamap
from dsar.errors import DataMapError

BASE = """\
version: 1
sources:
  shop: {url: "sqlite://"}
collections:
  shop.customers:
    primary_key: [id]
    identities:
      email: {column: email}
    processing: {purpose: p, legal_basis: b, retention: r}
odr:
  languages: [en, nl]
  data_types:
    Person:
      context: https://schema.org/Person
      collections: [%s]
      processing_ground: %s
      erasable: true
      rectifiable: false
      description: {en: Account, nl: Account}
"""


def test_a_valid_section() -> None:
    dm = parse(BASE % ("shop.customers", "consent"))
    assert dm.odr is not None and dm.odr.collections_of(["Person"]) == {"shop.customers"}


def test_an_unknown_collection_names_its_line() -> None:
    with pytest.raises(DataMapError) as err:
        parse(BASE % ("shop.nope", "consent"), "map.yaml")
    assert "map.yaml:15: odr.data_types.Person.collections[0]: 'shop.nope' is not a declared collection" in str(
        err.value
    )


def test_an_unknown_processing_ground_is_refused() -> None:
    with pytest.raises(DataMapError) as err:
        parse(BASE % ("shop.customers", "becauseWeCan"), "map.yaml")
    assert "map.yaml:16: odr.data_types.Person.processing_ground" in str(err.value)


def test_descriptions_only_in_declared_languages() -> None:
    with pytest.raises(DataMapError):
        parse((BASE % ("shop.customers", "consent")).replace("nl: Account", "de: Konto"))


def test_the_demo_map_declares_odr_types() -> None:
    dm = parse(packaged_datamap(), env={"DATAMAP_DIR": "/tmp"})
    assert dm.odr is not None
    assert list(dm.odr.data_types) == ["Person", "Order", "Review", "Message", "LoginEvent", "Consent"]
    covered = {c for t in dm.odr.data_types.values() for c in t.collections}
    assert covered == set(dm.collections)  # every personal collection belongs to a type
