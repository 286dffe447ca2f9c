"""Retention: raw payloads and old mentions go when their time is up; mentions that work items need stay."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select

from connectors.base import Batch
from socialcrm.config import SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.models import Customer, CustomerNote, Identity, Mention, OutboxItem, User, WebSession, utcnow
from socialcrm.pipeline import Pipeline
from socialcrm.rules.loader import compile_rules
from socialcrm.services.housekeeping import run_housekeeping
from tests.core.fakes import FakeClassifier, post
from tests.core.test_pipeline import RULES, make_pipeline


async def test_retention_drops_raw_payloads_and_old_mentions(db: Database) -> None:
    config = parse_config(RULES + "\n[retention]\nraw_payload_days = 30\nmention_days = 365\n")
    pipeline = make_pipeline(config, db)
    batch = Batch(
        posts=[
            post("blog", 1, "Die Lieferung ist überfällig, ärgerlich!", thread="a"),  # opens a ticket
            post("blog", 2, "Bericht von der Messe", thread="b"),
            post("blog", 3, "Neuer Bericht", thread="c"),
        ],
        cursor="c",
    )
    await pipeline.process(SourceConfig(name="blog", type="feed"), batch)
    long_ago = utcnow() - timedelta(days=400)
    with db.write() as session:
        for mention in session.exec(select(Mention)):
            if mention.external_id in ("blog-1", "blog-2"):
                mention.published_at = long_ago
                mention.fetched_at = long_ago
                session.add(mention)
        user = User(username="u", password_hash="x", role="admin")
        session.add(user)
        session.flush()
        session.add(WebSession(id="old", user_id=user.id, csrf_token="t", expires_at=utcnow() - timedelta(hours=1)))  # type: ignore[arg-type]
        session.add(WebSession(id="new", user_id=user.id, csrf_token="t", expires_at=utcnow() + timedelta(hours=1)))  # type: ignore[arg-type]
    with db.write() as session:
        done = run_housekeeping(session, config)
    assert done == {
        "raw_payloads_dropped": 2,
        "webhook_payloads_deleted": 0,
        "mentions_deleted": 1,
        "prospects_deleted": 0,  # alice still has blog-1 and blog-3
        "sessions_expired": 1,
    }
    with db.read() as session:
        left = {m.external_id: m for m in session.exec(select(Mention))}
        sessions = [s.id for s in session.exec(select(WebSession))]
    assert set(left) == {"blog-1", "blog-3"}  # blog-1 is on a ticket, so it stays
    assert left["blog-1"].raw is None and left["blog-3"].raw is not None
    assert sessions == ["new"]


NOTIFY = """
[[rules]]
name = "fair-news"
[rules.when]
query = 'messe'
[[rules.then]]
action = "notify"
webhook = "chat"
message = "Trade fair"

[[webhooks]]
name = "chat"
url = "https://chat.example/hook"

[retention]
mention_days = 365
"""


async def test_retention_removes_webhook_payloads_and_prospects_left_without_mentions(db: Database) -> None:
    """Issue 11 item 14: the first release kept the old posts' text in webhook payloads, and their authors."""
    config = parse_config(NOTIFY)
    pipeline = Pipeline(config, db, FakeClassifier(), compile_rules(config.rules, config.templates, webhooks={"chat"}))
    posts = [
        post("blog", 1, "Bericht von der Messe, Stand 4", thread="a", author="erik"),  # old, webhook delivered
        post("blog", 2, "Die Messe war toll", thread="b", author="frida"),  # old, webhook still pending
        post("blog", 3, "Messe: alte Notiz", thread="c", author="hank"),  # old; hank has a note from an agent
        post("blog", 4, "Neuer Bericht von der Messe", thread="d", author="gina"),  # recent
    ]
    await pipeline.process(SourceConfig(name="blog", type="feed"), Batch(posts=posts, cursor="c"))
    long_ago = utcnow() - timedelta(days=400)
    with db.write() as session:
        for mention in session.exec(select(Mention).where(Mention.external_id != "blog-4")):
            mention.published_at = long_ago
            session.add(mention)
        assert len(session.exec(select(OutboxItem)).all()) == 4
        for item in session.exec(select(OutboxItem)):
            if "Die Messe war toll" not in json.dumps(item.payload):
                item.status = "done"
                session.add(item)
        hank = session.exec(select(Customer).where(Customer.name == "hank")).one()
        session.add(CustomerNote(customer_id=hank.id, author="cm", text="called him back"))  # type: ignore[arg-type]
        session.add(Customer(customer_ref="K-7", name="Imported Customer"))  # a customer, not a prospect
    with db.write() as session:
        done = run_housekeeping(session, config)
    assert done["mentions_deleted"] == 2 and done["webhook_payloads_deleted"] == 2 and done["prospects_deleted"] == 1
    with db.read() as session:
        left = {m.external_id for m in session.exec(select(Mention))}
        payloads = json.dumps([o.payload for o in session.exec(select(OutboxItem))])
        people = {c.name for c in session.exec(select(Customer))}
        handles = {i.handle for i in session.exec(select(Identity))}
    assert left == {"blog-2", "blog-4"}  # blog-2 stays until its webhook is delivered
    assert "Stand 4" not in payloads and "alte Notiz" not in payloads and "erik" not in payloads
    assert "Die Messe war toll" in payloads and "Neuer Bericht" in payloads
    assert people == {"frida", "hank", "gina", "Imported Customer"}  # erik had nothing left
    assert handles == {"frida", "hank", "gina"}
