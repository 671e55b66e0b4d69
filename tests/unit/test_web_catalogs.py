"""Every text of the web pages (templates and dsar.api.web modules) is in every message catalog."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from dsar.api.web.i18n import LOCALES_DIR, available_locales

WEB = Path(__file__).resolve().parents[2] / "src" / "dsar" / "api" / "web"
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def _texts() -> set[str]:
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(WEB), METHODS, OPTIONS):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_the_extractor_finds_the_texts() -> None:
    assert "Skip to content" in _texts()


def test_every_catalog_has_every_text() -> None:
    texts = _texts()
    assert "en" in available_locales()
    for locale in available_locales():
        with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
        missing = sorted(texts - ids)
        assert not missing, f"{locale} catalog lacks {missing[:20]} (add them to its messages.po)"
