"""docs/archive-format.md's verify-by-hand snippets (OpenSSL + coreutils, and Python) run on a real archive."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from dsar.kit.jws import SigningKey
from tests.signing.test_verify import _archive, _key

DOC = (Path(__file__).resolve().parents[2] / "docs" / "archive-format.md").read_text()


def _block(heading: str, lang: str) -> str:
    found = re.search(rf"{re.escape(heading)}.*?```{lang}\n(.*?)```", DOC, re.DOTALL)
    assert found, f"no {lang} block under {heading}"
    return found.group(1)


def _unzipped(tmp: Path, key: SigningKey) -> Path:
    blob = _archive(tmp, key)
    folder = tmp / "archive"
    with zipfile.ZipFile(_write(tmp / "data_retrieval.zip", blob)) as zf:
        zf.extractall(folder)
    return folder


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _shell(folder: Path, x: str) -> subprocess.CompletedProcess[str]:
    script = "set -euo pipefail\n" + _block("### 6.1", "sh")
    return subprocess.run(
        ["bash", "-c", script], cwd=folder, env={"X": x, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )


def test_openssl_snippet_verifies_a_genuine_archive_and_rejects_an_edited_one(tmp_path: Path) -> None:
    key = _key()
    folder = _unzipped(tmp_path, key)
    x = key.public.jwk()["x"]
    done = _shell(folder, x)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Signature Verified Successfully" in done.stdout
    assert f'"kid":"{key.kid}"' in done.stdout

    other = _shell(folder, _key().public.jwk()["x"])
    assert other.returncode != 0 and "Signature Verified Successfully" not in other.stdout

    for name in ("key.der", "sig.bin", "signing-input.bin", "listed.txt"):
        (folder / name).unlink()
    (folder / "data" / "shop" / "orders.csv").write_bytes(b"id,customer_id,total\r\n")
    edited = _shell(folder, x)
    assert edited.returncode != 0 and "data/shop/orders.csv" in edited.stdout + edited.stderr


def test_python_snippet_verifies_a_genuine_archive(tmp_path: Path) -> None:
    key = _key()
    _unzipped(tmp_path, key)
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [_key().public.jwk(), key.public.jwk()]}))
    code = _block("### 6.2", "python")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"signature and checksums OK, key {key.kid}"

    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [_key().public.jwk()]}))
    unknown = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert unknown.returncode != 0 and "KeyError" in unknown.stderr
