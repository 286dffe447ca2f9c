"""The database layer: migrations match the models, WAL + BEGIN IMMEDIATE, UTC round trips, one writer."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel, select

from socialcrm.db import CONCURRENT_WRITERS, PING_AFTER_IDLE_SECONDS, Database, redact_url
from socialcrm.db_rows import NewIds, insert_missing, insert_rows, update_rows
from socialcrm.jobs.schema import include_name
from socialcrm.models import Mention, ReplyDraft, SourceState, Ticket, table_of


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


def _mention_row(n: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "source": "s",
        "source_type": "feed",
        "external_id": f"e{n}",
        "url": "",
        "kind": "post",
        "thread_id": f"e{n}",
        "parent_id": None,
        "author": "anna",
        "author_name": None,
        "author_url": None,
        "title": None,
        "text": f"post {n} ' \" \\ ünïcödé",
        "truncated": False,
        "language": "de",
        "sentiment": "negative",
        "sentiment_score": 0.25,
        "classifier": "lexicon",
        "customer_id": None,
        "link_method": None,
        "link_confidence": None,
        "group": "shop",
        "tags": ["a", "b"],
        "author_metrics": {"followers": 3.0},
        "raw": None,
        "published_at": datetime(2026, 11, 1, 12, n, tzinfo=timezone(timedelta(hours=1))),
        "fetched_at": datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        "erased_at": None,
    }
    row.update(changes)
    return row


def test_insert_missing_stores_a_batch_as_it_stores_rows_one_by_one(db: Database) -> None:
    """Many rows at once (one unnest insert on PostgreSQL) store what one row at a time stores, ids in order."""
    table, key = table_of(Mention), ["source", "external_id"]
    batch = [_mention_row(n, raw={"k": [n]} if n % 2 else None, title="t" if n == 2 else None) for n in range(4)]
    with db.write() as session:
        singly = [insert_missing(session, table, [dict(row, source="single")], key, ["id"]) for row in batch]
        inserted = insert_missing(session, table, batch, key, ["id", "external_id"])
        again = insert_missing(session, table, [*batch[:2], _mention_row(9)], key, ["external_id"])
    assert [len(found) for found in singly] == [1, 1, 1, 1]
    assert [external_id for _, external_id in sorted(inserted)] == ["e0", "e1", "e2", "e3"]  # ids in the order given
    assert again == [("e9",)]  # rows stored already are skipped, without an error, and not returned
    columns = [c for c in table.columns if c.key not in ("id", "source")]
    with db.read() as session:
        rows = session.execute(select(*columns).where(table.c.external_id != "e9").order_by(table.c.source, table.c.id))
        stored = [tuple(row) for row in rows]
        nulls = session.execute(text("SELECT source, raw IS NULL FROM mention ORDER BY source, id")).all()
    assert stored[:4] == stored[4:]
    assert stored[0][columns.index(table.c.published_at)] == datetime(2026, 11, 1, 11, 0, tzinfo=UTC)
    assert stored[1][columns.index(table.c.raw)] == {"k": [1]}
    assert [isnull for source, isnull in nulls if source == "s"][:4] == [
        isnull for source, isnull in nulls if source == "single"
    ]


def test_concurrent_writes_run_side_by_side_on_postgres_up_to_a_limit(db: Database) -> None:
    """Batch stores (``write(concurrent=True)``) meet inside a transaction on PostgreSQL, at most a few at once."""
    all_inside = threading.Barrier(CONCURRENT_WRITERS, timeout=1)
    guard = threading.Lock()
    inside, most, met = [0], [0], list[bool]()

    def write() -> None:
        with db.write(concurrent=True) as session:
            session.connection().execute(text("SELECT 1"))
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            try:
                all_inside.wait()
            except threading.BrokenBarrierError:
                met.append(False)
            else:
                met.append(True)
            time.sleep(0.05)  # the others of the next round are waiting for a slot meanwhile
            with guard:
                inside[0] -= 1

    threads = [threading.Thread(target=write) for _ in range(2 * CONCURRENT_WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == (1 if db.is_sqlite else CONCURRENT_WRITERS)
    assert met == [not db.is_sqlite] * len(threads)


def test_insert_missing_fills_in_the_defaults_of_columns_the_rows_leave_out(db: Database) -> None:
    """Rows without a defaulted column (kind, fetched_at) get its default, as SQLAlchemy's insert gives it."""
    table = table_of(Mention)
    batch = [{k: v for k, v in _mention_row(n).items() if k not in ("kind", "fetched_at")} for n in range(3)]
    with db.write() as session:
        inserted = insert_missing(session, table, batch, ["source", "external_id"])
    with db.read() as session:
        stored = session.execute(select(table.c.kind, table.c.fetched_at)).all()
    assert len(inserted) == 3 and len(stored) == 3
    assert all(kind == "post" and fetched_at is not None for kind, fetched_at in stored)


# Text the array formats quote or escape: empty, the word NULL, delimiters, quotes, spaces, wide characters.
AWKWARD_TEXTS = [
    "",
    "NULL",
    "null",
    "{a,b}",
    'q"uote \\ back\\slash',
    " lead and trail ",
    "tab\tnew\nline",
    "Grüße 😀 \u3000",
]


def test_batched_rows_keep_awkward_values_exactly(db: Database) -> None:
    """Batches (one unnest statement each on PostgreSQL) store and update text, JSON, floats and times as given."""
    table, key = table_of(Mention), ["source", "external_id"]

    def row(n: int, source: str) -> dict[str, object]:
        awkward = AWKWARD_TEXTS[n % len(AWKWARD_TEXTS)]
        return _mention_row(
            n,
            source=source,
            text=awkward,
            title=None if n % 3 else awkward,
            author=awkward or None,
            tags=[*AWKWARD_TEXTS, f"t{n}"],
            author_metrics={awkward: awkward, "n": [n, 2.5, None, True, {"deep": "😀"}]},
            raw=None if n % 2 else {"id": n, "html": '<p class="x">a\\b</p>'},
            sentiment_score=0.1 + 0.2 if n % 2 else None,
            published_at=datetime(2026, 11, 1, 12, n, 7, 123456, tzinfo=timezone(timedelta(hours=-7, minutes=-30))),
        )

    inserted_missing = [row(n, "missing") for n in range(8)]
    inserted = [row(n, "rows") for n in range(8)]
    with db.write() as session:
        ids = [found[0] for found in insert_missing(session, table, inserted_missing, key, ["id"])]
        insert_rows(session, table, inserted)
        updates = [
            {"id": found, "tags": list(reversed(AWKWARD_TEXTS)), "link_confidence": 1.0 / 3, "author_name": text}
            for found, text in zip(sorted(ids), AWKWARD_TEXTS, strict=True)
        ]
        update_rows(session, table, updates)
    columns = [c for c in table.columns if c.key != "id"]
    with db.read() as session:
        stored = {(r.source, r.external_id): r._asdict() for r in session.execute(select(table.c.id, *columns)).all()}
    for given in [*inserted_missing, *inserted]:
        expected = dict(given, published_at=given["published_at"].astimezone(UTC))  # type: ignore[attr-defined]
        found = stored[given["source"], given["external_id"]]  # type: ignore[index]
        change = next((u for u in updates if u["id"] == found["id"]), {})
        expected.update({k: v for k, v in change.items() if k != "id"})
        assert {c.key: found[c.key] for c in columns} == expected
    assert len(updates) == 8


def test_a_batched_value_longer_than_its_column_is_refused_not_cut(db: Database) -> None:
    """PostgreSQL: the unnest arrays are cast to unbounded text, so the column refuses an over-long value.

    Cast to ``VARCHAR(16)[]`` the value was cut silently in a batch, refused in a one-row insert, and
    stored whole on SQLite (which checks no lengths): the caller clamps what may be cut.
    """
    if db.is_sqlite:
        pytest.skip("SQLite stores any length")
    table, key = table_of(Mention), ["source", "external_id"]
    rows = [_mention_row(n, source="long", kind="k" * 17 if n == 1 else "post") for n in range(3)]
    for write in (
        lambda session: insert_missing(session, table, rows, key, ["id"]),
        lambda session: insert_rows(session, table, rows),
    ):
        with pytest.raises(DBAPIError, match="too long"), db.write() as session:
            write(session)
    with db.write() as session:
        ids = [found[0] for found in insert_missing(session, table, rows[::2], key, ["id"])]
    with pytest.raises(DBAPIError, match="too long"), db.write() as session:
        update_rows(session, table, [{"id": found, "language": "zh-Hant-TW"} for found in ids])
    with db.read() as session:
        assert sorted(session.execute(select(table.c.kind, table.c.language)).all()) == [("post", "de")] * 2


def test_a_pooled_connection_the_server_dropped_while_idle_is_replaced_on_checkout(db: Database) -> None:
    """PostgreSQL: a connection whose server process ended while the pool held it is found and replaced unseen."""
    if db.is_sqlite:
        pytest.skip("SQLite has no server connection to lose")
    with db.read() as session:
        first = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    admin = create_engine(db.url, poolclass=NullPool)
    try:
        with admin.connect() as connection:  # as a server restart or an idle timeout on the server would
            assert connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(first)})").scalar_one()
    finally:
        admin.dispose()
    time.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
    with db.read() as session:
        second = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    assert second != first


def test_ids_drawn_ahead_are_handed_out_in_order_and_more_are_drawn_when_they_run_out(db: Database) -> None:
    """``NewIds.draw`` asks PostgreSQL for several ids in one statement; ``take`` hands them out lowest
    first, then draws one by one; every id is new (another writer draws from the same sequence)."""
    tickets, drafts = table_of(Ticket), table_of(ReplyDraft)
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    with db.write() as session:
        ids = NewIds(session)
        session.connection()  # the transaction's own BEGIN is not counted
        event.listen(db.engine, "before_cursor_execute", record)
        ids.draw({tickets: 2, drafts: 3})
        ahead = len(statements)
        taken = [ids.take(tickets) for _ in range(3)] + [ids.take(drafts) for _ in range(3)]
        event.remove(db.engine, "before_cursor_execute", record)
    if db.engine.dialect.name == "postgresql":
        assert ahead == 1  # both tables' ids in one round trip
        assert taken[:2] == [1, 2] and taken[2] == 3 and taken[3:] == [1, 2, 3]
        assert len(statements) == 2  # the third ticket's id was drawn on its own
    else:
        assert ahead == 0 and taken == [1, 2, 3, 1, 2, 3]  # SQLite: the highest id + 1, no drawing
