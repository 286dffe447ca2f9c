"""Retention: raw payloads and old mentions go when their time is up; mentions that work items need stay."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from connectors.base import Batch
from socialcrm.config import SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.models import Mention, User, WebSession, utcnow
from socialcrm.services.housekeeping import run_housekeeping
from tests.core.fakes import post
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
    assert done == {"raw_payloads_dropped": 2, "mentions_deleted": 1, "sessions_expired": 1}
    with db.read() as session:
        left = {m.external_id: m for m in session.exec(select(Mention))}
        sessions = [s.id for s in session.exec(select(WebSession))]
    assert set(left) == {"blog-1", "blog-3"}  # blog-1 is on a ticket, so it stays
    assert left["blog-1"].raw is None and left["blog-3"].raw is not None
    assert sessions == ["new"]
