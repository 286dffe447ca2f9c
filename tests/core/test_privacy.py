"""Data-protection requests: export finds everything about a person; erase removes it and keeps the statistics."""

from __future__ import annotations

import json

import pytest
from sqlmodel import func, select

from connectors.base import Batch
from socialcrm.config import Config, SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.errors import NotFoundError
from socialcrm.models import AuditEntry, Customer, Identity, Mention, Order, OutboxItem, ReplyDraft, Ticket
from socialcrm.services import drafts
from socialcrm.services.imports import import_customers, import_orders
from socialcrm.services.privacy import erase_person, export_person
from tests.core.fakes import post
from tests.core.test_pipeline import RULES, make_pipeline

CUSTOMERS = (
    "customer_ref,name,email,phone,company,segment,reddit,mastodon,bluesky,discourse,hackernews,feed\n"
    "K-1,Jana Fischer,jana@example.de,,,private,,,,,,jana\n"
    "K-2,Tom Weber,tom@example.de,,,private,,,,,,tom\n"
)
ORDERS = "order_number,customer_ref,date,product,status\n100234,K-1,2026-11-05,Barista 3000,shipped\n"


@pytest.fixture
def config() -> Config:
    return parse_config(RULES)


async def seeded(config: Config, db: Database) -> None:
    with db.write() as session:
        import_customers(session, CUSTOMERS.encode(), actor="test")
        import_orders(session, ORDERS.encode(), actor="test")
    pipeline = make_pipeline(config, db)
    batch = Batch(
        posts=[
            post("blog", 1, "Meine Lieferung ist überfällig, ärgerlich! jana@example.de", thread="t1", author="jana"),
            post("blog", 2, "Wie entkalke ich die Maschine?", thread="t2", author="jana"),
            post("blog", 3, "Wie lange dauert die Lieferung?", thread="t3", author="tom"),
        ],
        cursor="c",
    )
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
        erased = session.exec(select(Mention).where(Mention.external_id.in_(["blog-1", "blog-2"]))).all()  # type: ignore[attr-defined]
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
