"""Every text of the web pages (templates and dsar.api.web modules) is in every message catalog, and every
catalog but the English source translates every text with the same placeholders and markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dsar.api.web.i18n import DEFAULT_LOCALE, LOCALES_DIR, available_locales

WEB = Path(__file__).resolve().parents[2] / "src" / "dsar" / "api" / "web"
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
# a %-conversion (%(name)s, %s, %%), a bare % (which breaks formatting), or an HTML tag
TOKEN = re.compile(r"%(?:\([^)]*\))?[#0\- +]*\d*(?:\.\d+)?[a-zA-Z%]|%|<[^>]*>")
TRANSLATED = [locale for locale in available_locales() if locale != DEFAULT_LOCALE]


def _texts() -> set[str]:
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(WEB), METHODS, OPTIONS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(locale: str) -> Catalog:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def _tokens(text: str) -> list[str]:
    return sorted(TOKEN.findall(text))


def _problems(message: Message) -> list[str]:
    """What is wrong with one message's translation: empty, fuzzy, or other placeholders or markup."""
    ids = [message.id] if isinstance(message.id, str) else list(message.id)
    strings = [message.string] if isinstance(message.string, str) else list(message.string)
    if message.fuzzy:
        return [f"{ids[0]!r} is marked fuzzy (the pages ignore it)"]
    if not all(strings):
        return [f"{ids[0]!r} is not translated"]
    expected = _tokens(ids[-1])  # a plural's forms follow msgid_plural (the same placeholders as msgid here)
    return [f"{ids[0]!r}: {s!r} has {_tokens(s)}, not {expected}" for s in strings if _tokens(s) != expected]


def test_the_extractor_finds_the_texts() -> None:
    assert "Skip to content" in _texts()


def test_every_catalog_has_every_text() -> None:
    texts = _texts()
    assert "en" in available_locales()
    for locale in available_locales():
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog(locale) if m.id}
        missing = sorted(texts - ids)
        assert not missing, f"{locale} catalog lacks {missing[:20]} (add them to its messages.po)"


def test_there_are_catalogs_to_translate() -> None:
    assert {"de", "fr", "es"} <= set(TRANSLATED)


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_text_is_translated_with_its_placeholders(locale: str) -> None:
    problems = [p for m in _catalog(locale) if m.id for p in _problems(m)]
    assert not problems, f"{locale}: {len(problems)} problem(s), for example {problems[:10]}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_plural_texts_have_every_form_of_the_language(locale: str) -> None:
    catalog = _catalog(locale)
    plurals = [m for m in catalog if m.id and not isinstance(m.id, str)]
    assert plurals, "the console's day counts are plural texts"
    for m in plurals:
        assert len(m.string) == catalog.num_plurals, f"{locale}: {m.id[0]!r} has {len(m.string)} forms"


def test_the_checks_catch_a_lost_placeholder_an_empty_text_and_a_stray_percent() -> None:
    assert _problems(Message("Available until %(until)s.", "Verfügbar bis %(until)s.")) == []
    assert _problems(Message("Available until %(until)s.", "Verfügbar bis %(bis)s."))
    assert _problems(Message("Available until %(until)s.", "Verfügbar."))
    assert _problems(Message("Requests", ""))
    assert _problems(Message("Requests", "100 % Anträge"))
    assert _problems(Message(("%(num)s day", "%(num)s days"), ("%(num)s Tag", "")))
    assert _problems(Message(("%(num)s day", "%(num)s days"), ("ein Tag", "%(num)s Tage")))
    assert _problems(Message("Requests", "<b>Anträge</b>"))
