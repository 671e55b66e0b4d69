"""The privacy center's e-mails: every text of every template is translated in every shipped language (with the
same placeholders), every message renders in each, dates come out in the reader's locale, and a company's own
template folder replaces a shipped template without touching code."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dsar.verification.messages import CATALOGS, KINDS, LANGUAGES, TEMPLATES, Messages, best_language

METHODS = [("**.txt", "jinja2"), ("**.subject", "jinja2"), ("**.html", "jinja2")]
OPTIONS = {"**": {"extensions": "jinja2.ext.i18n"}}
CONTEXT = {
    "code": "123456",
    "minutes": 15,
    "reference": "AB12CD34",
    "type": "access",
    "due": date(2027, 3, 1),
    "status_url": "https://shop.example/privacy/status",
    "appeal_of": None,
    "reason": "many requests at once",
    "basis": "manifestly_unfounded",
    "law": "",
    "appeal_url": "https://shop.example/privacy/status",
    "appeal_until": date(2027, 4, 2),
    "regulator": "Office of the Attorney General",
    "download": True,
    "expires": date(2027, 3, 15),
    "agent": "Agent Smith",
    "url": "https://shop.example/privacy/verify/x",
}


def _texts() -> set[str]:
    return {
        m if isinstance(m, str) else m[0] for _f, _l, m, _c, _x in extract_from_dir(str(TEMPLATES), METHODS, OPTIONS)
    }


def test_every_language_translates_every_text_with_the_same_placeholders() -> None:
    texts = _texts()
    assert "We will answer by %(due)s." in texts
    for lang in LANGUAGES:
        with (CATALOGS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh)
        strings = {m.id: m.string for m in catalog if m.id}
        missing = sorted(texts - set(strings))
        assert not missing, f"{lang} lacks {missing}"
        if lang == "en":
            continue
        empty = sorted(t for t in texts if not strings[t])
        assert not empty, f"{lang} leaves untranslated {empty}"
        for t in texts:
            assert set(re.findall(r"%\(\w+\)s", t)) == set(re.findall(r"%\(\w+\)s", str(strings[t]))), (lang, t)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_renders_in_every_language(lang: str) -> None:
    m = Messages(company="Demo Shop")
    for kind in KINDS:
        r = m.render(kind, lang, **CONTEXT)
        assert r.subject and r.text and r.language == lang
        assert "%(" not in r.text and "{{" not in r.text
    german = m.render("received", "de", **CONTEXT)
    assert "1. März 2027" in german.text  # the reader's locale
    assert "March 1, 2027" in m.render("received", "en", **CONTEXT).text


def test_a_company_template_folder_replaces_a_shipped_template(tmp_path: Path) -> None:
    (tmp_path / "received.subject").write_text("{{ company }} got it: {{ reference }}\n")
    r = Messages(override_dir=tmp_path, company="Demo Shop").render("received", "en", **CONTEXT)
    assert r.subject == "Demo Shop got it: AB12CD34"
    assert "We will answer by March 1, 2027." in r.text  # the others stay shipped


def test_the_language_follows_accept_language() -> None:
    assert best_language("de-DE,de;q=0.9,en;q=0.5", LANGUAGES) == "de"
    assert best_language("it, fr;q=0.4", LANGUAGES) == "fr"
    assert best_language("", LANGUAGES) == "en"
