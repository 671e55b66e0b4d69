"""Shared fixtures: real services on loopback (required in CI), the demo shop, a running app."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

SERVICES = {
    "postgres": ("127.0.0.1", 5432),
    "mysql": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
}
_missing: set[str] = set()


def reachable(name: str) -> bool:
    host, port = SERVICES[name]
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need(name: str) -> None:
    """Use the real service; without it skip, unless DSAR_TEST_SERVICES=require makes that a failure."""
    if reachable(name):
        return
    if os.environ.get("DSAR_TEST_SERVICES") == "require":
        pytest.fail(f"{name} is required (DSAR_TEST_SERVICES=require) but not reachable at {SERVICES[name]}")
    _missing.add(name)
    pytest.skip(f"{name} not reachable")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _missing:
        terminalreporter.write_line(f"services missing, their tests skipped: {', '.join(sorted(_missing))}")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    need("postgres")
    from sqlalchemy import create_engine, text

    name = "dsar_t_" + secrets.token_hex(6)
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh, empty MariaDB database, dropped afterwards."""
    need("mysql")
    from sqlalchemy import create_engine, text

    name = "dsar_t_" + secrets.token_hex(6)
    admin = create_engine("mysql+pymysql://root@127.0.0.1:3306/", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo shop, built once per test session (2,000 customers keeps it quick)."""
    from dsar.demo.generate import build_demo

    directory = tmp_path_factory.mktemp("demo")
    build_demo(directory, customers=2000)
    return directory
