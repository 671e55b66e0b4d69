"""The privacy center's e-mails: Jinja2 templates (a company replaces any of them from a folder, without touching
code) translated through message catalogs (gettext `.po`, one per language), dates in the reader's locale.

A message is `<kind>.subject` and `<kind>.txt` (plain text, the one every mail client shows) and `base.html`, the
HTML alternative built from the text. The catalogs are read from `.po` files when first used (no compiled
`.mo` files to keep in step).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates" / "email"
CATALOGS = HERE / "locale"
LANGUAGES = ("en", "de", "fr", "es")  # the catalogs shipped
KINDS = ("code", "confirm_agent", "received", "extended", "denied", "completed", "reminder")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    language: str


def catalog(language: str) -> Translations:
    """The language's translations from its `.po` file (English: the message ids themselves)."""
    path = CATALOGS / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return Translations()
    with path.open("rb") as fh:
        cat = read_po(fh, locale=language)
    buf = io.BytesIO()
    write_mo(buf, cat)
    buf.seek(0)
    return Translations(buf)


def best_language(accept: str | None, offered: tuple[str, ...] | list[str]) -> str:
    """The first language of an Accept-Language header (by q) that is offered; the first offered otherwise."""
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag:
            choices.append((-q, i, tag.strip().lower()))
    for _q, _i, tag in sorted(choices):
        base = tag.split("-")[0]
        if base in offered:
            return base
    return offered[0]


def local_date(value: date | datetime | None, language: str) -> str:
    if value is None:
        return ""
    try:
        return format_date(value, format="long", locale=Locale.parse(language))
    except (UnknownLocaleError, ValueError):
        return format_date(value, format="long", locale="en")


class Messages:
    def __init__(self, *, override_dir: Path | None = None, company: str, color: str = "#2457d6") -> None:
        loaders = [FileSystemLoader(str(override_dir))] if override_dir else []
        self.loader = ChoiceLoader([*loaders, FileSystemLoader(str(TEMPLATES))])
        self.company, self.color = company, color
        self._envs: dict[str, Environment] = {}
        self._lock = threading.Lock()

    def env(self, language: str) -> Environment:
        language = language if language in LANGUAGES else "en"
        with self._lock:
            env = self._envs.get(language)
            if env is None:
                env = Environment(
                    loader=self.loader,
                    autoescape=select_autoescape(["html"], default_for_string=False, default=False),
                    extensions=["jinja2.ext.i18n"],
                    undefined=StrictUndefined,
                    keep_trailing_newline=False,
                )
                env.install_gettext_translations(catalog(language), newstyle=True)  # type: ignore[attr-defined]
                env.filters["date"] = lambda v: local_date(v, language)
                self._envs[language] = env
            return env

    def render(self, kind: str, language: str, **context: Any) -> Rendered:
        if kind not in KINDS:
            raise ValueError(f"unknown message {kind!r}")
        env = self.env(language)
        lang = language if language in LANGUAGES else "en"
        ctx = {"company": self.company, "lang": lang, "color": self.color, **context}
        subject = " ".join(env.get_template(f"{kind}.subject").render(ctx).split())
        text = _tidy(env.get_template(f"{kind}.txt").render(ctx))
        html = env.get_template("base.html").render({**ctx, "subject": subject, "text": text})
        return Rendered(subject, text, html, lang)


def _tidy(text: str) -> str:
    """At most one blank line between paragraphs, no trailing spaces."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out) + "\n"
