"""Encryption at rest (`EncryptedStorage` over local files and S3 on moto_server; docs/encryption.md).

What lies on disk and in the bucket is ciphertext (no e-mail, no ZIP header); a flipped byte in any chunk,
a cut or lengthened body, a header moved to another key all fail, never giving wrong bytes; Range requests
across chunk borders decrypt the right bytes over a real socket; rotation rewrites headers only.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from tests.live import loopback_server

from dsar.api.rest.files import files_router
from dsar.errors import NotFound
from dsar.kit import sealed
from dsar.kit.clock import FrozenClock
from dsar.storage.base import Storage, StoredObjectCorrupt
from dsar.storage.encrypted import BODY_PREFIX, EncryptedStorage, Header
from dsar.storage.factory import make_keyring
from dsar.storage.keyring import KeyUnavailable, LocalKeyring
from dsar.storage.local import LocalStorage

KEY = "privacyRequest/6f1c2a9e-3a43-4a8e-9c1e-0d6f4f1b2c3d/result/data_retrieval.zip"
EMAIL = b"jane.doe@example.com"
PUBLIC_URL = "https://dsar.example.test"
SMALL_CHUNK = 1024
CHUNK = sealed.CHUNK_SIZE
OLD = b"o" * 32
NEW = b"n" * 32


def _zip(rows: int = 2000) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        lines = b"".join(b'{"email":"%s","order":%d}\n' % (EMAIL, n) for n in range(rows))
        archive.writestr("data/orders.jsonl", lines)
    return out.getvalue()


def _encrypted(
    inner: Storage, keyring: LocalKeyring | None = None, *, plaintext_reads: bool = True, chunk_size: int = CHUNK
) -> EncryptedStorage:
    return EncryptedStorage(
        inner,
        keyring or LocalKeyring({"old": OLD}, "old"),
        public_url=PUBLIC_URL,
        signing_key=b"s" * 32,
        clock=FrozenClock(),
        plaintext_reads=plaintext_reads,
        chunk_size=chunk_size,
    )


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "objects", public_url=PUBLIC_URL, signing_key=b"i" * 32, clock=FrozenClock())


def _body_path(local: LocalStorage, storage: EncryptedStorage, key: str = KEY) -> Path:
    header = storage.header(key)
    assert header is not None
    return local.path(header.body)


def _read(storage: Storage, key: str = KEY) -> bytes:
    with storage.open(key) as handle:
        return handle.read()


# -- no plaintext at rest ------------------------------------------------------------------------------


def test_files_on_disk_hold_no_plaintext(local: LocalStorage) -> None:
    storage = _encrypted(local)
    archive = _zip()
    assert archive.startswith(b"PK\x03\x04") and EMAIL in archive
    stored = storage.put_stream(KEY, [archive[i : i + 5000] for i in range(0, len(archive), 5000)])
    assert (stored.size, stored.sha256) == (len(archive), hashlib.sha256(archive).hexdigest())
    files = [p for p in local.root.rglob("*") if p.is_file()]
    assert len(files) == 2  # the header under the key, the body under dsar-sealed/
    for path in files:
        data = path.read_bytes()
        assert EMAIL not in data and b"PK\x03\x04" not in data and b"orders.jsonl" not in data
    assert _read(storage) == archive
    assert storage.size(KEY) == len(archive)


def test_objects_in_the_bucket_hold_no_plaintext(s3_bucket: str) -> None:
    import boto3

    from dsar.storage.s3 import S3Storage

    storage = _encrypted(S3Storage(s3_bucket, "enc"))
    archive = _zip(20_000)  # past one S3 part: a multipart body
    storage.put_stream(KEY, [archive])
    client = boto3.client("s3")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert len(keys) == 2 and any(k.startswith(f"enc/{BODY_PREFIX}") for k in keys)
    for key in keys:
        data = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        assert EMAIL not in data and b"PK\x03\x04" not in data
    assert _read(storage) == archive
    with storage.open(KEY) as handle:  # a jump is a ranged GET of the body
        handle.seek(len(archive) - 100)
        assert handle.read() == archive[-100:]


def test_a_rewrite_and_a_delete_leave_no_body_behind(local: LocalStorage) -> None:
    storage = _encrypted(local)
    storage.put_stream(KEY, [b"first"])
    storage.put_stream(KEY, [b"second"])
    assert list(local.list_keys(BODY_PREFIX)) == [_body_path(local, storage).relative_to(local.root).as_posix()]
    storage.delete(KEY)
    assert list(local.list_keys()) == []
    with pytest.raises(ValueError, match="reserved"):
        storage.put_stream(f"{BODY_PREFIX}x/y", [b"no"])


# -- integrity -----------------------------------------------------------------------------------------


def test_a_flipped_byte_in_any_chunk_fails_the_read(local: LocalStorage) -> None:
    storage = _encrypted(local, chunk_size=SMALL_CHUNK)
    content = hashlib.shake_256(b"chunks").digest(5 * SMALL_CHUNK + 17)
    storage.put_stream(KEY, [content])
    body = _body_path(local, storage)
    original = body.read_bytes()
    step = SMALL_CHUNK + sealed.TAG_SIZE
    for chunk in range(6):
        for where in (
            chunk * step,
            chunk * step + 100 % (len(original) - chunk * step),
            min(len(original), (chunk + 1) * step) - 1,
        ):
            flipped = bytearray(original)
            flipped[where] ^= 0x01
            body.write_bytes(bytes(flipped))
            with pytest.raises(StoredObjectCorrupt), storage.open(KEY) as handle:
                handle.seek(chunk * SMALL_CHUNK)
                handle.read(10)
    body.write_bytes(original)
    assert _read(storage) == content


def test_a_cut_or_lengthened_body_and_a_moved_header_fail(local: LocalStorage) -> None:
    storage = _encrypted(local, chunk_size=SMALL_CHUNK)
    content = bytes(range(256)) * 20
    storage.put_stream(KEY, [content])
    storage.put_stream("other/object.zip", [content])
    body = _body_path(local, storage)
    original = body.read_bytes()
    for changed in (original[: -(SMALL_CHUNK + sealed.TAG_SIZE) + 5], original + b"x" * 40, original[:-1]):
        body.write_bytes(changed)
        with pytest.raises(StoredObjectCorrupt):
            _read(storage)
    body.write_bytes(original)
    # The other object's header under this key: its data key is bound to the other key.
    local.path(KEY).write_bytes(local.path("other/object.zip").read_bytes())
    with pytest.raises(StoredObjectCorrupt):
        _read(storage)
    local.path(KEY).write_bytes(b"DSAR-SEALED\n{not json")
    with pytest.raises(StoredObjectCorrupt):
        _read(storage)


def test_an_unknown_key_id_is_a_configuration_error(local: LocalStorage) -> None:
    _encrypted(local).put_stream(KEY, [b"data"])
    with pytest.raises(KeyUnavailable, match="'old' is not configured"):
        _read(_encrypted(local, LocalKeyring({"new": NEW}, "new")))


def test_objects_stored_in_clear_are_read_only_when_allowed(local: LocalStorage) -> None:
    local.put_stream("legacy/data.zip", [b"PK\x03\x04 written before encryption"])
    assert _read(_encrypted(local), "legacy/data.zip").startswith(b"PK")
    with pytest.raises(StoredObjectCorrupt, match="not encrypted"):
        _read(_encrypted(local, plaintext_reads=False), "legacy/data.zip")
    with pytest.raises(NotFound):
        _read(_encrypted(local), "never/written.zip")


# -- downloads over a real socket ----------------------------------------------------------------------


@pytest.fixture
def served(local: LocalStorage) -> Iterator[tuple[EncryptedStorage, str]]:
    storage = _encrypted(local)
    app = FastAPI()
    app.include_router(files_router(storage))
    with loopback_server(lambda _base: app, lifespan="off") as base:
        yield storage, base


def _local_url(url: str, base: str) -> str:
    return base + url.removeprefix(PUBLIC_URL)


CONTENT = hashlib.shake_256(b"range").digest(4 * CHUNK + 321)


@pytest.mark.parametrize(
    ("first", "last"),
    [(0, 0), (CHUNK - 1, CHUNK), (CHUNK - 5, 2 * CHUNK + 5), (CHUNK, 2 * CHUNK - 1), (3 * CHUNK + 7, 4 * CHUNK + 320)],
)
def test_ranges_across_chunk_borders(served: tuple[EncryptedStorage, str], first: int, last: int) -> None:
    storage, base = served
    storage.put_stream(KEY, [CONTENT])
    url = _local_url(storage.signed_url(KEY, 60), base)
    got = httpx.get(url, headers={"Range": f"bytes={first}-{last}"})
    assert got.status_code == 206
    assert got.content == CONTENT[first : last + 1]
    assert got.headers["content-range"] == f"bytes {first}-{last}/{len(CONTENT)}"
    whole = httpx.get(url)
    assert (whole.status_code, whole.content) == (200, CONTENT)
    assert httpx.get(url, headers={"Range": "bytes=-100"}).content == CONTENT[-100:]


def test_a_flipped_byte_fails_the_download_never_gives_wrong_bytes(
    served: tuple[EncryptedStorage, str], local: LocalStorage
) -> None:
    storage, base = served
    content = hashlib.shake_256(b"download").digest(3 * (1 << 20) + 5)  # several reads of the route
    storage.put_stream(KEY, [content])
    url = _local_url(storage.signed_url(KEY, 60), base)
    body = _body_path(local, storage)
    original = body.read_bytes()
    step = CHUNK + sealed.TAG_SIZE
    for chunk in (0, 17, len(original) // step):
        flipped = bytearray(original)
        flipped[chunk * step + 3] ^= 0x80
        body.write_bytes(bytes(flipped))
        try:
            got = httpx.get(url)
        except httpx.HTTPError:
            continue  # the stream was cut short: the client sees an error
        assert got.status_code == 500, chunk  # a corrupt first read: an error answer
        assert got.json()["message"] == "The stored file failed its integrity check."
        assert got.content != content
    body.write_bytes(original)
    assert httpx.get(url).content == content


# -- rotation ------------------------------------------------------------------------------------------


def test_rotation_rewraps_headers_and_leaves_bodies_alone(local: LocalStorage) -> None:
    before = _encrypted(local)
    before.put_stream(KEY, [b"archive bytes" * 1000])
    before.put_stream("uploads/f.csv", [b"email\njane.doe@example.com\n"])
    local.put_stream("legacy/clear.zip", [b"clear"])
    bodies = {p: p.read_bytes() for p in (local.root / BODY_PREFIX).rglob("*") if p.is_file()}
    after = _encrypted(local, LocalKeyring({"old": OLD, "new": NEW}, "new"))
    done = after.rotate()
    assert (done.key_id, done.rewrapped, done.current, done.clear) == ("new", 2, 0, 1)
    header = after.header(KEY)
    assert isinstance(header, Header) and header.key_id == "new"
    assert {p: p.read_bytes() for p in bodies} == bodies  # not one body byte rewritten
    only_new = _encrypted(local, LocalKeyring({"new": NEW}, "new"))
    assert _read(only_new) == b"archive bytes" * 1000
    assert _read(only_new, "uploads/f.csv") == b"email\njane.doe@example.com\n"
    assert after.rotate().rewrapped == 0  # nothing left to do: it can run again


def test_aws_kms_wraps_the_data_keys(s3_bucket: str) -> None:
    import boto3

    from dsar.storage.s3 import S3Storage

    kms_key = boto3.client("kms").create_key(Description="dsar tests")["KeyMetadata"]["KeyId"]
    inner = S3Storage(s3_bucket, "kms")
    settings_keys = make_keyring({}, "master", None, master_kek=OLD)
    before = EncryptedStorage(inner, settings_keys, public_url=PUBLIC_URL, signing_key=b"s" * 32, clock=FrozenClock())
    before.put_stream("written/before.zip", [b"under the settings key"])
    keyring = make_keyring({}, "master", kms_key, master_kek=OLD)
    storage = EncryptedStorage(inner, keyring, public_url=PUBLIC_URL, signing_key=b"s" * 32, clock=FrozenClock())
    storage.put_stream(KEY, [CONTENT])
    header = storage.header(KEY)
    assert header is not None and header.key_id == f"kms:{kms_key}"
    assert _read(storage) == CONTENT
    assert _read(storage, "written/before.zip") == b"under the settings key"
    done = storage.rotate()
    assert (done.rewrapped, done.current) == (1, 1)
    assert _read(storage, "written/before.zip") == b"under the settings key"
    moved = inner.open(KEY).read()  # a KMS-wrapped header under another key: KMS refuses its context
    inner.put_stream("written/before.zip", [moved])
    with pytest.raises(StoredObjectCorrupt):
        _read(storage, "written/before.zip")
