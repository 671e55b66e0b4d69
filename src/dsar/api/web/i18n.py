"""Texts and dates in the reader's language: Babel message catalogs and locale formatting.

Catalogs are the `.po` files under `locales/<lang>/LC_MESSAGES/messages.po`, read with Babel and compiled in
memory at first use (no build step, no binary file in the repository). English is the source language: a
missing or empty translation shows the English text. `pybabel extract -F babel.cfg` lists the texts of the
templates and of this package (tests/unit/test_web_catalogs.py fails when a catalog lacks one).
"""

from __future__ import annotations

import datetime as dt
import gettext
from functools import cache
from importlib.resources import files
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from starlette.requests import Request

DEFAULT_LOCALE = "en"
LOCALES_DIR = Path(str(files("dsar.api.web").joinpath("locales")))


def N_(text: str) -> str:
    """Marks `text` for the catalogs (pybabel's default keyword); the page translates it when it shows it."""
    return text


def available_locales() -> list[str]:
    return sorted(p.name for p in LOCALES_DIR.iterdir() if (p / "LC_MESSAGES" / "messages.po").is_file())


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The catalog of `locale` (English texts when there is none)."""
    po = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def negotiate(request: Request) -> str:
    """The reader's language: `?lang=`, then the `dsar_lang` cookie, then Accept-Language; English otherwise."""
    available = available_locales()
    for asked in (request.query_params.get("lang"), request.cookies.get("dsar_lang")):
        if asked and asked in available:
            return asked
    header = request.headers.get("accept-language", "")
    preferred = [part.split(";")[0].strip().replace("-", "_") for part in header.split(",") if part.strip()]
    try:
        found = Locale.negotiate(preferred, available, sep="_")
    except (UnknownLocaleError, ValueError):
        found = None
    return str(found) if found else DEFAULT_LOCALE


class Formatter:
    """Dates, times and numbers for one locale; times shown in `zone` (the company's time zone)."""

    def __init__(self, locale: str, zone: Any = dt.UTC) -> None:
        self.locale = locale
        self.zone = zone

    def date(self, value: dt.date | dt.datetime | None, form: str = "medium") -> str:
        if value is None:
            return ""
        if isinstance(value, dt.datetime):
            value = self._local(value).date()
        return format_date(value, format=form, locale=self.locale)

    def datetime(self, value: dt.datetime | None, form: str = "medium") -> str:
        if value is None:
            return ""
        return format_datetime(self._local(value), format=form, locale=self.locale)

    def number(self, value: float | int | None) -> str:
        return "" if value is None else format_decimal(value, locale=self.locale)

    def _local(self, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(self.zone)
