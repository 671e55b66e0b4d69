"""Update the web pages' message catalogs from the templates and modules of dsar.api.web.

    .venv/bin/python scripts/web_catalog.py

Every catalog (src/dsar/api/web/locales/<lang>/LC_MESSAGES/messages.po) gains the new texts (empty, to
translate) and keeps its translations; texts no longer used are dropped. tests/unit/test_web_catalogs.py fails
when a catalog lacks a text.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

WEB = Path(__file__).resolve().parents[1] / "src" / "dsar" / "api" / "web"
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def template() -> Catalog:
    catalog = Catalog(project="dsar", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(str(WEB), METHODS, OPTIONS):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def main() -> None:
    pot = template()
    for po in sorted((WEB / "locales").glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=po.parents[1].name)
        catalog.update(pot, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with po.open("wb") as handle:
            write_po(handle, catalog, width=120, omit_header=False, no_location=True, sort_output=True)
        print(f"{po.relative_to(WEB)}: {len(catalog)} texts")


if __name__ == "__main__":
    main()
