"""The dashboard's in-memory rollup always equals counting live: after inserts, corrections and deletions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, delete, select, text

from socialcrm.models import Mention, utcnow
from socialcrm.services import corrections, ingest
from socialcrm.web.queries import rollup as rollup_module
from socialcrm.web.queries.dashboard import Focus, build_dashboard
from socialcrm.web.queries.rollup import MentionRollup
from tests.rules import factories as f
from tests.web.seed import add_mention

DAY = timedelta(days=1)


def _figures(board):  # type: ignore[no-untyped-def]
    return (
        board.sentiment.values,
        board.by_source.values,
        board.by_group.values,
        board.by_tag.values,
        board.sentiment_by_source,
        board.share_of_voice,
        board.kpis,
    )


def _same(db, rollup, start, end, focus=None):  # type: ignore[no-untyped-def]
    now = utcnow()
    with db.read() as s:
        live = build_dashboard(s, start, end, now, focus)
        cached = build_dashboard(s, start, end, now, focus, rollup)
    assert _figures(cached) == _figures(live)
    return cached


def test_rollup_follows_inserts_corrections_and_deletions(db):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = today - 60 * DAY, today + DAY
    with db.write() as s:
        for i in range(40):
            add_mention(
                s,
                f"Post {i}",
                source=("blog", "forum")[i % 2],
                group=("brand", "rival")[i % 3 == 0],
                sentiment=("negative", "neutral", "positive")[i % 3],
                tags=[["kündigung"], ["spring-sale", "lead"], []][i % 3],
                published_at=today - (i % 50) * DAY + timedelta(hours=3),
            )
    rollup = MentionRollup()
    _same(db, rollup, start, end)
    assert (rollup.rebuilds, rollup.increments) == (1, 0)

    with db.write() as s:  # a new post, and a late one from weeks ago (a feed backfill)
        add_mention(
            s, "neu", source="blog", sentiment="negative", tags=["kündigung"], published_at=today + timedelta(hours=1)
        )
        add_mention(s, "alt", source="reddit", sentiment="positive", published_at=today - 20 * DAY)
    board = _same(db, rollup, start, end)
    assert (rollup.rebuilds, rollup.increments) == (1, 1)
    assert board.by_source.total("reddit") == 1

    with db.write() as s:
        first = s.exec(select(Mention).where(Mention.sentiment == "negative")).first()
        corrections.correct_sentiment(s, first.id, "positive", "marketing")
    _same(db, rollup, start, end)
    assert rollup.rebuilds == 2

    with db.write() as s:
        s.exec(delete(Mention).where(Mention.text == "alt"))  # type: ignore[call-overload]
        add_mention(s, "ersatz", source="blog", published_at=today)  # same count as before: still noticed
    _same(db, rollup, start, end)
    assert rollup.rebuilds == 3

    with db.write() as s:  # the newest row deleted: SQLite hands its id out again
        s.exec(delete(Mention).where(Mention.text == "ersatz"))  # type: ignore[call-overload]
        add_mention(s, "wieder", source="forum", sentiment="negative", published_at=today)
        add_mention(s, "noch eins", source="forum", sentiment="neutral", published_at=today)
    _same(db, rollup, start, end)
    assert rollup.rebuilds == 4

    _same(db, rollup, today - 7 * DAY, end)  # a shorter range is served from the rollup
    assert rollup.rebuilds == 4
    _same(db, rollup, today - 90 * DAY, end)  # a longer one widens it
    assert rollup.rebuilds == 5
    _same(db, rollup, start, end, Focus(source="blog"))
    _same(db, rollup, start, end, Focus(group="rival"))
    _same(db, rollup, start, end, Focus(tag="lead"))


def test_rollup_counts_a_lower_id_committed_after_a_higher_one(db, monkeypatch):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's one writer commits ids in the order it hands them out")
    monkeypatch.setattr(rollup_module, "SETTLE_SECONDS", 0.0)  # settle ids as soon as the snapshot allows
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = today - 7 * DAY, today + DAY
    with db.write() as s:
        add_mention(s, "erste", source="blog", published_at=today)
    rollup = MentionRollup()
    _same(db, rollup, start, end)
    slow = Session(db.engine)  # a store that took its id first and commits last
    try:
        add_mention(slow, "langsam", source="forum", published_at=today)
        with db.write() as s:
            add_mention(s, "schnell", source="blog", published_at=today)
        _same(db, rollup, start, end)
        _same(db, rollup, start, end)  # the slow transaction still runs: its id must stay watched
        assert (rollup.rebuilds, rollup.increments) == (1, 1)
        slow.commit()
    finally:
        slow.close()
    board = _same(db, rollup, start, end)
    assert board.by_source.total("forum") == 1
    with db.write() as s:
        add_mention(s, "danach", source="blog", published_at=today)
    board = _same(db, rollup, start, end)  # everything has ended: the ids settle, only new rows are counted
    assert board.by_source.total("blog") == 3


def test_changing_many_mentions_counts_once_and_two_writers_do_not_queue(db):
    """PostgreSQL: a bulk re-scoring bumps the counter once; a second writer does not wait for the first's commit."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer and no statement triggers")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with db.write() as s:
        for i in range(30):
            add_mention(s, f"Post {i}", sentiment="negative", published_at=today - i * DAY)
    rollup = MentionRollup()
    _same(db, rollup, today - 60 * DAY, today + DAY)

    def changes() -> int:
        with db.read() as s:
            return int(s.exec(text("SELECT sum(changes) FROM mentionchanges")).one()[0])  # type: ignore[call-overload]

    before = changes()
    with db.write() as s:
        s.exec(text("UPDATE mention SET sentiment = 'neutral' WHERE id % 2 = 0"))  # type: ignore[call-overload]
    assert changes() == before + 1  # once for 15 rows (it was 15)
    board = _same(db, rollup, today - 60 * DAY, today + DAY)
    assert board.sentiment.total("neutral") == 15 and rollup.rebuilds == 2

    first = db.engine.connect()
    second = db.engine.connect()
    others = []
    try:
        slot = first.exec_driver_sql("SELECT mod(pg_backend_pid(), 16)").scalar()
        while second.exec_driver_sql("SELECT mod(pg_backend_pid(), 16)").scalar() == slot:  # another writer's row
            others.append(second)
            second = db.engine.connect()
        first.exec_driver_sql("UPDATE mention SET sentiment = 'positive' WHERE mod(id, 3) = 0")
        first.exec_driver_sql("DELETE FROM mention WHERE text = 'Post 29'")  # still open: its bumps are locked
        second.exec_driver_sql("SET lock_timeout = '3s'")  # the old trigger's one row made it wait for `first`
        second.exec_driver_sql("UPDATE mention SET sentiment = 'negative' WHERE text = 'Post 1'")
        second.commit()
        first.commit()
    finally:
        for connection in (first, second, *others):
            connection.close()
    assert changes() == before + 4
    _same(db, rollup, today - 60 * DAY, today + DAY)
    assert rollup.rebuilds == 3


def test_a_stored_mention_tagged_by_a_retry_is_counted_with_its_tags(db):
    """Rules whose run failed are retried later; the tags they then set must reach the dashboard's tag panel."""
    rules = '[[rules]]\nname = "leads"\n[rules.when]\nquery = "angebot"\n'
    cfg = f.config(rules + '[[rules.then]]\naction = "tag"\ntags = ["lead"]\n')
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with db.write() as s:
        waiting = add_mention(s, "Gibt es ein Angebot?", sentiment="neutral", tags=[], published_at=today)
        add_mention(s, "Danke!", sentiment="positive", tags=["lob"], published_at=today)
    rollup = MentionRollup()
    _same(db, rollup, today - 7 * DAY, today + DAY)
    with db.write() as s:
        mention = s.get(Mention, waiting.id)
        done = ingest.process_each(s, [mention], cfg, f.ruleset(cfg), utcnow())
        assert done.done == [waiting.id] and s.get(Mention, waiting.id).tags == ["lead"]
    board = _same(db, rollup, today - 7 * DAY, today + DAY)
    assert board.by_tag.total("lead") == 1 and rollup.rebuilds == 2
