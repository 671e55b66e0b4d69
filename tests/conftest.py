"""Shared fixtures: real services on loopback (required in CI), the demo shop, a running app."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import stack
from tests import stripe as stripe_mod

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


@contextmanager
def fresh_pg_database(template: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database with a random name (empty, or a copy of `template`), dropped afterwards."""
    need("postgres")
    from sqlalchemy import create_engine, text

    name = "dsar_t_" + secrets.token_hex(6)
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    with fresh_pg_database() as url:
        yield url


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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-compatible HTTP server (moto's standalone server) on a free loopback port."""
    import shutil
    import subprocess
    import sys
    import time

    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        found = shutil.which("moto_server")
        if found is None:
            pytest.fail('moto_server is missing: pip install "moto[server]" (part of dsar[dev])')
        exe = Path(found)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("moto_server did not start")
            time.sleep(0.1)
    saved = {
        k: os.environ.get(k)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")
    }
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """localstripe, a third-party Stripe emulator (part of dsar[dev]), on a free loopback port."""
    with stripe_mod.running() as url:
        yield url


@pytest.fixture
def stripe_seed(localstripe: str) -> Iterator[stripe_mod.Seed]:
    """The emulator emptied for this test, and a client to put data into it."""
    seed = stripe_mod.Seed(localstripe)
    seed.reset()
    try:
        yield seed
    finally:
        seed.close()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket on the S3 test server."""
    import boto3

    name = "dsar-t-" + secrets.token_hex(6)
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session", autouse=True)
def _test_stack(request: pytest.FixtureRequest) -> Iterator[None]:
    """DSAR_TEST_STACK=scale: PostgreSQL, Redis and the S3 server are needed, and a Celery worker runs."""
    if not stack.SCALE:
        yield
        return
    need("postgres")
    need("redis")
    stack.start(request.getfixturevalue("s3_endpoint"))
    try:
        yield
    finally:
        stack.stop()


@pytest.fixture(scope="module", autouse=True)
def _scale_databases() -> Iterator[None]:
    """The databases the scale stack created for a module's apps are dropped after the module."""
    before = stack.databases()
    yield
    stack.drop_databases(before)
