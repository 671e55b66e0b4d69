"""Alembic environment: dsar passes the connection in; batch mode keeps SQLite migrations possible."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

import dsar.auth.models
import dsar.jobs.periodic
import dsar.manual.models
import dsar.notifications.models
import dsar.odr.models
import dsar.portability.models
import dsar.requests.models
import dsar.tasks.models
import dsar.uploads.models
import dsar.verification.models  # noqa: F401  (registers the tables)
from dsar.db.base import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as conn:
            _migrate(conn)
        engine.dispose()
    else:
        _migrate(connection)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
