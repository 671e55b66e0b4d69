"""`dsar archive verify` failures print one line and exit 1, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dsar.cli.app import app as cli
from tests.signing.test_verify import _archive, _key


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["archive", "verify", *args], env=env)
    assert "Traceback" not in result.output
    return result.exit_code, result.output.strip().splitlines()


def test_verify_failures_are_one_line(tmp_path: Path) -> None:
    key = _key()
    archive = tmp_path / "data_retrieval.zip"
    archive.write_bytes(_archive(tmp_path, key))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.public.jwk()]}))
    code, lines = _run([str(archive), "--jwks", str(jwks)])
    assert code == 0 and lines[0].startswith(f"OK data_retrieval.zip: format 1.1, signed by key {key.kid} at ")
    assert "4 records" in lines[0]

    assert _run([str(tmp_path / "nothing.zip"), "--jwks", str(jwks)]) == (1, ["FAILED nothing.zip: no such file"])
    jwks.write_text("not json")
    assert _run([str(archive), "--jwks", str(jwks)])[1] == [
        f"FAILED data_retrieval.zip: the keys at {jwks} are not JSON"
    ]
    code, lines = _run([str(archive), "--jwks", str(tmp_path / "missing.json")])
    assert code == 1 and "could not read the keys" in lines[0] and len(lines) == 1
    code, lines = _run([str(archive)], env={"DSAR_DATA_DIR": str(tmp_path / "empty")})
    assert code == 1 and lines == [
        f"FAILED data_retrieval.zip: no signing keys in {tmp_path / 'empty' / 'signing-keys'}: "
        "pass the signer's keys with --jwks URL|FILE"
    ]
    assert not (tmp_path / "empty").exists()  # verifying never makes a key
    code, lines = _run([str(archive)], env={"DSAR_ARCHIVE_SIGNING__PRIVATE_KEY": "nope"})
    assert code == 1 and "the configured signing key is invalid" in lines[0]


def test_verify_finds_the_demo_keys_where_dsar_demo_ran(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = _key()
    archive = tmp_path / "data_retrieval.zip"
    archive.write_bytes(_archive(tmp_path, key))
    (tmp_path / "dsar-demo" / "state").mkdir(parents=True)
    for name in ("DSAR_DATA_DIR", "DSAR_DATABASE_URL", "DSAR_DATAMAP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    code, lines = _run([str(archive)])
    assert code == 1 and "no signing keys in " in lines[0] and "/dsar-demo/state/signing-keys:" in lines[0]
