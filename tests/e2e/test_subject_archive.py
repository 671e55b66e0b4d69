"""Retrieval end to end: start a task through GraphQL, download its archive, check it against direct SQL.

The expected rows come from SQL written by hand per collection below (not from dsar's engine), run on
the same sources the service searched: the demo SQLite files, or copies of them in PostgreSQL/MariaDB.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt
import pytest
import sqlalchemy as sa
import yaml
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from dsar.cli.app import app as cli
from dsar.demo.load import copy_sources, datamap_for
from dsar.kit.clock import FrozenClock, SystemClock
from tests.api.harness import Api, running_api, settings_for

SUBJECT = "jane.doe@example.com"
NOBODY = "nobody.here@example.com"
LOOKALIKES = ("jane.doe@example.org", "jane.doe2@example.com", "xjane.doe@example.com", "jane.doe@example.co")
RISKY = "=+-@\t\r"  # CSV cells starting with one of these are neutralised with a leading '
HYPERLINK_TITLE = '=HYPERLINK("http://x","click")'
SCRIPT = "<script>alert(1)</script>"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

# Column kinds that need normalising to what the archive writes (JSON: ISO 8601 UTC, decimals as strings).
DT, DAY, DEC, BOOL = "datetime", "date", "decimal", "boolean"

HER_CUSTOMERS = "SELECT id FROM customers WHERE lower(trim(email)) = :email"
HER_ORDERS = f"SELECT id FROM orders WHERE customer_id IN ({HER_CUSTOMERS})"
HER_TICKETS = "SELECT id FROM tickets WHERE lower(trim(requester_email)) = :email"


@dataclass(frozen=True)
class Expect:
    """One collection: its exported columns (table order, excluded ones left out) and her rows' condition."""

    columns: tuple[str, ...]
    where: str
    kinds: dict[str, str] = field(default_factory=dict)

    def sql(self, table: str) -> str:
        return f"SELECT {', '.join(self.columns)} FROM {table} WHERE {self.where} ORDER BY id"


EXPECTED: dict[str, Expect] = {
    "shop.customers": Expect(
        ("id", "email", "first_name", "last_name", "phone", "birth_date", "created_at"),
        "lower(trim(email)) = :email",
        {"birth_date": DAY, "created_at": DT},
    ),
    "shop.addresses": Expect(
        ("id", "customer_id", "kind", "street", "city", "postal_code", "country"),
        f"customer_id IN ({HER_CUSTOMERS})",
    ),
    "shop.orders": Expect(
        ("id", "customer_id", "status", "placed_at", "total_amount", "currency", "shipping_address_id"),
        f"customer_id IN ({HER_CUSTOMERS})",
        {"placed_at": DT, "total_amount": DEC},
    ),
    "shop.order_items": Expect(
        ("id", "order_id", "product_id", "quantity", "unit_price"),
        f"order_id IN ({HER_ORDERS})",
        {"unit_price": DEC},
    ),
    "shop.payments": Expect(
        ("id", "order_id", "method", "card_brand", "card_last4", "amount", "paid_at"),
        f"order_id IN ({HER_ORDERS})",
        {"amount": DEC, "paid_at": DT},
    ),
    "shop.product_reviews": Expect(
        ("id", "customer_id", "product_id", "rating", "title", "body", "created_at"),
        f"customer_id IN ({HER_CUSTOMERS})",
        {"created_at": DT},
    ),
    "shop.login_events": Expect(
        ("id", "customer_id", "ip_address", "user_agent", "occurred_at"),
        f"customer_id IN ({HER_CUSTOMERS})",
        {"occurred_at": DT},
    ),
    "shop.marketing_consents": Expect(
        ("id", "customer_id", "channel", "granted", "changed_at", "source"),
        f"customer_id IN ({HER_CUSTOMERS})",
        {"granted": BOOL, "changed_at": DT},
    ),
    "support.tickets": Expect(
        ("id", "requester_email", "subject", "status", "created_at"),
        "lower(trim(requester_email)) = :email",
        {"created_at": DT},
    ),
    "support.messages": Expect(
        ("id", "ticket_id", "author", "body", "sent_at"),
        f"ticket_id IN ({HER_TICKETS})",
        {"sent_at": DT},
    ),
}
# Columns that must never reach the archive, per table (the MariaDB copy adds the `_normalized` helpers).
NEVER_EXPORTED = {"customers": ("password_hash", "email_normalized"), "tickets": ("requester_email_normalized",)}


@dataclass(frozen=True)
class Retrieval:
    backend: str
    task_id: str
    archive: bytes
    source_urls: dict[str, str]  # where the expected rows are read from
    datamap: Path


# -- helpers -----------------------------------------------------------------------------------------------


def _path_of(link: str) -> str:
    """The link's path and query, for the TestClient (public_url is http://testserver)."""
    assert link.startswith("http://testserver/"), link
    return httpx.URL(link).raw_path.decode()


def _retrieve(api: Api, email: str) -> tuple[str, bytes]:
    task_id = api.start(email)
    task = api.wait(task_id)
    assert task["status"] == "COMPLETED", task
    assert task["errors"] == [], task
    response = api.client.get(_path_of(task["dataRetrievalLink"]))
    assert response.status_code == 200, response.text
    assert response.content[:4] == b"PK\x03\x04"
    return task_id, response.content


def _datamap_collections(path: Path) -> list[str]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return list(raw["collections"])


def _normalise(kind: str | None, value: Any, backend: str) -> Any:
    """A value read by direct SQL, as the archive's JSON writes it."""
    if value is None:
        return None
    if kind == DT:
        when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        assert when.tzinfo is None, f"the demo stores naive UTC times, got {value!r}"
        return when.isoformat() + "Z"
    if kind == DAY:
        return (value if isinstance(value, date) else date.fromisoformat(value)).isoformat()
    if kind == DEC:  # every demo amount is NUMERIC(12, 2)
        return str(Decimal(str(value)).quantize(Decimal("0.01")))
    if kind == BOOL:
        # MariaDB has no boolean type: BOOLEAN is TINYINT(1), and the column reads back as 0/1.
        return int(value) if backend == "mysql" else bool(value)
    return value


def _expected_rows(urls: dict[str, str], backend: str) -> dict[str, list[dict[str, Any]]]:
    engines = {source: sa.create_engine(url) for source, url in urls.items()}
    try:
        out: dict[str, list[dict[str, Any]]] = {}
        for key, exp in EXPECTED.items():
            source, table = key.split(".", 1)
            with engines[source].connect() as conn:
                rows = conn.execute(sa.text(exp.sql(table)), {"email": SUBJECT}).mappings().all()
            out[key] = [{c: _normalise(exp.kinds.get(c), row[c], backend) for c in exp.columns} for row in rows]
        return out
    finally:
        for engine in engines.values():
            engine.dispose()


def _scalars(url: str, sql: str) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql)).scalars())
    finally:
        engine.dispose()


def _typed(rows: list[dict[str, Any]]) -> dict[Any, dict[str, tuple[str, Any]]]:
    """Rows by primary key, every value tagged with its type (so that 1 != true and "1" != 1)."""
    out: dict[Any, dict[str, tuple[str, Any]]] = {}
    for row in rows:
        assert row["id"] not in out, f"row {row['id']} appears twice"
        out[row["id"]] = {k: (type(v).__name__, v) for k, v in row.items()}
    return out


def _csv_cell(value: Any) -> str:
    """What a JSON value becomes in the archive's CSV."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value if value and value[0] in RISKY else value
    return str(value)


def _read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def _lookalike(address: str) -> re.Pattern[str]:
    """The address as a whole e-mail (so that jane.doe@example.co does not match inside ...example.com)."""
    return re.compile(r"(?<![\w.+-])" + re.escape(address) + r"(?![\w-])", re.IGNORECASE)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


# -- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_api(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Iterator[Api]:
    with running_api(settings_for(tmp_path_factory.mktemp("e2e_sqlite"), demo_dir)) as api:
        yield api


@pytest.fixture(scope="module")
def sqlite_retrieval(sqlite_api: Api, demo_dir: Path) -> Retrieval:
    task_id, archive = _retrieve(sqlite_api, SUBJECT)
    urls = {name: f"sqlite:///{(demo_dir / f'{name}.sqlite').resolve()}" for name in ("shop", "support")}
    return Retrieval("sqlite", task_id, archive, urls, demo_dir / "datamap.yaml")


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def retrieval(request: pytest.FixtureRequest, tmp_path: Path, demo_dir: Path) -> Retrieval:
    """Her archive from the demo sources: SQLite as built, or both sources copied into one server database."""
    backend: str = request.param
    if backend == "sqlite":
        found: Retrieval = request.getfixturevalue("sqlite_retrieval")
        return found
    url: str = request.getfixturevalue("pg_url" if backend == "postgres" else "mysql_url")
    urls = {"shop": url, "support": url}
    copy_sources(demo_dir, urls)
    datamap = tmp_path / "datamap.yaml"
    datamap.write_text(datamap_for(demo_dir, urls), encoding="utf-8")
    with running_api(settings_for(tmp_path, demo_dir, datamap=datamap)) as api:
        task_id, archive = _retrieve(api, SUBJECT)
    return Retrieval(backend, task_id, archive, urls, datamap)


# -- 1. her archive holds exactly her rows ---------------------------------------------------------------------


def test_archive_holds_exactly_her_rows(retrieval: Retrieval) -> None:
    collections = _datamap_collections(retrieval.datamap)
    assert sorted(collections) == sorted(EXPECTED), "every collection of the data map needs its expected SQL here"
    expected = _expected_rows(retrieval.source_urls, retrieval.backend)
    for key, rows in expected.items():
        assert rows, f"the demo guarantees her rows in {key}; the expected SQL found none"
    shop = retrieval.source_urls["shop"]

    with zipfile.ZipFile(io.BytesIO(retrieval.archive)) as zf:
        names = zf.namelist()
        members = {name: zf.read(name) for name in names}
    data_files = sorted(n for n in names if n.startswith("data/"))
    assert data_files == sorted(f"data/{k.replace('.', '/', 1)}.{ext}" for k in EXPECTED for ext in ("json", "csv"))

    for key, exp in EXPECTED.items():
        base = f"data/{key.replace('.', '/', 1)}"
        got = json.loads(members[f"{base}.json"])
        assert isinstance(got, list)
        for row in got:
            assert set(row) == set(exp.columns), f"{key}: exported columns {sorted(row)}"
            for column in NEVER_EXPORTED.get(key.split(".", 1)[1], ()):
                assert column not in row, f"{key}: {column} must not be exported"
        assert _typed(got) == _typed(expected[key]), f"{key}: archive rows differ from direct SQL"

        table = _read_csv(members[f"{base}.csv"])
        header, body = table[0], table[1:]
        assert set(header) == set(exp.columns), f"{key}: CSV header {header}"
        assert len(body) == len(got), f"{key}: {len(body)} CSV rows, {len(got)} JSON rows"
        for line, row in zip(body, got, strict=True):
            assert line == [_csv_cell(row[c]) for c in header], f"{key}: CSV row {line} vs JSON {row}"
            assert not any(cell[:1] in RISKY and cell for cell in line), f"{key}: unneutralised cell in {line}"

    # Nothing of anybody else: ids in reference columns are hers, e-mails are hers, no look-alike anywhere.
    mine = {
        "customer_id": {r["id"] for r in expected["shop.customers"]},
        "order_id": {r["id"] for r in expected["shop.orders"]},
        "ticket_id": {r["id"] for r in expected["support.tickets"]},
    }
    for key in EXPECTED:
        base = f"data/{key.replace('.', '/', 1)}"
        rows = json.loads(members[f"{base}.json"])
        csv_rows = _read_csv(members[f"{base}.csv"])
        csv_dicts = [dict(zip(csv_rows[0], line, strict=True)) for line in csv_rows[1:]]
        for column, ids in mine.items():
            for row in rows:
                if column in row:
                    assert row[column] in ids, f"{key}: {column}={row[column]} is not hers"
            for row in csv_dicts:
                if column in row:
                    assert row[column] in {str(i) for i in ids}, f"{key}.csv: {column}={row[column]} is not hers"
        for text in _strings(rows):
            for address in EMAIL.findall(text):
                assert address.strip().lower() == SUBJECT, f"{key}: foreign e-mail {address!r}"
    for name, content in members.items():
        text = content.decode("utf-8")
        for address in LOOKALIKES:
            assert not _lookalike(address).search(text), f"{name} holds the look-alike {address}"

    # The look-alikes exist in the sources, so the checks above could catch a matching bug.
    assert len(_scalars(shop, f"SELECT id FROM customers WHERE email IN ({_in(LOOKALIKES[:3])})")) == 3
    support = retrieval.source_urls["support"]
    assert _scalars(support, f"SELECT id FROM tickets WHERE requester_email = '{LOOKALIKES[3]}'")

    # Hostile values: a formula stays exact in JSON and is neutralised in CSV; a script is escaped in HTML.
    reviews = json.loads(members["data/shop/product_reviews.json"])
    assert HYPERLINK_TITLE in [r["title"] for r in reviews]
    review_csv = _read_csv(members["data/shop/product_reviews.csv"])
    titles = [dict(zip(review_csv[0], line, strict=True))["title"] for line in review_csv[1:]]
    assert "'" + HYPERLINK_TITLE in titles, f"the formula title is not neutralised in CSV: {titles}"
    assert HYPERLINK_TITLE not in titles, "the formula title reaches the CSV as a formula"
    messages = json.loads(members["data/support/messages.json"])
    assert any(SCRIPT in m["body"] for m in messages), "her message with a script tag is in the archive"
    html = members["index.html"].decode("utf-8")
    assert SCRIPT not in html, "index.html holds her message's script tag unescaped"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, "index.html should show her message, escaped"


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# -- 2. the archive's layout ---------------------------------------------------------------------------------------


def test_archive_layout_manifest_and_schemas(sqlite_retrieval: Retrieval) -> None:
    with zipfile.ZipFile(io.BytesIO(sqlite_retrieval.archive)) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        members = {name: zf.read(name) for name in names}
    assert len(names) == len(set(names)), "duplicate members"
    for required in ("index.html", "README.txt", "manifest.json", "about/sources.json", "about/processing.json"):
        assert required in members, f"{required} is missing"

    data_files = [n for n in names if n.startswith("data/")]
    bases = {n.rsplit(".", 1)[0] for n in data_files}
    assert data_files and all(n.endswith((".json", ".csv")) for n in data_files)
    schemas = {n for n in names if n.startswith("schemas/")}
    assert schemas == {"schemas/" + b.removeprefix("data/") + ".schema.json" for b in bases}

    manifest = json.loads(members["manifest.json"])
    assert manifest["task_id"] == sqlite_retrieval.task_id, manifest["task_id"]
    assert "jane.doe" not in manifest["subject"].lower(), f"the subject is not masked: {manifest['subject']!r}"
    assert SUBJECT not in members["manifest.json"].decode("utf-8").lower(), "the manifest holds her e-mail"
    entries = {e["path"]: e for e in manifest["files"]}
    assert len(entries) == len(manifest["files"]), "a path listed twice in the manifest"
    # Every other member but the manifest's own signature, which cannot list itself (format 1.1).
    assert set(entries) == set(names) - {"manifest.json", "manifest.sig"}, "the manifest lists every other member"
    for path, entry in entries.items():
        content = members[path]
        assert entry["size"] == len(content), path
        assert entry["sha256"] == hashlib.sha256(content).hexdigest(), path
        if path.endswith(".json") and path.startswith("data/"):
            assert entry["records"] == len(json.loads(content)), path
        elif path.endswith(".csv"):
            assert entry["records"] == len(_read_csv(content)) - 1, path
        else:
            assert entry["records"] is None, path
        if path.startswith("data/"):
            schema_path = "schemas/" + path.removeprefix("data/").rsplit(".", 1)[0] + ".schema.json"
            assert entry["schema"] == schema_path, path
            source, collection = path.removeprefix("data/").rsplit(".", 1)[0].split("/")
            assert (entry["source"], entry["collection"]) == (source, collection), path

    for base in sorted(bases):
        schema = json.loads(members["schemas/" + base.removeprefix("data/") + ".schema.json"])
        Draft202012Validator.check_schema(schema)
        rows = json.loads(members[f"{base}.json"])
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(rows)]
        assert errors == [], f"{base}.json does not validate against its schema: {errors[:3]}"
        assert rows, f"{base}.json is empty"

    sources = json.loads(members["about/sources.json"])
    assert {s["name"]: s["status"] for s in sources} == {"shop": "found", "support": "found"}
    processing = json.loads(members["about/processing.json"])
    assert sorted(p["collection"] for p in processing) == sorted(EXPECTED)
    assert all(p["purpose"] and p["legal_basis"] for p in processing)


# -- 2b. the archive is signed, and `dsar archive verify` checks it -------------------------------------------------


def _serve(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    """A real HTTP server on loopback that answers every GET with `body` (a published JWKS)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/jwk-set+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"


def test_archive_is_signed_and_archive_verify_checks_it(
    sqlite_api: Api, sqlite_retrieval: Retrieval, tmp_path: Path
) -> None:
    published = sqlite_api.client.get("/.well-known/jwks.json")
    assert published.status_code == 200, published.text
    assert published.headers["content-type"] == "application/jwk-set+json"
    assert "max-age=" in published.headers["cache-control"] and "public" in published.headers["cache-control"]
    jwks = published.json()
    assert jwks["keys"], jwks
    for jwk in jwks["keys"]:
        assert {k: jwk[k] for k in ("kty", "crv", "use", "alg")} == {
            "kty": "OKP",
            "crv": "Ed25519",
            "use": "sig",
            "alg": "EdDSA",
        }
        assert "d" not in jwk and jwk["nbf"] < jwk["exp"]

    with zipfile.ZipFile(io.BytesIO(sqlite_retrieval.archive)) as zf:
        manifest_bytes = zf.read("manifest.json")
        token = zf.read("manifest.sig").decode()
        page = zf.read("index.html").decode()
    manifest = json.loads(manifest_bytes)
    kid = manifest["signature"]["kid"]
    assert manifest["format_version"] == "1.1"
    assert manifest["signature"]["jwks_url"] == "http://testserver/.well-known/jwks.json"
    assert kid in {k["kid"] for k in jwks["keys"]}
    assert kid in page and "http://testserver/.well-known/jwks.json" in page and "dsar archive verify" in page
    # PyJWT verifies it from the published key alone (RFC 7797 detached payload).
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    header = jwt.api_jws.decode_complete(
        token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"], detached_payload=manifest_bytes
    )["header"]
    assert header["kid"] == kid

    archive = tmp_path / "data_retrieval.zip"
    archive.write_bytes(sqlite_retrieval.archive)
    keys = tmp_path / "jwks.json"
    keys.write_bytes(published.content)
    records = sum(
        f["records"] for f in manifest["files"] if f["path"].startswith("data/") and f["path"].endswith(".json")
    )

    ok = CliRunner().invoke(cli, ["archive", "verify", str(archive), "--jwks", str(keys)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("OK data_retrieval.zip") and kid in ok.output and f"{records:,} records" in ok.output

    server, url = _serve(published.content)
    try:
        ok = CliRunner().invoke(cli, ["archive", "verify", str(archive), "--jwks", url])
        assert ok.exit_code == 0, ok.output
        assert jwt.PyJWKClient(url).get_signing_key(kid).key_id == kid
    finally:
        server.shutdown()
        server.server_close()

    # Without --jwks: the keys of this installation (its data dir).
    env = {"DSAR_DATA_DIR": str(sqlite_api.container.settings.data_dir)}
    ok = CliRunner().invoke(cli, ["archive", "verify", str(archive)], env=env)
    assert ok.exit_code == 0, ok.output

    # One edited cell: exit 1, one line naming the member, no traceback.
    with zipfile.ZipFile(io.BytesIO(sqlite_retrieval.archive)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    csv_bytes = members["data/shop/customers.csv"]
    members["data/shop/customers.csv"] = csv_bytes.replace(b"example.com", b"example.org", 1)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    bad = CliRunner().invoke(cli, ["archive", "verify", str(tampered), "--jwks", str(keys)])
    assert bad.exit_code == 1, bad.output
    assert bad.output.strip().splitlines() == [
        "FAILED tampered.zip: data/shop/customers.csv does not match its SHA-256 in manifest.json"
    ]
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"keys": []}))
    bad = CliRunner().invoke(cli, ["archive", "verify", str(archive), "--jwks", str(other)])
    assert bad.exit_code == 1 and "unknown key" in bad.output and "Traceback" not in bad.output


# -- 3. a subject found nowhere ------------------------------------------------------------------------------------


def test_unknown_subject_fails_with_not_found(sqlite_api: Api) -> None:
    task_id = sqlite_api.start(NOBODY)
    task = sqlite_api.wait(task_id)
    assert task["status"] == "FAILED"
    assert task["errors"] == [
        {"code": "DATA_SUBJECT_NOT_FOUND", "message": f"The shopper email for request {task_id} does not exist"}
    ]
    assert task["dataRetrievalLink"] is None
    assert not sqlite_api.container.storage.exists(f"privacyRequest/{task_id}/result/data_retrieval.zip")


# -- 4. a source that cannot be searched -----------------------------------------------------------------------


def test_failing_source_fails_the_task(tmp_path: Path, demo_dir: Path) -> None:
    broken = tmp_path / "support.sqlite"
    broken.write_bytes(b"this is not a SQLite database\x00\xff\xfe" * 200)
    datamap = tmp_path / "datamap.yaml"
    datamap.write_text(datamap_for(demo_dir, {"support": f"sqlite:///{broken}"}), encoding="utf-8")
    settings = settings_for(
        tmp_path, demo_dir, datamap=datamap, engine={"retry_backoff_seconds": 0.01, "source_retries": 2}
    )
    with running_api(settings) as api:
        task_id = api.start(SUBJECT)
        task = api.wait(task_id, timeout=45)
        assert task["status"] == "FAILED", task
        assert len(task["errors"]) == 1, task["errors"]
        error = task["errors"][0]
        assert error["code"] == "SOURCE_UNAVAILABLE", error
        assert "support" in error["message"], error
        assert "jane" not in error["message"].lower(), error
        assert task["dataRetrievalLink"] is None
        assert not api.container.storage.exists(f"privacyRequest/{task_id}/result/data_retrieval.zip")


# -- 5. download links -----------------------------------------------------------------------------------------------


def _with_query(path: str, **changes: str) -> str:
    parts = urlsplit(path)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return f"{parts.path}?{urlencode(query)}"


def test_links_expire_are_signed_and_serve_ranges(tmp_path: Path, demo_dir: Path) -> None:
    clock = FrozenClock(SystemClock().now())
    with running_api(settings_for(tmp_path, demo_dir), clock=clock) as api:
        task_id = api.start(SUBJECT)
        task = api.wait(task_id)
        assert task["status"] == "COMPLETED", task
        link = _path_of(task["dataRetrievalLink"])

        full = api.client.get(link)
        assert full.status_code == 200
        archive = full.content
        assert archive[:4] == b"PK\x03\x04" and len(archive) > 200
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            assert zf.testzip() is None

        part = api.client.get(link, headers={"Range": "bytes=10-99"})
        assert part.status_code == 206
        assert part.content == archive[10:100]
        assert part.headers["content-range"] == f"bytes 10-99/{len(archive)}"

        middle = len(archive) // 2
        first = api.client.get(link, headers={"Range": f"bytes=0-{middle - 1}"})
        rest = api.client.get(link, headers={"Range": f"bytes={middle}-"})
        assert (first.status_code, rest.status_code) == (206, 206)
        assert len(rest.content) == len(archive) - middle
        assert first.content + rest.content == archive

        signature = dict(parse_qsl(urlsplit(link).query))["signature"]
        i = len(signature) // 2
        forged = signature[:i] + ("A" if signature[i] != "A" else "B") + signature[i + 1 :]
        assert api.client.get(_with_query(link, signature=forged)).status_code == 403
        assert api.client.get(link).status_code == 200, "the genuine link still works"

        clock.advance(timedelta(seconds=61))
        expired = api.client.get(link)
        assert expired.status_code == 403
        assert expired.content != archive

        fresh_link = _path_of(api.task(task_id)["dataRetrievalLink"])
        assert fresh_link != link
        fresh = api.client.get(fresh_link)
        assert fresh.status_code == 200
        assert fresh.content == archive
