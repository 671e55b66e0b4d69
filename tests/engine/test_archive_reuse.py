"""Members that are the same in every archive (schemas, processing facts) are compressed once per content.

What must hold: an archive built with the compressed members reused is byte for byte the archive built
without them, and a changed data map (a column's description, a collection's purpose) shows in the very
next archive, never the former bytes.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from dsar.engine import archive
from dsar.engine.archive import build_archive
from dsar.engine.results import ArchiveMeta, CollectionResult, ColumnInfo, SourceReport
from tests.engine.test_archive import META, PROCESSING


@pytest.fixture(autouse=True)
def cold() -> Iterator[None]:
    archive._deflated.clear()
    archive._deflated_size[0] = 0
    yield
    archive._deflated.clear()
    archive._deflated_size[0] = 0


def _inputs(tmp: Path, description: str = "the e-mail", purpose: str = "Orders") -> list[CollectionResult]:
    spool = tmp / "customers.jsonl"
    spool.write_bytes(b"".join(orjson.dumps({"id": i, "email": f"u{i}@example.com"}) + b"\n" for i in range(3)))
    cols = [ColumnInfo("id", {"type": "integer"}), ColumnInfo("email", {"type": "string"}, ("contact",), description)]
    return [
        CollectionResult(
            key="shop.customers",
            source="shop",
            name="customers",
            description="Customers",
            columns=cols,
            processing=PROCESSING | {"purpose": purpose},
            spool=spool,
            records=3,
            status="found",
        )
    ]


SOURCES = [SourceReport("shop", "The web shop", "found", records=3, collections=["shop.customers"])]


def _zip(results: list[CollectionResult], meta: ArchiveMeta = META) -> bytes:
    return b"".join(build_archive(results, SOURCES, meta))


def _member(blob: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert zf.testzip() is None  # every member's CRC matches its bytes
        return zf.read(name)


def test_reused_members_give_the_bytes_of_a_fresh_compression(tmp_path: Path) -> None:
    results = _inputs(tmp_path)
    first = _zip(results)
    assert archive._deflated  # the schema and the processing facts were kept
    warm = _zip(results)
    archive._deflated.clear()
    assert warm == first == _zip(results)


def test_a_changed_data_map_shows_in_the_next_archive(tmp_path: Path) -> None:
    before = _zip(_inputs(tmp_path))
    after = _zip(_inputs(tmp_path, description="where we write to you", purpose="Newsletters"))
    schema = json.loads(_member(after, "schemas/shop/customers.schema.json"))
    assert schema["items"]["properties"]["email"]["description"] == "where we write to you"
    assert json.loads(_member(after, "about/processing.json"))[0]["purpose"] == "Newsletters"
    assert json.loads(_member(before, "about/processing.json"))[0]["purpose"] == "Orders"
    archive._deflated.clear()
    assert _zip(_inputs(tmp_path, description="where we write to you", purpose="Newsletters")) == after


def test_a_large_shared_member_streams_and_is_not_kept(tmp_path: Path) -> None:
    purpose = "x" * (archive._REUSE_MAX + 1)
    blob = _zip(_inputs(tmp_path, purpose=purpose))
    assert json.loads(_member(blob, "about/processing.json"))[0]["purpose"] == purpose
    assert all(len(content) <= archive._REUSE_MAX for content in archive._deflated)
    archive._deflated.clear()
    assert _zip(_inputs(tmp_path, purpose=purpose)) == blob


def test_the_kept_members_stay_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive, "_REUSE_ENTRIES", 4)
    for i in range(10):  # ten versions of the data map
        _zip(_inputs(tmp_path, description=f"version {i}"))
        assert len(archive._deflated) <= 4
    assert archive._deflated_size[0] == sum(len(k) + len(v) for k, v in archive._deflated.items())
