"""Shared by the command modules: settings, the container, and errors printed without tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from dsar import log
from dsar.bootstrap import Container
from dsar.config import Settings
from dsar.errors import DsarError


@contextmanager
def container(with_workers: bool = False, settings: Settings | None = None) -> Iterator[Container]:
    s = settings or Settings()
    log.configure(s.log_level, s.log_json)
    c = Container(s, with_workers=with_workers)
    try:
        yield c
    except DsarError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        c.close()
