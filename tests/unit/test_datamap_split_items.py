"""A flow list item YAML split at its commas (`[a (b, c)]`) is a warning with its line; `datamap check` prints it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dsar.cli.app import app as cli
from dsar.datamap.loader import parse
from dsar.demo.generate import packaged_datamap

MAP = """\
version: 1
sources:
  shop:
    url: "sqlite:///${{DATAMAP_DIR}}/shop.sqlite"
collections:
  shop.customers:
    primary_key: [id]
    identities:
      email: {{column: email}}
    processing:
      purpose: p
      legal_basis: b
      retention: r
      recipients: {recipients}
"""


def warnings_for(recipients: str) -> list[str]:
    return parse(MAP.format(recipients=recipients), "dm.yaml", {"DATAMAP_DIR": "/data"}).load_warnings


def test_an_item_split_at_its_comma_is_a_warning_with_its_line() -> None:
    dm = parse(
        MAP.format(recipients="[Carriers, IT hosting provider (processor, EU), Auditors]"),
        "dm.yaml",
        {"DATAMAP_DIR": "/data"},
    )
    assert dm.collections["shop.customers"].processing.recipients == [  # what YAML made of it
        "Carriers",
        "IT hosting provider (processor",
        "EU)",
        "Auditors",
    ]
    assert dm.load_warnings == [
        "dm.yaml:14: collections.shop.customers.processing.recipients: the items 'IT hosting provider (processor', "
        "'EU)' look like one value split at its commas; quote it: \"IT hosting provider (processor, EU)\""
    ]


def test_a_value_split_into_three_items_is_one_warning() -> None:
    (warning,) = warnings_for("[Hosting (processor, EU, ISO 27001)]")
    assert "'Hosting (processor', 'EU', 'ISO 27001)'" in warning and '"Hosting (processor, EU, ISO 27001)"' in warning


def test_quoted_balanced_and_block_lists_are_not_warned_about() -> None:
    assert warnings_for('["IT hosting provider (processor, EU)", Auditors]') == []
    assert warnings_for("[Public (visitors of the shop), Carriers (EU)]") == []
    assert warnings_for("\n        - IT hosting provider (processor, EU)\n        - Auditors") == []
    assert warnings_for("[a closing) first, then (an opening]") == []


def test_datamap_check_prints_the_warning(tmp_path: Path) -> None:
    path = tmp_path / "datamap.yaml"
    path.write_text(MAP.format(recipients="[IT hosting provider (processor, EU)]"))
    r = CliRunner().invoke(cli, ["datamap", "check", str(path)])
    assert f"warning: {path}:14: collections.shop.customers.processing.recipients: the items" in r.stdout
    assert "1 warning(s)" in r.stdout


def test_the_demo_map_has_no_split_items(tmp_path: Path) -> None:
    dm = parse(packaged_datamap(), "datamap.yaml", {"DATAMAP_DIR": str(tmp_path)})
    assert dm.load_warnings == []
    hosting = "IT hosting provider (processor, EU)"
    assert hosting in dm.collections["shop.customers"].processing.recipients
