"""The database layer: migrations match the models, WAL + BEGIN IMMEDIATE, UTC round trips, one writer."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel, select

from socialcrm.db import Database, redact_url
from socialcrm.jobs.schema import include_name
from socialcrm.models import SourceState


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False, "include_name": include_name}),
            SQLModel.metadata,
        )
    assert diff == [], f"models and migrations disagree; run tools/regen_initial_migration.sh: {diff}"


def test_upgrade_is_idempotent(db: Database) -> None:
    before = db.current_revision()
    db.upgrade()
    assert db.current_revision() == before is not None


def test_datetimes_come_back_tz_aware_utc(db: Database) -> None:
    berlin = timezone(timedelta(hours=1))
    when = datetime(2026, 11, 27, 12, 30, tzinfo=berlin)
    with db.write() as session:
        session.add(SourceState(name="s", type="feed", last_success_at=when))
    with db.read() as session:
        state = session.get(SourceState, "s")
        assert state is not None and state.last_success_at is not None
        assert state.last_success_at.tzinfo is not None
        assert state.last_success_at == when
        assert state.last_success_at.utcoffset() == timedelta(0)


def test_sqlite_uses_wal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    with database.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    database.dispose()


def test_concurrent_read_then_write_loses_nothing(db: Database) -> None:
    """Many threads each read a counter and write it back + 1: with one writer none is lost."""
    with db.write() as session:
        session.add(SourceState(name="counter", type="feed", fetched_total=0))

    def bump() -> None:
        for _ in range(10):
            with db.write() as session:
                state = session.exec(select(SourceState).where(SourceState.name == "counter")).one()
                state.fetched_total += 1
                session.add(state)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.read() as session:
        assert session.get(SourceState, "counter").fetched_total == 80  # type: ignore[union-attr]


def test_a_worker_process_writes_concurrently_on_postgres_and_keeps_one_writer_on_sqlite(db: Database) -> None:
    """`socialcrm worker` lifts the process's write lock: two of its jobs can be inside a write at once."""
    db.write_concurrently()
    both_inside = threading.Barrier(2, timeout=1)
    met: list[bool] = []

    def write() -> None:
        with db.write() as session:
            session.connection().execute(text("SELECT 1"))
            try:
                both_inside.wait()
            except threading.BrokenBarrierError:
                met.append(False)
            else:
                met.append(True)

    threads = [threading.Thread(target=write) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert met == ([False, False] if db.is_sqlite else [True, True])


def test_failed_write_rolls_back(db: Database) -> None:
    try:
        with db.write() as session:
            session.add(SourceState(name="doomed", type="feed"))
            session.flush()
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with db.read() as session:
        assert session.get(SourceState, "doomed") is None


def test_redact_url_hides_password() -> None:
    assert "s3cret" not in redact_url("postgresql+psycopg://bob:s3cret@db.example/crm")
