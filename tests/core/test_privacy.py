"""Data-protection requests: export finds everything about a person; erase removes it and keeps the statistics."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event, text
from sqlmodel import func, select

from connectors.base import Batch, RawPost
from socialcrm.config import Config, SourceConfig, parse_config
from socialcrm.db import Database, alembic_config
from socialcrm.errors import NotFoundError
from socialcrm.models import (
    AuditEntry,
    Customer,
    Identity,
    Mention,
    Order,
    OutboxItem,
    ReplyDraft,
    SourceState,
    Ticket,
)
from socialcrm.services import drafts
from socialcrm.services.erased_posts import erased_id, installation_key
from socialcrm.services.imports import import_customers, import_orders
from socialcrm.services.privacy import erase_person, export_person
from tests.core.fakes import post
from tests.core.test_pipeline import RULES, make_pipeline

CUSTOMERS = (
    "customer_ref,name,email,phone,company,segment,reddit,mastodon,bluesky,discourse,hackernews,feed\n"
    "K-1,Jana Fischer,jana@example.de,,,private,,,,,,jana\n"
    "K-2,Tom Weber,tom@example.de,,,private,,,,,,tom\n"
)
BEFORE_HASHING = "98f310373019"  # the revision before erased mentions kept a keyed hash of their post id
ORDERS = "order_number,customer_ref,date,product,status\n100234,K-1,2026-11-05,Barista 3000,shipped\n"


@pytest.fixture
def config() -> Config:
    return parse_config(RULES)


def seeded_posts() -> list[RawPost]:
    """Jana's two posts (her e-mail address in the first) and Tom's one, as the blog serves them."""
    return [
        post("blog", 1, "Meine Lieferung ist überfällig, ärgerlich! jana@example.de", thread="t1", author="jana"),
        post("blog", 2, "Wie entkalke ich die Maschine?", thread="t2", author="jana"),
        post("blog", 3, "Wie lange dauert die Lieferung?", thread="t3", author="tom"),
    ]


async def seeded(config: Config, db: Database) -> None:
    with db.write() as session:
        import_customers(session, CUSTOMERS.encode(), actor="test")
        import_orders(session, ORDERS.encode(), actor="test")
    pipeline = make_pipeline(config, db)
    batch = Batch(posts=seeded_posts(), cursor="c")
    await pipeline.process(SourceConfig(name="blog", type="feed"), batch)
    with db.write() as session:
        draft = session.exec(select(ReplyDraft).join(Mention).where(Mention.author == "jana")).one()
        drafts.approve(session, draft.id, user="cm")  # type: ignore[arg-type]


async def test_export_holds_everything_about_the_person(config: Config, db: Database) -> None:
    await seeded(config, db)
    with db.write() as session:
        document = export_person(session, "K-1", actor="dpo")
    text = json.dumps(document, default=str)
    assert document["customers"][0]["name"] == "Jana Fischer"
    assert {m["external_id"] for m in document["mentions"]} == {"blog-1", "blog-2"}
    assert document["orders"][0]["order_number"] == "100234"
    assert document["tickets"] and document["drafts"] and document["identities"]
    assert "Tom Weber" not in text and "blog-3" not in text


async def test_erase_removes_personal_data_and_keeps_statistics(config: Config, db: Database) -> None:
    await seeded(config, db)
    with db.read() as session:
        tickets_before = session.exec(select(func.count()).select_from(Ticket)).one()
    with db.write() as session:
        counts = erase_person(session, "K-1", actor="dpo")
    assert counts["mentions"] == 2 and counts["customers"] == 1
    with db.read() as session:
        assert session.exec(select(Customer).where(Customer.customer_ref == "K-1")).first() is None
        assert session.exec(select(Identity).where(Identity.handle == "jana")).first() is None
        assert session.exec(select(Order)).first() is None
        erased = session.exec(select(Mention).where(Mention.erased_at.is_not(None))).all()  # type: ignore[union-attr]
        assert len(erased) == 2
        for mention in erased:
            assert mention.text == "" and mention.author is None and mention.raw is None and mention.erased_at
            assert mention.sentiment is not None  # the dashboard keeps its numbers
        assert session.exec(select(func.count()).select_from(Ticket)).one() == tickets_before
        assert all(t.customer_id is None for t in session.exec(select(Ticket)) if t.subject == "[erased]")
        outbox = session.exec(select(OutboxItem)).one()
        assert outbox.status == "failed" and "jana" not in json.dumps(outbox.payload)
        # Somebody else's data is untouched.
        tom = session.exec(select(Mention).where(Mention.external_id == "blog-3")).one()
        assert tom.author == "tom" and "Lieferung" in tom.text
        assert session.exec(select(Customer).where(Customer.customer_ref == "K-2")).one().name == "Tom Weber"
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "customer.erase")).one()
        assert entry.detail["customer_ref"] == "K-1" and "Jana" not in json.dumps(entry.detail)
        everything = json.dumps([m.model_dump(mode="json") for m in session.exec(select(Mention))])
    assert "jana@example.de" not in everything
    with db.write() as session, pytest.raises(NotFoundError):
        erase_person(session, "K-1", actor="dpo")


async def test_an_erased_post_keeps_only_a_keyed_hash_of_its_id_and_is_not_stored_again(
    config: Config, db: Database
) -> None:
    """A re-fetched erased post must not come back (a feed lists it for weeks), yet its id must not stay readable."""
    await seeded(config, db)
    with db.write() as session:
        erase_person(session, "K-1", actor="dpo")
    with db.read() as session:
        key = installation_key(session)
        stored = sorted(session.exec(select(Mention.external_id)).all())
    assert stored == sorted(["blog-3", erased_id(key, "blog", "blog-1"), erased_id(key, "blog", "blog-2")])
    assert all(i == "blog-3" or ("blog-1" not in i and "blog-2" not in i and len(i) == 71) for i in stored)
    assert erased_id(key, "blog", "blog-1") != erased_id(key, "other", "blog-1")  # no link across sources
    assert erased_id(b"another installation", "blog", "blog-1") != erased_id(key, "blog", "blog-1")

    # The same posts fetched again, beside a new one: only the new one is stored.
    again = Batch(
        posts=[
            *seeded_posts()[:2],
            # A post id that only looks like a hash (a feed may name its entries anything) is still hashed.
            dataclasses.replace(post("blog", 4, "Neu hier, hallo!", thread="t4", author="ben"), external_id="erased:4"),
        ],
        cursor="d",
    )
    result = await make_pipeline(config, db).process(SourceConfig(name="blog", type="feed"), again)
    assert result.new == 1
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(Mention)).one() == 4
        assert session.exec(select(Mention).where(Mention.author == "jana")).first() is None
    with db.write() as session:  # erasing again (a person with an earlier erased mention) leaves the hash
        import_customers(session, b"customer_ref,name,feed\nK-3,Ben,ben\n", actor="test")
        erase_person(session, "K-3", actor="dpo")
    with db.read() as session:
        assert sorted(session.exec(select(Mention.external_id)).all()) == sorted(
            [*stored, erased_id(key, "blog", "erased:4")]
        )


def test_upgrading_hashes_the_post_ids_of_mentions_erased_before(db: Database) -> None:
    with db.engine.begin() as connection:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, BEFORE_HASHING)
        for n, erased in enumerate(("2026-11-30 10:00:00", None)):
            connection.execute(
                text(
                    "INSERT INTO mention (source, source_type, external_id, url, kind, text, truncated, tags,"
                    " author_metrics, published_at, fetched_at, erased_at)"
                    " VALUES ('r-acme', 'reddit', :e, '', 'post', '', false, '[]', '{}', :at, :at, :erased)"
                ),
                {"e": f"t3_abc{n}", "at": "2026-11-25 00:00:00", "erased": erased},
            )
        command.upgrade(cfg, "head")
    with db.read() as session:
        key = installation_key(session)
        assert len(key) == 32
        assert sorted(session.exec(select(Mention.external_id)).all()) == sorted(
            ["t3_abc1", erased_id(key, "r-acme", "t3_abc0")]
        )


async def test_the_erasure_key_is_never_taken_for_a_copy_of_her_data(config: Config, db: Database) -> None:
    """A random hex key can hold the digits of her phone number; redacted, it would let her posts back in."""
    secret = "ab401234567ab" + "0" * 51
    with db.write() as session:
        session.exec(text("UPDATE erasure_key SET secret = :s").bindparams(s=secret))  # type: ignore[call-overload]
        import_customers(session, b"customer_ref,name,phone,feed\nK-9,Eva Braun,+49 40 1234567,eva\n", actor="test")
    with db.write() as session:
        assert all(c["table"] != "erasure_key" for c in export_person(session, "K-9", actor="dpo")["copies"])
        erase_person(session, "K-9", actor="dpo")
    with db.read() as session:
        assert installation_key(session) == bytes.fromhex(secret)


async def test_a_source_without_erased_mentions_is_asked_no_hashes_until_one_is_erased(
    config: Config, db: Database
) -> None:
    """The duplicate check sends erased-id hashes only for a source with erased mentions, and notices one at once.

    The pipeline has already polled the source when the erasure comes (from another process, say the
    CLI): its next poll must still find the erased posts known, or it would store them again.
    """
    await seeded(config, db)
    pipeline = make_pipeline(config, db)
    with db.read() as session:
        key = installation_key(session)
    hashes = {erased_id(key, "blog", f"blog-{n}") for n in (1, 2, 3)}
    again = Batch(posts=seeded_posts(), cursor="d")
    with sent_statements(db) as sent:
        assert (await pipeline.process(SourceConfig(name="blog", type="feed"), again)).new == 0
    assert not hashes & {str(value) for _, parameters in sent for value in _values(parameters)}
    probe = next((s, p) for s, p in sent if "erased_at IS NOT NULL" in s)
    with db.engine.connect() as connection:
        if not db.is_sqlite:
            connection.exec_driver_sql("SET enable_seqscan = off")
        plan = connection.exec_driver_sql(f"EXPLAIN {'QUERY PLAN ' if db.is_sqlite else ''}{probe[0]}", probe[1]).all()
    assert "ix_mention_erased_source" in str(plan), plan

    with db.write() as session:
        erase_person(session, "K-1", actor="dpo")
    with sent_statements(db) as sent:
        assert (await pipeline.process(SourceConfig(name="blog", type="feed"), again)).new == 0
    assert hashes & {str(value) for _, parameters in sent for value in _values(parameters)}
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(Mention)).one() == 3
        assert session.exec(select(Mention).where(Mention.author == "jana")).first() is None
    # Remembered: the next page asks ids and hashes in one statement, without the probe.
    with sent_statements(db) as sent:
        assert (await pipeline.process(SourceConfig(name="blog", type="feed"), again)).new == 0
    assert not [s for s, _ in sent if "erased_at IS NOT NULL" in s]
    assert len([s for s, _ in sent if "external_id IN" in s]) == 1


@contextlib.contextmanager
def sent_statements(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """The statements (and their parameters) sent to the database inside the block."""
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)


def _values(parameters: Any) -> list[Any]:
    """The bound values of one statement, whatever shape the driver takes them in."""
    if isinstance(parameters, dict):
        return list(parameters.values())
    return list(parameters or ())


async def test_erasure_takes_her_post_ids_out_of_the_sources_cursor(config: Config, db: Database) -> None:
    """A Reddit-style cursor names posts (the next page's ``after=<fullname>``, ids seen near the mark)."""
    await seeded(config, db)
    stream = {"hw": 1.0, "seen": {"blog-1": 1.0, "blog-3": 1.0}, "walk": {"anchor": "blog-1", "floor": 0.5, "top": 1.0}}
    cursor = json.dumps({"v": 1, "kind": "reddit", "streams": {"posts": stream, "comments": {"hw": 1.0, "seen": {}}}})
    with db.write() as session:
        state = session.get(SourceState, "blog")
        state.cursor = cursor
        session.add(state)
    with db.write() as session:
        erase_person(session, "K-1", actor="dpo")
    with db.read() as session:
        stored = json.loads(session.get(SourceState, "blog").cursor)
    # Her post is gone; Tom's stays; without the anchor the next poll walks from the newest page to the mark.
    assert stored["streams"]["posts"] == {"hw": 1.0, "seen": {"blog-3": 1.0}}
    assert stored["streams"]["comments"] == {"hw": 1.0, "seen": {}}
