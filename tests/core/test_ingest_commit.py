"""A stored page commits without waiting for its flush on PostgreSQL; whatever goes out always waits.

Every test runs on SQLite and PostgreSQL. On PostgreSQL the setting in force is read from the
server at each commit (``SHOW synchronous_commit``, on the transaction's own connection, just before
it commits), on a database given PostgreSQL's default (``on``; the test server runs with ``off``);
SQLite has no such setting (WAL with ``synchronous=NORMAL`` never flushes a commit) and is sent none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlmodel import select

from connectors.base import Batch
from socialcrm.config import SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.models import Mention, OutboxItem, SourceState, Ticket, utcnow
from socialcrm.pipeline import Pipeline
from socialcrm.rules.loader import compile_rules
from socialcrm.services import outbox
from tests.core.fakes import FakeClassifier, post

TICKET_RULE = """
[[rules]]
name = "complaint"
[rules.when]
sentiment = ["negative"]
[[rules.then]]
action = "open_ticket"
"""
WEBHOOK_RULE = """
[[webhooks]]
name = "desk"
url = "http://127.0.0.1:9/hook"

[[rules]]
name = "tell-the-desk"
[rules.when]
query = 'kaputt'
[[rules.then]]
action = "notify"
webhook = "desk"
message = "broken again"
"""
SHOP = SourceConfig(name="shop", type="feed", interval="15m")


@pytest.fixture
def db(db: Database) -> Database:
    """The test's database, committing as PostgreSQL does by default (``synchronous_commit = on``)."""
    if not db.is_sqlite:
        with db.engine.connect() as connection:
            name = connection.execute(text("SELECT current_database()")).scalar_one()
            connection.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = on')
            connection.commit()
        db.dispose()  # connections opened from now on start with it
    return db


@contextmanager
def commit_settings(db: Database) -> Iterator[list[str]]:
    """``synchronous_commit`` as each commit found it (PostgreSQL); every statement sent about it (SQLite)."""
    seen: list[str] = []

    def on_commit(connection: Any) -> None:
        if not db.is_sqlite:
            cursor = connection.connection.dbapi_connection.cursor()
            cursor.execute("SHOW synchronous_commit")
            seen.append(cursor.fetchone()[0])
            cursor.close()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if db.is_sqlite and "synchronous_commit" in statement:
            seen.append(statement)

    event.listen(db.engine, "commit", on_commit)
    event.listen(db.engine, "before_cursor_execute", on_statement)
    try:
        yield seen
    finally:
        event.remove(db.engine, "commit", on_commit)
        event.remove(db.engine, "before_cursor_execute", on_statement)


def pipeline(db: Database, toml: str) -> Pipeline:
    config = parse_config(toml)
    return Pipeline(
        config, db, FakeClassifier(), compile_rules(list(config.rules), config.templates, webhooks={"desk"})
    )


async def test_a_stored_page_and_an_unchanged_one_commit_without_waiting_for_the_flush(db: Database) -> None:
    ingest = pipeline(db, TICKET_RULE)
    page = [post("shop", 1, "Lieferung ärgerlich"), post("shop", 2, "Guten Morgen")]

    with commit_settings(db) as seen:
        stored = await ingest.process(SHOP, Batch(posts=page, cursor="c1"))
        again = await ingest.process(SHOP, Batch(posts=page, cursor="c2"))  # nothing new: only the cursor
        with db.write() as session:  # anything else (a claim, an approval, a person's change): as the server says
            session.add(Ticket(subject="by hand"))

    assert (stored.new, stored.tickets, again.new) == (2, 1, 0)
    assert seen == ([] if db.is_sqlite else ["off", "off", "on"])
    with db.read() as session:
        assert len(session.exec(select(Mention)).all()) == 2
        state = session.get(SourceState, "shop")
        assert state is not None and (state.cursor, state.new_total, state.fetched_total) == ("c2", 2, 4)


async def test_a_page_that_queues_a_webhook_waits_for_the_flush(db: Database) -> None:
    ingest = pipeline(db, WEBHOOK_RULE)

    with commit_settings(db) as seen:
        await ingest.process(SHOP, Batch(posts=[post("shop", 1, "Schon wieder kaputt")], cursor="c1"))
        await ingest.process(SHOP, Batch(posts=[post("shop", 2, "Alles gut")], cursor="c2"))

    assert seen == ([] if db.is_sqlite else ["on", "off"])
    with db.read() as session:
        queued = session.exec(select(OutboxItem)).all()
    assert [item.kind for item in queued] == ["webhook"]


async def test_ingest_synchronous_commit_true_makes_every_page_wait(db: Database) -> None:
    ingest = pipeline(db, "[database]\ningest_synchronous_commit = true\n" + TICKET_RULE)

    with commit_settings(db) as seen:
        await ingest.process(SHOP, Batch(posts=[post("shop", 1, "Lieferung ärgerlich")], cursor="c1"))
        await ingest.process(SHOP, Batch(posts=[post("shop", 1, "Lieferung ärgerlich")], cursor="c2"))

    assert seen == ([] if db.is_sqlite else ["on", "on"])


def test_queueing_in_a_write_that_asked_not_to_wait_still_waits(db: Database) -> None:
    with commit_settings(db) as seen:
        with db.write(synchronous_commit=False) as session:
            outbox.enqueue(session, "email", "mail:1", {"to": "ops@example.com"}, now=utcnow())
        with db.write(synchronous_commit=False) as session:
            session.add(Ticket(subject="derived, made again after a crash"))

    assert seen == ([] if db.is_sqlite else ["on", "off"])
