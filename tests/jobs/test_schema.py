"""Procrastinate's schema comes with our Alembic migrations on PostgreSQL, and nothing of it on SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from socialcrm.db import Database
from socialcrm.errors import DatabaseError
from socialcrm.jobs import schema
from socialcrm.services.queue import queue_status


def test_postgres_gets_the_queue_with_the_installed_version_recorded(db: Database) -> None:
    with db.engine.connect() as conn:
        if db.is_sqlite:
            tables = conn.execute(text("SELECT name FROM sqlite_master WHERE name LIKE 'procrastinate%'")).all()
            assert tables == []
            assert schema.upgrade_procrastinate_schema(conn) == []
            return
        for table in schema.TABLES:
            assert conn.execute(text(f"SELECT to_regclass('{table}') IS NOT NULL")).scalar() is True
        assert schema.recorded_version(conn) == schema.installed_version()
        assert schema.schema_problem(conn) is None


def test_upgrading_again_applies_nothing(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("no queue on SQLite")
    with db.engine.begin() as conn:
        assert schema.upgrade_procrastinate_schema(conn) == []


def test_a_database_behind_the_installed_procrastinate_is_told_to_upgrade(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("no queue on SQLite")
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"COMMENT ON TABLE procrastinate_jobs IS '{schema.MARKER}3.3.0'")
        problem = schema.schema_problem(conn)
        assert problem is not None and "socialcrm db upgrade" in problem and "3.3.0" in problem
        conn.exec_driver_sql("COMMENT ON TABLE procrastinate_jobs IS NULL")
        with pytest.raises(DatabaseError, match="did not create"):
            schema.recorded_version(conn)


def test_the_scripts_newer_than_a_version_come_in_release_order() -> None:
    names = schema.scripts_after((3, 3, 0))
    assert names == sorted(names) and names and all(n.startswith(("03.04.", "03.05.", "03.1")) for n in names)
    assert schema.scripts_after(schema.installed_version()) == []
    everything_but_the_first = [name for _, _, name in schema.shipped_scripts()][1:]
    assert schema.scripts_after((0, 0, 0)) == everything_but_the_first


def test_sqlite_has_no_queue_to_report(db: Database) -> None:
    with db.read() as session:
        status = queue_status(session, 30)
    assert status.available is not db.is_sqlite
    if db.is_sqlite:
        assert "SQLite" in status.summary()
