"""The `data_retrieval.zip` archive, built as a stream: memory does not grow with the subject's data.

Members (in this order): `data/<source>/<collection>.json|.csv` per collection with rows,
`schemas/<source>/<collection>.schema.json`, `about/sources.json`, `about/processing.json`,
`manifest.json` (size, sha256 and records of every other member), `manifest.sig` (signed archives only:
a detached JWS over the exact bytes of manifest.json), `index.html`, `README.txt`.
The same inputs give byte-identical archives: fixed member order and modification time, no randomness
(Ed25519 signatures are deterministic). The format is specified in docs/archive-format.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import stat
import tempfile
import threading
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
from stream_zip import ZIP_64, stream_zip

from dsar.engine import spool as sealed_spool
from dsar.engine.html import render_index
from dsar.engine.results import ArchiveMeta, CollectionResult, ColumnInfo, SourceReport

__all__ = [
    "ARCHIVE_NAME",
    "FORMAT_VERSION",
    "MANIFEST",
    "SIGNATURE",
    "SIGNED_FORMAT_VERSION",
    "build_archive",
    "jwks_url",
    "mask_email",
    "member_base",
]

ARCHIVE_NAME = "data_retrieval.zip"
FORMAT_VERSION = "1.0"  # unsigned
SIGNED_FORMAT_VERSION = "1.1"  # with manifest.sig
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
JWKS_PATH = "/.well-known/jwks.json"
CHUNK = 64 * 1024
_MODE = stat.S_IFREG | 0o644
_RISKY = frozenset("=+-@\t\r")  # a spreadsheet would read these as a formula (CSV injection)
_UNSAFE_NAME = re.compile(r"[^\w.-]")
_JSON_OPTS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
# Shared members (schemas, processing facts) compressed once per content, per process: `_Reused`.
_REUSE_MAX = 64 * 1024  # a larger member is not kept
_REUSE_ENTRIES = 1024
_REUSE_BYTES = 4 << 20  # content and compressed bytes kept, at most
_deflated: dict[bytes, bytes] = {}
_deflated_size = [0]
_deflated_lock = threading.Lock()

Chunks = Generator[bytes, None, int | None]  # returns the number of records, or None


@dataclass(frozen=True)
class _Member:
    path: str
    chunks: Callable[[], Chunks]
    source: str | None = None
    collection: str | None = None
    schema: str | None = None
    shared: bool = False  # the same bytes in every subject's archive (a schema, the processing facts)
    digested: bool = False  # listed in the manifest already (the members after it): not hashed again


def mask_email(email: str) -> str:
    """Mask an e-mail for display: keep the first character and the domain ("j***@example.com")."""
    local, at, domain = email.strip().rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain.lower()}"


def member_base(source: str, collection: str) -> str:
    """The archive path of a collection's data files, without the extension."""
    return f"data/{_safe(source)}/{_safe(collection)}"


def jwks_url(public_url: str) -> str:
    """Where the service publishes its archive signing keys."""
    return public_url.rstrip("/") + JWKS_PATH if public_url else ""


def build_archive(
    results: list[CollectionResult],
    sources: list[SourceReport],
    meta: ArchiveMeta,
    *,
    html_rows: int = 500,
    extra: Sequence[tuple[str, Callable[[], Iterator[bytes]]]] = (),
) -> Iterator[bytes]:
    """Yield the bytes of `data_retrieval.zip` for these results, in chunks of about 64 KiB.

    `extra` adds members of an API face (path, chunk generator), e.g. the Open Data Rights folder; they
    come after `about/` and are listed in the manifest like every other member.
    """
    when = _utc(meta.generated_at)
    with_rows = [r for r in results if r.status == "found" and r.records > 0 and r.spool is not None]
    data: list[_Member] = []
    schemas: list[_Member] = []
    links: dict[str, str] = {}
    for r in with_rows:
        base = member_base(r.source, r.name)
        while base in links.values():  # two names that sanitise alike must not share a member
            base += "_"
        schema_path = "schemas/" + base.removeprefix("data/") + ".schema.json"
        links[r.key] = base
        spool = r.spool
        assert spool is not None
        data.append(_Member(f"{base}.json", _bind(_json_chunks, spool), r.source, r.name, schema_path))
        data.append(_Member(f"{base}.csv", _bind(_csv_chunks, spool, r.columns), r.source, r.name, schema_path))
        schemas.append(_Member(schema_path, _bind(_small, _schema(r)), r.source, r.name, shared=True))

    about = [
        _Member("about/sources.json", _bind(_small, _sources_doc(sources))),
        _Member("about/processing.json", _bind(_small, _processing_doc(results)), shared=True),
    ]
    after = [
        _Member("index.html", lambda: _html(results, sources, meta, html_rows, links)),
        _Member("README.txt", _bind(_small, _readme(meta, bool(with_rows)).encode())),
    ]
    done: list[dict[str, Any]] = []
    rendered: dict[str, IO[bytes]] = {}
    signed: list[bytes] = []  # the manifest's bytes, for its signature

    def manifest() -> Chunks:
        # Members after the manifest are small: render them once into a spooled buffer (memory up to
        # 1 MiB, then a temporary file) to digest them, then copy that buffer into the archive.
        files = list(done)
        for m in after:
            buf = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115 (closed by _replay)
            out: list[dict[str, Any]] = []
            for chunk in _tracked(m, out):
                buf.write(chunk)
            buf.seek(0)
            rendered[m.path] = buf
            files.extend(out)
        body = orjson.dumps(_manifest_doc(meta, files), option=_JSON_OPTS)
        signed.append(body)
        yield body
        return None

    def signature() -> Chunks:
        assert meta.signer is not None
        yield meta.signer.sign(signed[0], _utc(meta.generated_at)).encode("ascii")
        return None

    def _replay(path: str) -> Chunks:
        with rendered.pop(path) as buf:
            while chunk := buf.read(CHUNK):
                yield chunk
        return None

    added = [_Member(path, _extra(chunks)) for path, chunks in extra]
    replayed = [_Member(m.path, _bind(_replay, m.path), digested=True) for m in after]
    sig = [_Member(SIGNATURE, signature)] if meta.signer is not None else []
    members = [*data, *schemas, *about, *added, _Member(MANIFEST, manifest), *sig, *replayed]
    files = ((m.path, when, _MODE, ZIP_64, m.chunks() if m.digested else _tracked(m, done)) for m in members)
    # stream_zip asks for one compressor per member, in order; were it ever to ask otherwise, the bytes would
    # still be right (the reuse is keyed by content), only a shared member compressed again.
    shared = iter([m.shared for m in members])

    def compressor() -> Any:
        return _Reused() if next(shared, False) else _deflate()

    yield from stream_zip(files, chunk_size=CHUNK, get_compressobj=compressor)


def _extra(chunks: Callable[[], Iterator[bytes]]) -> Callable[[], Chunks]:
    def gen() -> Chunks:
        yield from chunks()
        return None

    return gen


def _deflate() -> Any:
    """Raw deflate at zlib's default level: stream_zip's level 9 is ~15% slower for ~4% smaller output."""
    return zlib.compressobj(wbits=-zlib.MAX_WBITS)


class _Reused:
    """Raw deflate of a member that is the same in many archives, done once per content.

    A collection's schema and the processing facts depend only on the data map, and are a quarter or more of a
    small archive's bytes (B2 in docs/performance.md). The same bytes with the same settings compress to the
    same output, so a reused result is byte for byte what compressing again would give. A member larger than
    `_REUSE_MAX` is compressed as it streams, chunk by chunk as without reuse, and not kept.
    """

    def __init__(self) -> None:
        self._held: list[bytes] = []
        self._size = 0
        self._z: Any = None

    def compress(self, data: bytes) -> bytes:
        if self._z is not None:
            return bytes(self._z.compress(data))
        self._held.append(data)
        self._size += len(data)
        if self._size <= _REUSE_MAX:
            return b""
        self._z = _deflate()
        out = b"".join(self._z.compress(d) for d in self._held)
        self._held.clear()
        return out

    def flush(self) -> bytes:
        if self._z is not None:
            return bytes(self._z.flush())
        content = b"".join(self._held)
        done = _deflated.get(content)
        if done is None:
            z = _deflate()
            done = z.compress(content) + z.flush()
            with _deflated_lock:
                if len(_deflated) >= _REUSE_ENTRIES or _deflated_size[0] + len(content) + len(done) > _REUSE_BYTES:
                    _deflated.clear()  # a data map changed many times: start again
                    _deflated_size[0] = 0
                _deflated[content] = done
                _deflated_size[0] += len(content) + len(done)
        return done


def _bind(fn: Callable[..., Chunks], *args: Any) -> Callable[[], Chunks]:
    return lambda: fn(*args)


def _tracked(member: _Member, done: list[dict[str, Any]]) -> Iterator[bytes]:
    """Pass the member's chunks through, then record its size, sha256 and records for the manifest."""
    sha = hashlib.sha256()
    size = 0
    gen = member.chunks()
    while True:
        try:
            chunk = next(gen)
        except StopIteration as stop:
            done.append(_entry(member, size, sha.hexdigest(), stop.value))
            return
        sha.update(chunk)
        size += len(chunk)
        yield chunk


def _entry(member: _Member, size: int, sha256: str, records: int | None) -> dict[str, Any]:
    return {
        "path": member.path,
        "size": size,
        "sha256": sha256,
        "records": records,
        "source": member.source,
        "collection": member.collection,
        "schema": member.schema,
    }


def _small(content: bytes) -> Chunks:
    yield content
    return None


def _json_chunks(spool: Path) -> Chunks:
    """A JSON array of the spool's rows: the lines are copied as bytes, never re-encoded."""
    rows = 0
    sep = b"[\n"
    with sealed_spool.open_spool(spool) as f:
        while lines := f.readlines(CHUNK):
            if not lines[-1].endswith(b"\n"):
                lines[-1] += b"\n"
            body = b"".join(lines)
            if b"\n\n" in body or body[:1] == b"\n":  # tolerate blank lines
                lines = [ln for ln in lines if ln.strip()]
                if not lines:
                    continue
                body = b"".join(lines)
            rows += len(lines)
            yield sep + body[:-1].replace(b"\n", b",\n")
            sep = b",\n"
    yield b"[]\n" if rows == 0 else b"\n]\n"
    return rows


def _csv_chunks(spool: Path, columns: list[ColumnInfo]) -> Chunks:
    """RFC 4180 CSV of the spool's rows, with a header row; written one batch of lines at a time."""
    names = [c.name for c in columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([_cell(n) for n in names])
    rows = 0
    loads = orjson.loads
    cell = _cell
    with sealed_spool.open_spool(spool) as f:
        while lines := f.readlines(CHUNK):
            batch = [[cell(row.get(n)) for n in names] for row in map(loads, filter(bytes.strip, lines))]
            writer.writerows(batch)
            rows += len(batch)
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode()
    return rows


def _cell(value: Any) -> Any:
    """One CSV cell: null empty, booleans true/false, nested values as JSON, risky strings quoted with '."""
    kind = type(value)
    if kind is str:
        return "'" + value if value and value[0] in _RISKY else value
    if kind is int or kind is float or value is None:
        return value
    if kind is bool:
        return "true" if value else "false"
    return orjson.dumps(value).decode()


def _schema(r: CollectionResult) -> bytes:
    properties: dict[str, Any] = {}
    for c in r.columns:
        prop = dict(c.schema)
        if c.description or "description" not in prop:
            prop["description"] = c.description
        prop["x-categories"] = list(c.categories)
        properties[c.name] = prop
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{r.source}/{r.name}",
        "title": f"{r.source} / {r.name}",
        "description": r.description or f"Rows of {r.key} held about you.",
        "type": "array",
        "items": {
            "type": "object",
            "properties": properties,
            "required": [c.name for c in r.columns],
            "additionalProperties": False,
        },
    }
    return orjson.dumps(doc, option=_JSON_OPTS)


def _sources_doc(sources: list[SourceReport]) -> bytes:
    doc = [
        {
            "name": s.name,
            "description": s.description,
            "status": s.status,
            "detail": s.detail,
            "records": s.records,
            "collections": list(s.collections),
        }
        | ({"manual": s.manual} if s.manual else {})
        for s in sources
    ]
    return orjson.dumps(doc, option=_JSON_OPTS)


def _processing_doc(results: list[CollectionResult]) -> bytes:
    keys = ("purpose", "legal_basis", "retention", "recipients", "origin")
    doc = [
        {"collection": r.key, "source": r.source, "description": r.description} | {k: r.processing.get(k) for k in keys}
        for r in results
    ]
    return orjson.dumps(doc, option=_JSON_OPTS, default=str)


def _manifest_doc(meta: ArchiveMeta, files: list[dict[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION if meta.signer is None else SIGNED_FORMAT_VERSION,
        "generator": meta.generator,
        "task_id": meta.task_id,
        "subject": meta.subject_masked,
        "generated_at": _iso(meta.generated_at),
        "data_as_of": _iso(meta.data_as_of),
    }
    if meta.signer is not None:
        doc["signature"] = {
            "member": SIGNATURE,
            "alg": "EdDSA",
            "kid": meta.signer.kid,
            "jwks_url": jwks_url(meta.public_url) or None,
        }
    doc["files"] = files
    return doc


def _html(
    results: list[CollectionResult],
    sources: list[SourceReport],
    meta: ArchiveMeta,
    html_rows: int,
    links: dict[str, str],
) -> Chunks:
    yield from render_index(results, sources, meta, html_rows=html_rows, links=links)
    return None


def _readme(meta: ArchiveMeta, has_data: bool) -> str:
    contact = meta.contact or "the contact given in the message that brought you this file"
    data_note = "" if has_data else "\nNo personal data about you was found in the systems searched.\n"
    title = f"Your personal data held by {meta.company}"
    sig_line = verify = ""
    if meta.signer is not None:
        sig_line = "manifest.sig                      The signature of manifest.json by " + meta.company + ".\n"
        keys = jwks_url(meta.public_url) or "the address of the service that sent you this file + " + JWKS_PATH
        verify = (
            f"\n- manifest.sig proves that manifest.json comes from {meta.company} unchanged: it is an Ed25519\n"
            f"  signature by key {meta.signer.kid},\n"
            f"  whose public key is published at {keys}.\n"
            f"  Check everything at once with: dsar archive verify {ARCHIVE_NAME} --jwks {keys}"
        )
    return f"""\
{title}
{"=" * len(title)}

This archive holds a copy of the personal data that {meta.company} holds about {meta.subject_masked},
as you asked for under your right of access and data portability (GDPR Articles 15 and 20) and your
right to know (CCPA/CPRA). It also says why the data is processed, on what legal basis, for how long
it is kept, to whom it is disclosed and where it came from.
{data_note}
Generated: {_iso(meta.generated_at)}    Data as of: {_iso(meta.data_as_of)}    Request: {meta.task_id}

What is in here
---------------
index.html                        Start here: a readable overview of everything below.
data/<source>/<collection>.csv    Your records in each place they are held, one row per record.
data/<source>/<collection>.json   The same records as JSON (UTF-8; times in ISO 8601, UTC).
schemas/<source>/<collection>.schema.json   What each field means (JSON Schema).
about/sources.json                Every system searched, and whether data was found there.
about/processing.json             Purpose, legal basis, retention, recipients and origin of each dataset.
manifest.json                     Every file with its size, record count and SHA-256 checksum.
{sig_line}
How to open it
--------------
- Unzip the archive, then open index.html in any web browser. It works offline.
- Open the .csv files in a spreadsheet (LibreOffice, Excel, Numbers). Cells that began with
  = + - @ are prefixed with ' so that no spreadsheet runs them as formulas.
- The .json files are for programs, for example to move your data to another service.
- To check that nothing was altered, compare each file's SHA-256 with manifest.json
  (for example: sha256sum data/*/*.csv).{verify}

Questions or corrections
------------------------
Contact {meta.company}: {contact}
You may also ask us to correct or delete your data, and you may lodge a complaint with a data
protection supervisory authority.
"""


def _safe(name: str) -> str:
    """A path component that cannot escape its folder."""
    cleaned = _UNSAFE_NAME.sub("_", name)
    return "_" + cleaned if not cleaned or cleaned.startswith(".") else cleaned


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _iso(when: datetime) -> str:
    return _utc(when).isoformat().replace("+00:00", "Z")
