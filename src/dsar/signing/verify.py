"""Check a `data_retrieval.zip` (docs/archive-format.md): signature, checksums, completeness, schemas.

`verify_archive` stops at the first failure and raises `ArchiveInvalid` with one sentence that names it;
the checks run in the order of the specification: the ZIP, the manifest (against its JSON Schema), the
signature (a key of the given set, valid when it signed), every member's size and SHA-256, nothing missing
or extra, then every data file against its schema (JSON rows, CSV header and cells) and its record count.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import IO, Any

import httpx
from jsonschema import Draft202012Validator

from dsar.engine.archive import FORMAT_VERSION, MANIFEST, SIGNATURE
from dsar.errors import DsarError
from dsar.kit.jws import JwsError, PublicKey, parse_detached

__all__ = ["ArchiveInvalid", "Verified", "load_jwks", "manifest_schema", "parse_jwks", "verify_archive"]

_CHUNK = 1 << 16
_INT = re.compile(r"-?\d+")


class ArchiveInvalid(DsarError):
    kind = "validation"
    code = "ArchiveInvalid"


@dataclass(frozen=True)
class Verified:
    format_version: str
    kid: str
    signed_at: datetime
    members: int  # every member of the ZIP, manifest and signature included
    records: int  # rows over all data collections (each counted once, not per file format)


@cache
def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of manifest.json shipped with dsar (src/dsar/engine/manifest.schema.json)."""
    text = resources.files("dsar.engine").joinpath("manifest.schema.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def parse_jwks(doc: Any) -> list[PublicKey]:
    """The Ed25519 keys of a JWK Set (other kinds of keys are ignored)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ArchiveInvalid('not a JWK Set (an object with a "keys" list)')
    keys = []
    for jwk in doc["keys"]:
        if isinstance(jwk, dict) and jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            try:
                keys.append(PublicKey.from_jwk(jwk))
            except JwsError as exc:
                raise ArchiveInvalid(f"a key of the JWK Set is invalid: {exc}") from None
    return keys


def load_jwks(source: str, timeout: float = 10.0) -> list[PublicKey]:
    """A JWK Set from an http(s) URL or a file."""
    try:
        if source.startswith(("https://", "http://")):
            response = httpx.get(source, timeout=timeout, follow_redirects=True)
            response.raise_for_status()
            raw = response.content
        else:
            raw = Path(source).read_bytes()
        doc = json.loads(raw)
    except httpx.HTTPError as exc:
        raise ArchiveInvalid(f"could not fetch the keys from {source}: {exc}") from None
    except OSError as exc:
        raise ArchiveInvalid(f"could not read the keys from {source}: {exc.strerror or exc}") from None
    except ValueError:
        raise ArchiveInvalid(f"the keys at {source} are not JSON") from None
    return parse_jwks(doc)


def verify_archive(path: Path | IO[bytes], keys: Sequence[PublicKey]) -> Verified:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveInvalid(f"not a readable ZIP archive ({exc})") from None
    with zf:
        return _verify(zf, keys)


def _verify(zf: zipfile.ZipFile, keys: Sequence[PublicKey]) -> Verified:
    names = zf.namelist()
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ArchiveInvalid(f"the member {name} appears twice")
        seen.add(name)
    if MANIFEST not in seen:
        raise ArchiveInvalid(f"{MANIFEST} is missing")
    body = zf.read(MANIFEST)
    if SIGNATURE not in seen:
        raise ArchiveInvalid(f"the archive is not signed (no {SIGNATURE}): its origin cannot be checked")
    kid, signed_at = _check_signature(body, zf.read(SIGNATURE), keys)  # before anything trusts the manifest
    manifest = _manifest(body)
    if manifest["format_version"] == FORMAT_VERSION:
        raise ArchiveInvalid(f"{MANIFEST} says format {FORMAT_VERSION} (unsigned) but the archive has {SIGNATURE}")
    if manifest["signature"]["kid"] != kid:
        raise ArchiveInvalid(f"{MANIFEST} names key {manifest['signature']['kid']}, {SIGNATURE} was made by {kid}")

    files: list[dict[str, Any]] = manifest["files"]
    listed = [f["path"] for f in files]
    if len(set(listed)) != len(listed):
        raise ArchiveInvalid(f"{MANIFEST} lists a member twice")
    for f in files:
        if f["path"] not in seen:
            raise ArchiveInvalid(f"the member {f['path']} listed in {MANIFEST} is missing")
    expected = {*listed, MANIFEST, SIGNATURE}
    extra = [n for n in names if n not in expected]
    if extra:
        raise ArchiveInvalid(f"the member {extra[0]} is not listed in {MANIFEST}")
    for f in files:
        size, sha = _digest(zf, f["path"])
        if size != f["size"]:
            raise ArchiveInvalid(f"{f['path']} has {size} bytes, {MANIFEST} says {f['size']}")
        if sha != f["sha256"]:
            raise ArchiveInvalid(f"{f['path']} does not match its SHA-256 in {MANIFEST}")

    records = 0
    by_path = {f["path"]: f for f in files}
    counted: set[tuple[str, str]] = set()
    for f in files:
        if f["schema"] is None:
            continue
        if f["schema"] not in by_path:
            raise ArchiveInvalid(f"the schema {f['schema']} of {f['path']} is not in the archive")
        schema = _schema(zf, f["schema"])
        if f["path"].endswith(".json"):
            rows = _check_json(zf, f["path"], schema)
        elif f["path"].endswith(".csv"):
            rows = _check_csv(zf, f["path"], schema)
        else:
            raise ArchiveInvalid(f"{f['path']} has a schema but is neither JSON nor CSV")
        if f["records"] is not None and rows != f["records"]:
            raise ArchiveInvalid(f"{f['path']} has {rows} records, {MANIFEST} says {f['records']}")
        collection = (str(f["source"]), str(f["collection"]))
        if collection not in counted:
            counted.add(collection)
            records += rows
    return Verified(manifest["format_version"], kid, signed_at, len(names), records)


def _manifest(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise ArchiveInvalid(f"{MANIFEST} is not JSON") from None
    error = next(iter(Draft202012Validator(manifest_schema()).iter_errors(doc)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise ArchiveInvalid(f"{MANIFEST} does not follow its schema at {where}: {error.message}")
    if not isinstance(doc, dict):  # the schema says so; this tells the type checker
        raise ArchiveInvalid(f"{MANIFEST} is not an object")
    return doc


def _check_signature(body: bytes, token: bytes, keys: Sequence[PublicKey]) -> tuple[str, datetime]:
    try:
        jws = parse_detached(token.decode("ascii"))
    except (JwsError, UnicodeDecodeError) as exc:
        raise ArchiveInvalid(f"{SIGNATURE} is not a valid signature: {exc}") from None
    kid = jws.kid
    key = next((k for k in keys if k.kid == kid), None)
    if key is None:
        raise ArchiveInvalid(f"signed with an unknown key {kid or '(no kid)'}: it is not among the published keys")
    signed_at = jws.signed_at
    if signed_at is None:
        raise ArchiveInvalid(f"{SIGNATURE} does not say when it was signed (iat)")
    if not key.verify(jws, body):
        raise ArchiveInvalid(f"the signature in {SIGNATURE} does not match {MANIFEST} (key {kid})")
    if not key.valid_at(signed_at):
        raise ArchiveInvalid(f"key {kid} was not valid when the archive was signed ({_iso(signed_at)}){_window(key)}")
    return kid, signed_at


def _digest(zf: zipfile.ZipFile, name: str) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    try:
        with zf.open(name) as f:
            while chunk := f.read(_CHUNK):
                sha.update(chunk)
                size += len(chunk)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # a CRC error on a changed member
        raise ArchiveInvalid(f"{name} cannot be read: {exc}") from None
    return size, sha.hexdigest()


def _schema(zf: zipfile.ZipFile, name: str) -> dict[str, Any]:
    try:
        schema = json.loads(zf.read(name))
        Draft202012Validator.check_schema(schema)
    except ValueError:
        raise ArchiveInvalid(f"{name} is not JSON") from None
    except Exception as exc:  # jsonschema's SchemaError
        raise ArchiveInvalid(f"{name} is not a valid JSON Schema: {getattr(exc, 'message', exc)}") from None
    if not isinstance(schema, dict) or not isinstance(schema.get("items"), dict):
        raise ArchiveInvalid(f"{name} does not describe an array of rows")
    return schema


def _check_json(zf: zipfile.ZipFile, name: str, schema: dict[str, Any]) -> int:
    try:
        rows = json.loads(zf.read(name))
    except ValueError:
        raise ArchiveInvalid(f"{name} is not JSON") from None
    if not isinstance(rows, list):
        raise ArchiveInvalid(f"{name} is not a JSON array")
    top = {k: v for k, v in schema.items() if k != "items"}
    error = next(iter(Draft202012Validator(top).iter_errors(rows)), None)
    if error is None:
        items = Draft202012Validator(schema["items"])
        for i, row in enumerate(rows):
            error = next(iter(items.iter_errors(row)), None)
            if error is not None:
                raise ArchiveInvalid(f"{name}: row {i + 1} does not follow its schema: {error.message}")
    if error is not None:
        raise ArchiveInvalid(f"{name} does not follow its schema: {error.message}")
    return len(rows)


def _check_csv(zf: zipfile.ZipFile, name: str, schema: dict[str, Any]) -> int:
    properties = schema["items"].get("properties", {})
    columns = list(properties)
    rows = 0
    with zf.open(name) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        try:
            header = next(reader, None)
            if header != columns:
                raise ArchiveInvalid(f"{name}: the header {header} is not the schema's columns {columns}")
            for line in reader:
                rows += 1
                if len(line) != len(columns):
                    raise ArchiveInvalid(f"{name}: row {rows} has {len(line)} cells, the schema {len(columns)}")
                for column, cell in zip(columns, line, strict=True):
                    if not _cell_fits(cell, properties[column]):
                        raise ArchiveInvalid(f"{name}: row {rows}, column {column} does not fit its schema")
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ArchiveInvalid(f"{name} is not UTF-8 CSV: {exc}") from None
    return rows


def _cell_fits(cell: str, prop: dict[str, Any]) -> bool:
    """A CSV cell as the archive writes a value of this JSON type (empty: null; see docs/archive-format.md)."""
    kind = prop.get("type")
    if kind is None:
        return True
    types = set(kind if isinstance(kind, list) else [kind])
    if "string" in types or (cell == "" and "null" in types):
        return True
    if "boolean" in types and cell in ("true", "false"):
        return True
    if "integer" in types and _INT.fullmatch(cell):
        return True
    if "number" in types and _is_number(cell):
        return True
    if types & {"object", "array"}:
        try:
            value = json.loads(cell)
        except ValueError:
            return False
        return ("object" in types and isinstance(value, dict)) or ("array" in types and isinstance(value, list))
    return False


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return cell.strip() == cell and cell.lower() not in ("nan", "inf", "-inf", "infinity", "-infinity")


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _window(key: PublicKey) -> str:
    parts: Iterable[str] = (
        f"from {_iso(key.not_before)}" if key.not_before else "",
        f"until {_iso(key.not_after)}" if key.not_after else "",
    )
    shown = " ".join(p for p in parts if p)
    return f": it signs {shown}" if shown else ""
