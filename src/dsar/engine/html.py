"""The archive's `index.html`: a self-contained offline viewer, streamed in chunks of about 64 KiB.

No network and no JavaScript needed (a tiny inline script, pinned by its hash in the page's CSP, only
adds table filtering). Every value from the data or the data map is HTML-escaped.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from html import escape
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from dsar.engine import spool as sealed_spool
from dsar.engine.results import ArchiveMeta, CollectionResult, SourceReport

__all__ = ["render_index"]

CHUNK = 64 * 1024
MAX_CELL = 1000  # characters shown per cell; the data files hold the full value

_STATUS_TEXT = {
    "found": "data found",
    "not_found": "nothing held",
    "failed": "could not be searched",
    "skipped": "not searched",
}
_FACTS = (
    ("purpose", "Purpose"),
    ("legal_basis", "Legal basis"),
    ("retention", "Retention"),
    ("recipients", "Recipients"),
    ("origin", "Origin of the data"),
)

_CSS = """
:root{--fg:#1d2330;--muted:#5d6678;--bg:#f6f7fb;--card:#fff;--line:#e3e6ee;--accent:#2f5bd3;
--ok:#1f7a45;--okbg:#e3f4ea;--warn:#8a5a00;--warnbg:#fdf1d8;--bad:#a3252b;--badbg:#fbe4e5;--nil:#eef0f4}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg)}
header{background:#1d2a4d;color:#fff;padding:28px 0 24px}
header p{margin:4px 0;color:#cdd5ea}
.wrap{max-width:1180px;margin:0 auto;padding:0 24px}
h1{margin:0 0 8px;font-size:26px}
h2{font-size:20px;margin:36px 0 12px}
h3{font-size:17px;margin:0 0 4px}
section.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:20px;
margin:16px 0}
.lead{color:var(--muted);margin:0 0 12px}
.stats{display:flex;gap:16px;flex-wrap:wrap;margin:18px 0 0}
.stat{background:rgba(255,255,255,.1);border-radius:8px;padding:10px 16px}
.stat b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#f0f2f7;position:sticky;top:0}
th small{display:block;font-weight:normal;color:var(--muted)}
tbody tr:nth-child(even){background:#fafbfd}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td code{font-size:12px;white-space:pre-wrap;word-break:break-all}
td{word-break:break-word;max-width:420px;white-space:pre-wrap}
.nil{color:#9aa1b0}
.scroll{overflow:auto;max-height:640px;border:1px solid var(--line);border-radius:6px}
.badge{display:inline-block;border-radius:99px;padding:1px 10px;font-size:13px;white-space:nowrap}
.found{background:var(--okbg);color:var(--ok)}.not_found{background:var(--nil);color:var(--muted)}
.failed{background:var(--badbg);color:var(--bad)}.skipped{background:var(--warnbg);color:var(--warn)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:12px 0}
dt{color:var(--muted)}dd{margin:0}
.note{color:var(--muted);font-size:14px}
input[type=search]{padding:6px 10px;border:1px solid var(--line);border-radius:6px;margin:0 0 8px;
width:min(360px,100%)}
a{color:var(--accent)}
footer{color:var(--muted);font-size:13px;padding:24px 0 40px}
@media print{header{background:none;color:#000}header p{color:#333}.scroll{max-height:none;
overflow:visible}input{display:none}}
"""

_SCRIPT = (
    "document.querySelectorAll('input[data-filter]').forEach(function(i){i.hidden=false;"
    "i.addEventListener('input',function(){var q=i.value.toLowerCase();"
    "document.getElementById(i.dataset.filter).querySelectorAll('tbody tr').forEach(function(r){"
    "r.hidden=q!==''&&r.textContent.toLowerCase().indexOf(q)<0;});});});"
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
_CSP = f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{_SCRIPT_HASH}'"


def render_index(
    results: list[CollectionResult],
    sources: list[SourceReport],
    meta: ArchiveMeta,
    *,
    html_rows: int = 500,
    links: Mapping[str, str] | None = None,
) -> Iterator[bytes]:
    """Yield `index.html` as UTF-8 chunks; `links` maps a collection key to its data files' base path."""
    buf: list[str] = []
    size = 0
    for part in _page(results, sources, meta, html_rows, links or {}):
        buf.append(part)
        size += len(part)
        if size >= CHUNK:
            yield "".join(buf).encode()
            buf.clear()
            size = 0
    if buf:
        yield "".join(buf).encode()


def _page(
    results: list[CollectionResult],
    sources: list[SourceReport],
    meta: ArchiveMeta,
    html_rows: int,
    links: Mapping[str, str],
) -> Iterator[str]:
    company = _e(meta.company)
    total = sum(r.records for r in results if r.status == "found")
    held = sum(1 for r in results if r.status == "found" and r.records > 0)
    yield (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Your personal data held by {company}</title><style>{_CSS}</style></head><body>"
        f'<header><div class="wrap"><h1>Your personal data held by {company}</h1>'
        f"<p>Prepared for <b>{_e(meta.subject_masked)}</b> · generated {_e(_when(meta.generated_at))}"
        f" · data as of {_e(_when(meta.data_as_of))}</p><p>Request {_e(meta.task_id)}</p>"
        f'<div class="stats"><div class="stat"><b>{total:,}</b>records</div>'
        f'<div class="stat"><b>{held}</b>datasets with data</div>'
        f'<div class="stat"><b>{len(sources)}</b>systems searched</div></div></div></header>'
        '<main class="wrap">'
        '<p class="lead" style="margin-top:20px">This page shows the personal data we hold about you '
        "(GDPR Art. 15 and 20, CCPA right to know) and why we process it. It works offline; the full data "
        "is in the <code>data/</code> folder as CSV (for spreadsheets) and JSON (for programs).</p>"
    )
    yield from _summary(results, sources)
    described = {s.name: s.description for s in sources}
    for source, group in _by_source(results, sources):
        about = f' <small class="note">{_t(described[source])}</small>' if described.get(source) else ""
        yield f"<h2>{_t(source)}{about}</h2>"
        for r in group:
            yield from _collection(r, html_rows, links.get(r.key))
    yield from _sources_section(sources)
    yield from _verify_section(meta)
    contact = f" Contact: {_e(meta.contact)}." if meta.contact else ""
    yield (
        f'</main><footer class="wrap">Generated by {_e(meta.generator)} for {company}.{contact} '
        "File checksums are in <code>manifest.json</code>; field meanings in <code>schemas/</code>."
        f"</footer><script>{_SCRIPT}</script></body></html>\n"
    )


def _verify_section(meta: ArchiveMeta) -> Iterator[str]:
    """How to check that this archive is genuine and whole (signed archives only)."""
    if meta.signer is None:
        return
    base = meta.public_url.rstrip("/")
    keys = f"{base}/.well-known/jwks.json" if base else "/.well-known/jwks.json at the address that sent you this file"
    shown = _e(keys)
    yield (
        '<h2 id="verify">Check that this file is genuine</h2><section class="card"><p class="lead">'
        f"{_e(meta.company)} signed this archive. <code>manifest.json</code> lists every file with its size and "
        "SHA-256 checksum, and <code>manifest.sig</code> is an Ed25519 signature of <code>manifest.json</code>: "
        "if any file was changed, added or removed, the check fails.</p><dl>"
        f"<dt>Signed by key</dt><dd><code>{_e(meta.key_id)}</code></dd>"
        f"<dt>Signed at</dt><dd>{_e(_when(meta.generated_at))}</dd>"
        f"<dt>Public keys</dt><dd><code>{shown}</code></dd></dl>"
        f"<p>With dsar installed: <code>dsar archive verify data_retrieval.zip --jwks {shown}</code>. "
        "The archive format and how to check it by hand (OpenSSL or Python) are published as "
        "<code>docs/archive-format.md</code> with dsar.</p></section>"
    )


def _summary(results: list[CollectionResult], sources: list[SourceReport]) -> Iterator[str]:
    yield (
        '<section class="card"><h2 style="margin-top:0">Summary</h2><table><thead><tr><th>System</th>'
        "<th>Dataset</th><th>What it is</th><th>Records</th><th>Status</th></tr></thead><tbody>"
    )
    for source, group in _by_source(results, sources):
        for r in group:
            yield (
                f'<tr><td>{_t(source)}</td><td><a href="#{_anchor(r.key)}">{_t(r.name)}</a></td>'
                f'<td>{_t(r.description)}</td><td class="num">{r.records:,}</td>'
                f"<td>{_badge(_shown_status(r))}</td></tr>"
            )
    if not results:
        yield '<tr><td colspan="5" class="nil">No datasets were searched.</td></tr>'
    yield "</tbody></table></section>"


def _collection(r: CollectionResult, html_rows: int, base: str | None) -> Iterator[str]:
    table_id = _anchor(r.key) + "-rows"
    yield (
        f'<section class="card" id="{_anchor(r.key)}"><h3>{_t(r.name)} {_badge(_shown_status(r))}</h3>'
        f'<p class="lead">{_t(r.description)}</p><dl>'
    )
    for key, label in _FACTS:
        yield f"<dt>{label}</dt><dd>{_fact(r.processing.get(key))}</dd>"
    yield "</dl>"
    if r.status == "failed" or r.status == "skipped":
        what = "We could not search this dataset" if r.status == "failed" else "This dataset was not searched"
        why = f": {_e(r.detail)}" if r.detail else "."
        yield f'<p class="note">{what}{why}</p></section>'
        return
    if base is None or r.spool is None:
        yield '<p class="note">Nothing held: we found no data about you here.</p></section>'
        return
    shown = min(r.records, html_rows)
    files = f'<a href="{_t(base)}.csv">{_t(base)}.csv</a> and <a href="{_t(base)}.json">{_t(base)}.json</a>'
    if r.records > html_rows:
        yield f'<p class="note">Showing the first {shown:,} of {r.records:,} records; all are in {files}.</p>'
    else:
        yield f'<p class="note">{r.records:,} record{"s" if r.records != 1 else ""}; also in {files}.</p>'
    yield (
        f'<input type="search" placeholder="Filter these rows…" data-filter="{table_id}" hidden>'
        f'<div class="scroll"><table id="{table_id}"><thead><tr>'
    )
    for c in r.columns:
        cats = f"<small>{_t(', '.join(c.categories))}</small>" if c.categories else ""
        yield f'<th title="{_t(c.description)}">{_t(c.name)}{cats}</th>'
    yield "</tr></thead><tbody>"
    names = [c.name for c in r.columns]
    for row in _rows(r.spool, html_rows):
        yield "<tr>" + "".join(_td(row.get(n)) for n in names) + "</tr>"
    yield "</tbody></table></div></section>"


def _sources_section(sources: list[SourceReport]) -> Iterator[str]:
    yield (
        '<h2>Systems searched</h2><section class="card"><p class="lead">Every system we searched for data '
        "about you, and what we found there.</p><table><thead><tr><th>System</th><th>What it is</th>"
        "<th>Status</th><th>Records</th><th>Details</th></tr></thead><tbody>"
    )
    for s in sources:
        detail = _e(s.detail) if s.detail else '<span class="nil">—</span>'
        yield (
            f"<tr><td>{_t(s.name)}</td><td>{_t(s.description)}</td><td>{_badge(s.status)}</td>"
            f'<td class="num">{s.records:,}</td><td>{detail}</td></tr>'
        )
    if not sources:
        yield '<tr><td colspan="5" class="nil">No systems were searched.</td></tr>'
    yield "</tbody></table></section>"


def _by_source(
    results: list[CollectionResult], sources: list[SourceReport]
) -> Iterator[tuple[str, list[CollectionResult]]]:
    """Results grouped by source: in the order of `sources`, then any source not reported."""
    order = [s.name for s in sources]
    order += sorted({r.source for r in results} - set(order))
    for name in order:
        group = [r for r in results if r.source == name]
        if group:
            yield name, group


def _rows(spool: Path, limit: int) -> Iterable[dict[str, Any]]:
    with sealed_spool.open_spool(spool) as f:
        for line in islice(filter(bytes.strip, f), limit):
            row = orjson.loads(line)
            yield row if isinstance(row, dict) else {}


def _td(value: Any) -> str:
    if value is None:
        return '<td class="nil">—</td>'
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int | float):
        return f'<td class="num">{value}</td>'
    if isinstance(value, str):
        return f"<td>{_e(_clip(value))}</td>"
    return f"<td><code>{_e(_clip(orjson.dumps(value).decode()))}</code></td>"


def _fact(value: Any) -> str:
    if isinstance(value, list | tuple):
        return _t(", ".join(str(v) for v in value)) if value else "Not disclosed to anyone"
    if value is None or value == "":
        return '<span class="nil">not stated</span>'
    return _t(str(value))


def _shown_status(r: CollectionResult) -> str:
    return "not_found" if r.status == "found" and r.records == 0 else r.status


@lru_cache(maxsize=64)
def _badge(status: str) -> str:
    return f'<span class="badge {_e(status)}">{_e(_STATUS_TEXT.get(status, status))}</span>'


@lru_cache(maxsize=4096)  # the data map's collection keys: each is used three times per archive
def _anchor(key: str) -> str:
    return "c-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in key)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[:MAX_CELL] + "… (full value in the data files)"


def _when(when: datetime) -> str:
    utc = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M UTC")


def _e(text: str) -> str:
    return escape(text, quote=True)


@lru_cache(maxsize=8192)
def _t(text: str) -> str:
    """`_e` for a text of the data map (names, descriptions, facts): the same few hundred in every archive."""
    return escape(text, quote=True)
