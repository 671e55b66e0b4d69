"""Manual sources in the data map: a `manual:` block without url or collections; mistakes name file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsar.datamap.loader import parse
from dsar.errors import DataMapError
from tests.unit.test_datamap_loader import ENV, GOOD

MANUAL = """\
  crm:
    description: The sales CRM
    manual:
      respondent: searcher@crm-vendor.example
      remind_every_days: 2
      deadline_days: 10
      on_timeout: complete_without
"""


def _with(block: str, extra: str = "") -> str:
    return GOOD.replace("collections:\n", block + "collections:\n" + extra, 1)


def _error(text: str) -> str:
    with pytest.raises(DataMapError) as info:
        parse(text, "dm.yaml", ENV)
    return info.value.message


def test_a_manual_source_parses_with_its_policy() -> None:
    dm = parse(_with(MANUAL), "dm.yaml", ENV)
    crm = dm.manual_sources()["crm"]
    assert (crm.respondent, crm.remind_every_days, crm.deadline_days, crm.on_timeout) == (
        "searcher@crm-vendor.example",
        2,
        10,
        "complete_without",
    )
    assert list(dm.manual_sources()) == ["crm"]  # the SQL source is not manual
    assert crm.instructions == ""


def test_a_collection_under_a_manual_source_is_refused() -> None:
    extra = "  crm.contacts:\n    primary_key: [id]\n    processing: {purpose: p, legal_basis: b, retention: r}\n"
    msg = _error(_with(MANUAL, extra))
    assert "collections.crm.contacts: source 'crm' is manual" in msg
    assert msg.startswith("dm.yaml:")


def test_a_url_on_a_manual_source_is_refused() -> None:
    msg = _error(_with(MANUAL.replace("    manual:\n", "    url: sqlite:///x.db\n    manual:\n")))
    assert "sources.crm.url: a manual source has no url" in msg


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("on_timeout: complete_without", "on_timeout: wait", "on_timeout"),
        ("deadline_days: 10", "deadline_days: 0", "deadline_days"),
        ("respondent: searcher@crm-vendor.example", "respondent: nobody", "respondent"),
    ],
)
def test_a_bad_policy_is_named(old: str, new: str, named: str) -> None:
    msg = _error(_with(MANUAL.replace(old, new)))
    assert f"sources.crm.manual.{named}" in msg


def test_datamap_check_lists_a_manual_source_without_connecting(tmp_path: Path) -> None:
    from tests.unit.test_datamap_check import GOOD_INDEXES, TABLES, run_check, write

    path = write(tmp_path, TABLES + GOOD_INDEXES)
    path.write_text(path.read_text().replace("collections:\n", MANUAL + "collections:\n", 1))
    rep = run_check(path)
    assert rep.errors == [] and rep.ok
    assert "source crm: manual (reminders every 2 days, complete_without after 10 days)" in rep.lines
