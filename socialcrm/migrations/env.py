"""Alembic environment: migrates the connection handed over by socialcrm.db, or the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import socialcrm.models  # noqa: F401  (registers every table)
from socialcrm.jobs.schema import include_name

target_metadata = SQLModel.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None, "alembic needs sqlalchemy.url or a connection"
    engine = create_engine(url)
    with engine.begin() as conn:
        _migrate(conn)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,  # Procrastinate's tables are its own, not our models'
    )
    with context.begin_transaction():
        context.run_migrations()


run()
