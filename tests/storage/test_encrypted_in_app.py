"""Encryption at rest in the whole app: a retrieval's archive and an upload are ciphertext in the objects
directory, the download links are dsar's own and decrypt on the fly, and `dsar keys rotate` re-wraps them.
"""

from __future__ import annotations

import base64
import io
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from tests.api.files import CREATE
from tests.api.harness import running_api, settings_for

from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.db.sealed import PREFIX
from dsar.storage.encrypted import EncryptedStorage

pytestmark = pytest.mark.local_stack  # the test chooses its own storage

EMAIL = "jane.doe@example.com"
NEW_KEY = base64.b64encode(b"N" * 32).decode()


def _objects(settings: Settings) -> list[bytes]:
    """Every stored object's bytes: files under the objects directory, or the bucket's objects."""
    if settings.storage_url is None:
        return [p.read_bytes() for p in (settings.data_dir / "objects").rglob("*") if p.is_file()]
    import boto3

    bucket = settings.storage_url.removeprefix("s3://").split("/")[0]
    client = boto3.client("s3")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return [client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_an_archive_and_an_upload_are_stored_encrypted_and_downloaded_in_clear(
    tmp_path: Path, demo_dir: Path, request: pytest.FixtureRequest, where: str
) -> None:
    extra = {"storage_url": f"s3://{request.getfixturevalue('s3_bucket')}/dsar"} if where == "s3" else {}
    settings = settings_for(tmp_path, demo_dir, encryption={"enabled": True}, **extra)
    with running_api(settings) as api:
        assert isinstance(api.container.storage, EncryptedStorage)
        task = api.wait(api.start(EMAIL))
        assert task["status"] == "COMPLETED", task
        link = task["dataRetrievalLink"]
        assert link.startswith("http://testserver/files/")  # dsar's own signed link
        got = api.client.get(link)
        assert got.status_code == 200
        with zipfile.ZipFile(io.BytesIO(got.content)) as archive:
            assert any(EMAIL in archive.read(name).decode("utf-8", "replace") for name in archive.namelist())
        first = api.client.get(link, headers={"Range": "bytes=0-3"})
        assert (first.status_code, first.content) == (206, b"PK\x03\x04")

        content = f"email\n{EMAIL}\n".encode()
        made = api.gql(CREATE % len(content)).json()["data"]["createUploadLink"]
        put = api.client.put(made["uploadUrl"], content=content, headers={"Content-Type": "text/csv"})
        assert put.status_code == 200, put.text

    with sqlite3.connect(settings.data_dir / "dsar.sqlite3") as state:
        stored = [row[0] for row in state.execute("SELECT subject_email FROM privacy_tasks")]
    assert stored and all(v.startswith(PREFIX) and EMAIL not in v for v in stored)  # sealed in the state too

    objects = _objects(settings)
    assert len(objects) >= 4  # two objects, each a header and a body
    for data in objects:
        assert EMAIL.encode() not in data and b"PK\x03\x04" not in data

    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env.update(
        DSAR_DATA_DIR=str(settings.data_dir),
        DSAR_SECRET_KEY=str(settings.secret_key),
        DSAR_ENCRYPTION__ENABLED="true",
        DSAR_ENCRYPTION__KEYS=f'{{"2026-12": "{NEW_KEY}"}}',
        DSAR_ENCRYPTION__KEY_ID="2026-12",
        **({"DSAR_STORAGE_URL": settings.storage_url} if settings.storage_url else {}),
    )
    rotated = subprocess.run(
        [sys.executable, "-m", "dsar", "keys", "rotate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.startswith("2 objects re-wrapped under key 2026-12, 0 already were"), rotated.stdout

    after = Container(
        settings.model_copy(
            update={
                "encryption": settings.encryption.model_copy(update={"keys": {"2026-12": NEW_KEY}, "key_id": "2026-12"})
            }
        )
    )
    try:
        storage = after.storage
        assert isinstance(storage, EncryptedStorage)
        for key in storage.list_keys():
            header = storage.header(key)
            assert header is not None and header.key_id == "2026-12"
            with storage.open(key) as handle:
                assert EMAIL.encode() in handle.read() or key.endswith(".zip")
    finally:
        after.close()


def test_rotation_without_encryption_is_a_one_line_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env.update(DSAR_DATA_DIR=str(tmp_path / "state"), DSAR_SECRET_KEY="x" * 40, DSAR_ENCRYPTION__ENABLED="false")
    (tmp_path / "state").mkdir()
    rotated = subprocess.run(
        [sys.executable, "-m", "dsar", "keys", "rotate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert rotated.returncode == 1
    assert rotated.stderr.strip().splitlines() == [
        "error: Encryption at rest is off (DSAR_ENCRYPTION__ENABLED): there are no keys to rotate."
    ]


@pytest.mark.parametrize(
    ("keys", "key_id", "message"),
    [
        ('{"k1": "c2hvcnQ="}', "k1", "error: DSAR_ENCRYPTION__KEYS: encryption key 'k1' must be 32 random bytes"),
        ("{}", "k9", "error: DSAR_ENCRYPTION__KEY_ID 'k9' is not among DSAR_ENCRYPTION__KEYS."),
        (f'{{"master": "{NEW_KEY}"}}', "master", "error: DSAR_ENCRYPTION__KEYS: the id 'master' names the derived key"),
    ],
)
def test_wrong_keys_are_a_one_line_error_naming_no_key(tmp_path: Path, keys: str, key_id: str, message: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env.update(
        DSAR_DATA_DIR=str(tmp_path / "state"),
        DSAR_SECRET_KEY="x" * 40,
        DSAR_ENCRYPTION__ENABLED="true",
        DSAR_ENCRYPTION__KEYS=keys,
        DSAR_ENCRYPTION__KEY_ID=key_id,
    )
    (tmp_path / "state").mkdir()
    rotated = subprocess.run(
        [sys.executable, "-m", "dsar", "keys", "rotate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert rotated.returncode == 1
    lines = rotated.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), rotated.stderr
    assert NEW_KEY not in rotated.stderr and "c2hvcnQ" not in rotated.stderr
