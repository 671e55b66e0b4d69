"""Configuration and connection errors of the real `dsar` command: one or two lines, no traceback, nothing made.

Each case runs `python -m dsar` in an empty directory with no DSAR_* variable but the ones it sets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import need


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    return subprocess.run(
        [sys.executable, "-m", "dsar", *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_error(r: subprocess.CompletedProcess[str]) -> str:
    """The error's text, after checking it is 1-2 lines on stderr with no traceback and exit status 1."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), r.stderr
    return r.stderr


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("foo://x/y", ["unknown database scheme foo://", "postgresql+psycopg://"]),
        ("not a url", ["DSAR_DATABASE_URL is not a database URL"]),
        ("postgres://dsar@db.example/dsar", ["write postgresql+psycopg://dsar@db.example/dsar"]),
        ("mysql+mysqldb://root@127.0.0.1/x", ["mysqldb driver", 'pip install "dsar[mysql]"']),
        (
            "postgresql+pg8000://u@127.0.0.1/x",
            ["pg8000 driver", 'postgresql+psycopg://... and pip install "dsar[postgres]"'],
        ),
        ("postgresql+psycopg://postgres@127.0.0.1:1/x", ["127.0.0.1:1", "refused", "is the server running"]),
        ("mysql+pymysql://root@127.0.0.1:1/x", ["127.0.0.1:1", "refused", "is the server running"]),
    ],
)
def test_a_bad_database_url_is_one_or_two_lines(tmp_path: Path, url: str, expected: list[str]) -> None:
    out = one_error(run(tmp_path, "tasks", "list", DSAR_DATABASE_URL=url))
    for text in expected:
        assert text in out
    assert list(tmp_path.iterdir()) == []


def test_a_missing_postgresql_database_is_named(tmp_path: Path) -> None:
    need("postgres")
    out = one_error(
        run(tmp_path, "db", "upgrade", DSAR_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1/dsar_none")
    )
    assert '"dsar_none" does not exist' in out and "createdb" in out
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_file_under_a_missing_directory_is_not_made(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'dir' / 'dsar.sqlite3'}"
    out = one_error(run(tmp_path, "db", "upgrade", DSAR_DATABASE_URL=url))
    assert f"the directory {tmp_path / 'missing' / 'dir'} does not exist" in out
    assert not (tmp_path / "missing").exists()


def test_a_bad_setting_names_its_variable(tmp_path: Path) -> None:
    out = one_error(run(tmp_path, "tasks", "list", DSAR_JOB__WORKERS="0"))
    assert "DSAR_JOB__WORKERS" in out
    out = one_error(run(tmp_path, "tasks", "list", DSAR_PUBLIC_URL="notaurl"))
    assert "DSAR_PUBLIC_URL" in out and "https://privacy.example.com" in out


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        (["tasks", "list"], "DSAR_PRIVACY__REQUEST_TYPES", "access"),
        (["db", "upgrade"], "DSAR_REQUESTS__RULES", "x"),
        (["serve", "--port", "1"], "DSAR_ODR__PLAIN_REDIRECT_URIS", "aeon://x"),  # read outside load_settings
    ],
)
def test_a_setting_that_is_not_json_names_its_variable_not_its_value(
    tmp_path: Path, command: list[str], variable: str, value: str
) -> None:
    out = one_error(run(tmp_path, *command, **{variable: value}))
    assert f"{variable}: not valid JSON" in out and "docs/settings.md" in out and value not in out
    assert list(tmp_path.iterdir()) == []


def test_no_state_here_says_what_to_set_and_makes_nothing(tmp_path: Path) -> None:
    out = one_error(run(tmp_path, "tasks", "list"))
    assert "DSAR_DATA_DIR" in out and "DSAR_DATABASE_URL" in out and "dsar demo" in out
    assert list(tmp_path.iterdir()) == []


def test_the_commands_find_the_demo_state(tmp_path: Path) -> None:
    (tmp_path / "dsar-demo" / "state").mkdir(parents=True)
    up = run(tmp_path, "db", "upgrade", DSAR_SECRET_KEY="k" * 32)
    assert up.returncode == 0 and "up to date" in up.stdout, up.stderr
    assert (tmp_path / "dsar-demo" / "state" / "dsar.sqlite3").exists()
    listed = run(tmp_path, "tasks", "list", DSAR_SECRET_KEY="k" * 32)
    assert listed.returncode == 0 and listed.stdout == "", listed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dsar-demo"]  # no ./dsar-data


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    flag = run(tmp_path, "--debug", "tasks", "list", DSAR_DATABASE_URL="foo://x/y")
    assert flag.returncode != 0 and "Traceback" in flag.stderr and "unknown database scheme" in flag.stderr
    level = run(tmp_path, "tasks", "list", DSAR_DATABASE_URL="foo://x/y", DSAR_LOG_LEVEL="DEBUG")
    assert level.returncode != 0 and "Traceback" in level.stderr


def test_an_unreachable_source_names_it_its_address_and_the_reason(tmp_path: Path) -> None:
    datamap = tmp_path / "datamap.yaml"
    datamap.write_text(
        "version: 1\nsources:\n  shop:\n    url: postgresql+psycopg://postgres@127.0.0.1:1/shop\ncollections: {}\n"
    )
    r = run(tmp_path, "datamap", "check", str(datamap))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert "source shop: cannot connect to 127.0.0.1:1:" in line and "refused" in line.lower()


def test_demo_on_a_busy_port_says_so_first(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = run(tmp_path, "demo", "--port", str(port))
    assert r.stdout == ""
    out = one_error(r)
    assert f"port {port} on 127.0.0.1 is in use" in out and "--port" in out
    assert list(tmp_path.iterdir()) == []


def test_help_shows_no_type_labels_on_flags(tmp_path: Path) -> None:
    for args in (["--help"], ["tasks", "show", "--help"], ["demo", "--help"]):
        r = run(tmp_path, *args)
        assert r.returncode == 0 and "<bool>" not in r.stdout and "--help" in r.stdout, args
