"""The streaming data_retrieval.zip: real spool files in, a real zip file out, read back with zipfile."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from dsar.engine.archive import build_archive, mask_email
from dsar.engine.results import ArchiveMeta, CollectionResult, ColumnInfo, SourceReport

META = ArchiveMeta(
    task_id="3f0c6a2e-0d7e-4c4b-9a51-0d2b1f7f4a10",
    subject_masked="j***@example.com",
    generated_at=datetime(2026, 3, 4, 5, 6, 8, tzinfo=UTC),
    data_as_of=datetime(2026, 3, 4, 5, 6, 0, tzinfo=UTC),
    generator="dsar 0.1.0",
    company="Example Shop <GmbH>",
    contact="privacy@example.com",
)
PROCESSING = {
    "purpose": "Order fulfilment",
    "legal_basis": "Art. 6(1)(b) GDPR (contract)",
    "retention": "10 years after the order",
    "recipients": ["Parcel carrier", "<b>Payment provider</b>"],
    "origin": "Provided by the data subject",
}
STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
INT = {"type": "integer"}

CUSTOMERS = [
    {
        "id": 1,
        "email": "jane.doe@example.com",
        "name": "Jané Doe 日本",
        "vip": True,
        "balance": -12.5,
        "prefs": {"news": False, "tags": ["a", "b"]},
        "note": None,
    },
    {
        "id": 2,
        "email": "jane.doe@example.com",
        "name": '=HYPERLINK("http://evil","x")',
        "vip": False,
        "balance": -3,
        "prefs": None,
        "note": "-5",
    },
]
ORDERS = [
    {"id": 10, "customer_id": 1, "total": "-19.99", "placed_at": "2025-01-02T03:04:05Z", "comment": "+1 great"},
    {"id": 11, "customer_id": 1, "total": "5.00", "placed_at": "2025-02-03T04:05:06Z", "comment": "@home\tnow"},
    {"id": 12, "customer_id": 2, "total": "0.00", "placed_at": "2025-03-04T05:06:07Z", "comment": "\rcarriage"},
]
TICKETS = [
    {"id": 7, "subject": "<script>alert(1)</script>", "body": 'line1\nline2, "quoted"', "meta": [1, {"k": "v"}]},
]
CALLS = [{"id": 1, "minutes": 0, "summary": "café ☕"}, {"id": 2, "minutes": -1, "summary": ""}]


def _cols(**schemas: dict[str, Any]) -> list[ColumnInfo]:
    return [ColumnInfo(name, schema, ("contact",), f"the {name}") for name, schema in schemas.items()]


def _spool(tmp: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    path = tmp / f"{name}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _found(tmp: Path, source: str, name: str, rows: list[dict[str, Any]], cols: list[ColumnInfo]) -> CollectionResult:
    return CollectionResult(
        key=f"{source}.{name}",
        source=source,
        name=name,
        description=f"{name} <kept>",
        columns=cols,
        processing=PROCESSING,
        spool=_spool(tmp, f"{source}.{name}", rows),
        records=len(rows),
        status="found",
    )


def _inputs(tmp: Path) -> tuple[list[CollectionResult], list[SourceReport]]:
    obj = {"type": ["object", "null"]}
    results = [
        _found(
            tmp,
            "shop",
            "customers",
            CUSTOMERS,
            _cols(
                id=INT, email=STR, name=STR, vip={"type": "boolean"}, balance={"type": "number"}, prefs=obj, note=NSTR
            ),
        ),
        _found(
            tmp,
            "shop",
            "orders",
            ORDERS,
            _cols(id=INT, customer_id=INT, total=STR, placed_at={"type": "string", "format": "date-time"}, comment=STR),
        ),
        _found(tmp, "crm", "tickets", TICKETS, _cols(id=INT, subject=STR, body=STR, meta={"type": "array"})),
        _found(tmp, "crm", "calls", CALLS, _cols(id=INT, minutes=INT, summary=STR)),
        CollectionResult(
            key="crm.legacy",
            source="crm",
            name="legacy",
            description="Old records",
            columns=_cols(id=INT),
            processing=PROCESSING,
        ),
        CollectionResult(
            key="warehouse.parcels",
            source="warehouse",
            name="parcels",
            description="Parcels",
            columns=_cols(id=INT),
            processing={},
            status="failed",
            detail="connection refused",
        ),
    ]
    sources = [
        SourceReport("shop", "The web shop", "found", records=5, collections=["shop.customers", "shop.orders"]),
        SourceReport(
            "crm", "Customer care", "found", records=3, collections=["crm.tickets", "crm.calls", "crm.legacy"]
        ),
        SourceReport(
            "warehouse",
            "Warehouse <db>",
            "failed",
            detail="connection refused <timeout>",
            collections=["warehouse.parcels"],
        ),
        SourceReport("marketing", "Newsletter", "skipped", detail="not in this request's scope"),
    ]
    return results, sources


def _build(tmp: Path, **kw: Any) -> Path:
    results, sources = _inputs(tmp)
    out = tmp / "data_retrieval.zip"
    with out.open("wb") as f:
        for chunk in build_archive(results, sources, META, **kw):
            f.write(chunk)
    return out


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[zipfile.ZipFile]:
    with zipfile.ZipFile(_build(tmp_path)) as zf:
        yield zf


DATA = {
    ("shop", "customers"): CUSTOMERS,
    ("shop", "orders"): ORDERS,
    ("crm", "tickets"): TICKETS,
    ("crm", "calls"): CALLS,
}


def test_members_in_order(archive: zipfile.ZipFile) -> None:
    data = [f"data/{s}/{c}.{ext}" for s, c in DATA for ext in ("json", "csv")]
    schemas = [f"schemas/{s}/{c}.schema.json" for s, c in DATA]
    tail = ["about/sources.json", "about/processing.json", "manifest.json", "index.html", "README.txt"]
    assert archive.namelist() == data + schemas + tail
    assert archive.testzip() is None
    for info in archive.infolist():
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.flag_bits & 0x800  # UTF-8 names
        assert info.create_version >= 45  # ZIP64
        assert info.date_time == (2026, 3, 4, 5, 6, 8)


def test_json_data_equals_spool_rows(archive: zipfile.ZipFile) -> None:
    for (source, name), rows in DATA.items():
        raw = archive.read(f"data/{source}/{name}.json")
        assert raw.startswith(b"[\n") and raw.endswith(b"\n]\n")
        assert json.loads(raw) == rows


def test_csv_round_trips_with_neutralised_strings(archive: zipfile.ZipFile) -> None:
    text = archive.read("data/shop/customers.csv").decode()
    assert "\r\n" in text
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert header == ["id", "email", "name", "vip", "balance", "prefs", "note"]
    assert rows[0] == [
        "1",
        "jane.doe@example.com",
        "Jané Doe 日本",
        "true",
        "-12.5",
        '{"news":false,"tags":["a","b"]}',
        "",
    ]
    assert rows[1] == ["2", "jane.doe@example.com", '\'=HYPERLINK("http://evil","x")', "false", "-3", "", "'-5"]
    orders = list(csv.reader(io.StringIO(archive.read("data/shop/orders.csv").decode(), newline="")))
    assert [r[2] for r in orders[1:]] == ["'-19.99", "5.00", "0.00"]  # decimals arrive as strings
    assert [r[4] for r in orders[1:]] == ["'+1 great", "'@home\tnow", "'\rcarriage"]
    tickets = list(csv.reader(io.StringIO(archive.read("data/crm/tickets.csv").decode(), newline="")))
    assert tickets[1] == ["7", "<script>alert(1)</script>", 'line1\nline2, "quoted"', '[1,{"k":"v"}]']
    calls = list(csv.reader(io.StringIO(archive.read("data/crm/calls.csv").decode(), newline="")))
    assert calls[1:] == [["1", "0", "café ☕"], ["2", "-1", ""]]  # numbers are never prefixed


def test_data_files_validate_against_their_schemas(archive: zipfile.ZipFile) -> None:
    for source, name in DATA:
        schema = json.loads(archive.read(f"schemas/{source}/{name}.schema.json"))
        Draft202012Validator.check_schema(schema)
        assert schema["$id"] == f"{source}/{name}"
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        first = next(iter(schema["items"]["properties"].values()))
        assert first["x-categories"] == ["contact"] and first["description"] == "the id"
        Draft202012Validator(schema).validate(json.loads(archive.read(f"data/{source}/{name}.json")))
    bad = json.loads(archive.read("schemas/crm/calls.schema.json"))
    assert not Draft202012Validator(bad).is_valid([{"id": 1, "minutes": 0, "summary": "x", "extra": 1}])


def test_manifest_matches_the_members(archive: zipfile.ZipFile) -> None:
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format_version"] == "1.0"
    assert manifest["task_id"] == META.task_id
    assert manifest["subject"] == "j***@example.com"
    assert manifest["generator"] == "dsar 0.1.0"
    assert manifest["generated_at"] == "2026-03-04T05:06:08Z"
    assert manifest["data_as_of"] == "2026-03-04T05:06:00Z"
    files = manifest["files"]
    assert [f["path"] for f in files] == [n for n in archive.namelist() if n != "manifest.json"]
    for f in files:
        content = archive.read(f["path"])
        assert f["size"] == len(content)
        assert f["sha256"] == hashlib.sha256(content).hexdigest()
        if f["path"].startswith("data/"):
            source, name = f["path"][5:].rsplit(".", 1)[0].split("/")
            assert (f["source"], f["collection"]) == (source, name)
            assert f["records"] == len(DATA[source, name])
            assert f["schema"] == f"schemas/{source}/{name}.schema.json"
        else:
            assert f["records"] is None
            assert f["schema"] is None


def test_about_files(archive: zipfile.ZipFile) -> None:
    sources = json.loads(archive.read("about/sources.json"))
    assert [s["name"] for s in sources] == ["shop", "crm", "warehouse", "marketing"]
    failed = sources[2]
    assert failed == {
        "name": "warehouse",
        "description": "Warehouse <db>",
        "status": "failed",
        "detail": "connection refused <timeout>",
        "records": 0,
        "collections": ["warehouse.parcels"],
    }
    assert sources[3]["status"] == "skipped" and sources[3]["detail"] == "not in this request's scope"
    processing = json.loads(archive.read("about/processing.json"))
    assert len(processing) == 6
    assert processing[0] == {"collection": "shop.customers", "source": "shop", "description": "customers <kept>"} | {
        k: PROCESSING[k] for k in ("purpose", "legal_basis", "retention", "recipients", "origin")
    }


def test_index_html_is_escaped_and_complete(archive: zipfile.ZipFile) -> None:
    page = archive.read("index.html").decode()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>Payment provider</b>" not in page and "Example Shop &lt;GmbH&gt;" in page
    assert "j***@example.com" in page and "jane.doe@example.com" in page  # the rows themselves are shown
    assert "Jané Doe 日本" in page and "café ☕" in page
    assert "connection refused &lt;timeout&gt;" in page and "not in this request&#x27;s scope" in page
    assert "Nothing held" in page  # crm.legacy
    assert "Art. 6(1)(b) GDPR (contract)" in page and "10 years after the order" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page) and "<link" not in page and "url(" not in page
    assert page.count("<script>") == 1  # only the filtering script, pinned by the CSP hash


def test_index_html_says_when_rows_are_cut(tmp_path: Path) -> None:
    with zipfile.ZipFile(_build(tmp_path, html_rows=2)) as zf:
        page = zf.read("index.html").decode()
    assert "Showing the first 2 of 3 records" in page and "data/shop/orders.csv" in page
    assert page.count("<td>&#x27;\r") == 0 and "\rcarriage" not in page  # third order row not shown


def test_readme_says_what_and_whom_to_contact(archive: zipfile.ZipFile) -> None:
    readme = archive.read("README.txt").decode()
    assert "Article 15" in readme or "Articles 15" in readme
    assert "index.html" in readme and "manifest.json" in readme and "privacy@example.com" in readme
    assert "2026-03-04T05:06:08Z" in readme


def test_same_inputs_give_identical_bytes(tmp_path: Path) -> None:
    results, sources = _inputs(tmp_path)
    first = b"".join(build_archive(results, sources, META))
    second = b"".join(build_archive(results, sources, META))
    assert first == second


def test_archive_without_data_is_valid(tmp_path: Path) -> None:
    sources = [SourceReport("shop", "The web shop", "not_found")]
    blob = b"".join(build_archive([], sources, META))
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == [
            "about/sources.json",
            "about/processing.json",
            "manifest.json",
            "index.html",
            "README.txt",
        ]
        assert len(json.loads(zf.read("manifest.json"))["files"]) == 4


def test_memory_does_not_grow_with_rows(tmp_path: Path) -> None:
    n = 200_000
    spool = tmp_path / "big.jsonl"
    with spool.open("wb") as f:
        for i in range(n):
            row = {
                "id": i,
                "email": "jane.doe@example.com",
                "amount": -i / 7,
                "note": "=1+1" if i % 3 else None,
                "at": "2025-01-02T03:04:05Z",
                "flag": i % 2 == 0,
                "tags": ["x", i],
                "city": "Zürich 日本",
                "ip": "192.0.2.1",
                "ua": "Mozilla/5.0 (X11; Linux x86_64)",
            }
            f.write(orjson.dumps(row) + b"\n")
    cols = _cols(
        id=INT,
        email=STR,
        amount={"type": "number"},
        note=NSTR,
        at=STR,
        flag={"type": "boolean"},
        tags={"type": "array"},
        city=STR,
        ip=STR,
        ua=STR,
    )
    result = CollectionResult(
        key="big.events",
        source="big",
        name="events",
        description="",
        columns=cols,
        processing=PROCESSING,
        spool=spool,
        records=n,
        status="found",
    )
    out = tmp_path / "big.zip"
    tracemalloc.start()
    try:
        with out.open("wb") as f:
            for chunk in build_archive([result], [SourceReport("big", "", "found", records=n)], META):
                f.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    with zipfile.ZipFile(out) as zf:
        files = {f["path"]: f for f in json.loads(zf.read("manifest.json"))["files"]}
        assert files["data/big/events.json"]["records"] == n
        assert files["data/big/events.csv"]["records"] == n
        with zf.open("data/big/events.csv") as raw:
            assert sum(1 for _ in csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))) == n + 1


@pytest.mark.parametrize(
    ("email", "masked"),
    [("jane.doe@example.com", "j***@example.com"), ("X@Example.COM", "X***@example.com"), ("nonsense", "***")],
)
def test_mask_email(email: str, masked: str) -> None:
    assert mask_email(email) == masked
    assert "jane.doe" not in mask_email(email)


def test_extra_members_of_an_api_face_are_listed_in_the_manifest(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from dsar.engine.archive import build_archive
    from dsar.engine.results import ArchiveMeta

    meta = ArchiveMeta(
        "t-1", "j***@example.com", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "dsar test"
    )
    extra = [("open-data-rights-api/data.json", lambda: iter([b'[{"type": "Person"}]']))]
    out = tmp_path / "a.zip"
    out.write_bytes(b"".join(build_archive([], [], meta, extra=extra)))
    with zipfile.ZipFile(out) as zf:
        assert zf.read("open-data-rights-api/data.json") == b'[{"type": "Person"}]'
        manifest = json.loads(zf.read("manifest.json"))
        entry = next(f for f in manifest["files"] if f["path"] == "open-data-rights-api/data.json")
        assert entry["sha256"] == hashlib.sha256(b'[{"type": "Person"}]').hexdigest()


def test_a_signed_archive_adds_its_signature_after_the_manifest(tmp_path: Path) -> None:
    from dataclasses import replace

    from dsar.kit.jws import SigningKey, parse_detached

    key = SigningKey.generate(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    results, sources = _inputs(tmp_path)
    signed_meta = replace(META, signer=key, public_url="https://privacy.example.com")
    blob = b"".join(build_archive(results, sources, signed_meta))
    assert blob == b"".join(build_archive(results, sources, signed_meta))  # deterministic with the same key
    plain = b"".join(build_archive(results, sources, META))
    with zipfile.ZipFile(io.BytesIO(blob)) as zf, zipfile.ZipFile(io.BytesIO(plain)) as unsigned:
        data = [f"data/{s}/{c}.{ext}" for s, c in DATA for ext in ("json", "csv")]
        schemas = [f"schemas/{s}/{c}.schema.json" for s, c in DATA]
        tail = ["about/sources.json", "about/processing.json", "manifest.json", "manifest.sig", "index.html"]
        assert zf.namelist() == [*data, *schemas, *tail, "README.txt"]
        for name in [*data, *schemas, "about/sources.json", "about/processing.json"]:
            assert zf.read(name) == unsigned.read(name), name  # signing changes no data
        manifest = zf.read("manifest.json")
        doc = json.loads(manifest)
        assert doc["format_version"] == "1.1" and doc["signature"]["kid"] == key.kid
        assert [f["path"] for f in doc["files"]] == [*data, *schemas, *tail[:2], "index.html", "README.txt"]
        jws = parse_detached(zf.read("manifest.sig").decode())
        assert jws.kid == key.kid and jws.signed_at == META.generated_at
        assert key.public.verify(jws, manifest) and not key.public.verify(jws, manifest + b"\n")
        page = zf.read("index.html").decode()
        assert key.kid in page and "https://privacy.example.com/.well-known/jwks.json" in page
        assert not re.search(r"(src|href)=\"(https?:)?//", page)  # the key address is text, not a link
        assert "Check that this file is genuine" not in unsigned.read("index.html").decode()
