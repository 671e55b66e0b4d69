"""Shared by the command modules: settings, the container, and errors printed without tracebacks.

A configuration or connection error is one or two lines (what is wrong, what to do) and exit status 1;
`dsar --debug ...` or DSAR_LOG_LEVEL=DEBUG shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.exc import OperationalError

from dsar import log
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.db.engine import connect_failure, connect_hint
from dsar.errors import DsarError

DEMO_DIR = Path("dsar-demo")  # `dsar demo`'s default --dir
_debug = False


def set_debug(on: bool) -> None:
    global _debug
    _debug = on


def debugging() -> bool:
    return _debug or os.environ.get("DSAR_LOG_LEVEL", "").upper() == "DEBUG"


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _configured(*names: str) -> bool:
    return any(name in os.environ for name in names)


def settings_problem(exc: ValidationError | SettingsError) -> str:
    """One line naming the DSAR_* variable that is wrong and how (never its value: it may be a secret)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return "DSAR_" + "__".join(str(part) for part in first["loc"]).upper() + f": {first['msg']}"
    found = re.search(r'field "([^"]+)"', str(exc))
    prefix = "DSAR_" + (found.group(1).upper() if found else "")
    for name in sorted(os.environ):  # the variable of that field whose value is not JSON
        if name == prefix or name.startswith(prefix + "__"):
            try:
                json.loads(os.environ[name])
            except ValueError:
                return (
                    f"{name}: not valid JSON; this setting takes a JSON value (a list, an object or a quoted "
                    "string): see docs/settings.md"
                )
    return f"{prefix}: {exc}; see docs/settings.md"


def load_settings(*, state: bool = True, create: bool = False, **values: Any) -> Settings:
    """Settings from DSAR_*. With neither DSAR_DATA_DIR nor DSAR_DATABASE_URL set, the state is ./dsar-data when
    it exists, else the one `dsar demo` made here (./dsar-demo); `state=False`: the command needs no state
    (the data map only);
    `create=True`: ./dsar-data is made when there is none (`dsar db upgrade`, `dsar serve`); `values` override."""
    try:
        s = Settings(**values)
        if values or _configured("DSAR_DATA_DIR", "DSAR_DATABASE_URL") or s.data_dir.is_dir():
            return s
        demo_state = DEMO_DIR / "state"
        if demo_state.is_dir():
            datamap = s.datamap if _configured("DSAR_DATAMAP") else DEMO_DIR / "datamap.yaml"
            return Settings(data_dir=demo_state, datamap=datamap)
    except (ValidationError, SettingsError) as exc:
        fail(settings_problem(exc))
    if create or not state:
        return s
    fail(
        f"no dsar state here (./{s.data_dir} and ./{DEMO_DIR / 'state'} do not exist): set DSAR_DATA_DIR or "
        "DSAR_DATABASE_URL to your deployment's, or run this in the directory where `dsar demo` ran"
    )


@contextmanager
def container(with_workers: bool = False, settings: Settings | None = None) -> Iterator[Container]:
    """The services over `settings` (found by `load_settings()` when None), the state database reachable."""
    s = settings or load_settings()
    log.configure(s.log_level, s.log_json)
    c = Container(s, with_workers=with_workers)
    try:
        try:
            c.db.ping()
            yield c
        except DsarError as exc:
            if debugging():
                raise
            fail(exc.message)
        except OperationalError as exc:  # a data source, or the state database failing after the start
            if debugging():
                raise
            reason = connect_failure(exc)
            fail(
                f"a database failed: {reason}\n  {connect_hint(reason, 'the URL of that source or DSAR_DATABASE_URL')}"
            )
    finally:
        c.close()


def port_free(host: str, port: int) -> None:
    """Exit with one line when `host:port` cannot be listened on (before anything else is printed)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
        try:
            sock.bind((host, port))
        except OSError as exc:
            reason = "in use" if exc.errno in (98, 48) else exc.strerror or str(exc)
            fail(f"port {port} on {host} is {reason}; choose another with --port")
