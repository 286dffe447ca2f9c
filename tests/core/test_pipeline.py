"""The pipeline and poller on a real database: dedup, one transaction per page, cursors, health, backoff."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlmodel import func, select

from connectors.base import AuthError, Batch, MalformedResponseError, RateLimited
from socialcrm.config import Config, SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.models import Mention, ReplyDraft, SourceState, Ticket, TicketMention, utcnow
from socialcrm.pipeline import Pipeline
from socialcrm.poller import Poller
from socialcrm.rules.loader import compile_rules
from tests.core.fakes import FakeClassifier, ScriptedConnector, post
from tests.feeds import RULES


@pytest.fixture
def config() -> Config:
    return parse_config(RULES)


@pytest.fixture
def source() -> SourceConfig:
    return SourceConfig(name="blog", type="feed", interval="15m", tags=("campaign-x",), group="brand")


def make_pipeline(config: Config, db: Database, classifier: FakeClassifier | None = None) -> Pipeline:
    ruleset = compile_rules(list(config.rules), config.templates, webhooks=set())
    return Pipeline(config, db, classifier or FakeClassifier(), ruleset)


def count(db: Database, model: type) -> int:
    with db.read() as session:
        return session.exec(select(func.count()).select_from(model)).one()


PAGE = Batch(
    posts=[
        post("blog", 1, "Meine Lieferung ist überfällig, sehr ärgerlich!", thread="t1", author="jana"),
        post("blog", 2, "Wie entkalke ich die Maschine?", thread="t2", author="tom"),
        post("blog", 3, "Super Kaffee, toll!", thread="t3", author="sabine"),
        post("blog", 3, "Super Kaffee, toll!", thread="t3", author="sabine"),  # same id twice in one page
    ],
    cursor="c1",
)


async def test_batch_is_stored_with_cursor_tickets_and_drafts(
    config: Config, db: Database, source: SourceConfig
) -> None:
    pipeline = make_pipeline(config, db)
    result = await pipeline.process(source, PAGE)
    assert (result.fetched, result.new, result.tickets, result.drafts) == (4, 3, 1, 1)
    with db.read() as session:
        mentions = session.exec(select(Mention).order_by(Mention.id)).all()
        assert [m.external_id for m in mentions] == ["blog-1", "blog-2", "blog-3"]
        first = mentions[0]
        assert first.sentiment == "negative" and first.language == "de" and first.sentiment_score == 0.9
        assert first.tags == ["campaign-x"] and first.group == "brand" and first.source_type == "feed"
        assert first.published_at.tzinfo is not None
        state = session.get(SourceState, "blog")
        assert state is not None and state.cursor == "c1" and state.state == "ok"
        assert (state.fetched_total, state.new_total) == (4, 3)
        ticket = session.exec(select(Ticket)).one()
        assert ticket.priority == "high" and ticket.team == "service" and ticket.rule == "complaint-ticket"
        draft = session.exec(select(ReplyDraft)).one()
        assert draft.text.startswith("Hallo tom") and draft.status == "pending"


async def test_reprocessing_the_same_batch_stores_and_opens_nothing_twice(
    config: Config, db: Database, source: SourceConfig
) -> None:
    pipeline = make_pipeline(config, db)
    await pipeline.process(source, PAGE)
    again = await pipeline.process(source, PAGE)
    assert (again.new, again.duplicates, again.tickets, again.drafts) == (0, 4, 0, 0)
    assert count(db, Mention) == 3
    assert count(db, Ticket) == 1
    assert count(db, ReplyDraft) == 1


async def test_second_complaint_in_thread_joins_the_open_ticket(
    config: Config, db: Database, source: SourceConfig
) -> None:
    pipeline = make_pipeline(config, db)
    await pipeline.process(source, PAGE)
    follow_up = Batch(
        posts=[post("blog", 9, "Immer noch keine Lieferung, ärgerlich.", thread="t1", author="jana")], cursor="c2"
    )
    result = await pipeline.process(source, follow_up)
    assert result.tickets == 0
    assert count(db, Ticket) == 1
    assert count(db, TicketMention) == 2


async def test_classifier_failure_falls_back_to_single_texts(
    config: Config, db: Database, source: SourceConfig
) -> None:
    class Flaky(FakeClassifier):
        def analyse(self, texts, languages=None):  # type: ignore[no-untyped-def]
            if len(texts) > 1 or "poison" in texts[0]:
                raise RuntimeError("model blew up")
            return super().analyse(texts, languages)

    pipeline = make_pipeline(config, db, Flaky())
    batch = Batch(posts=[post("blog", 1, "Great stuff"), post("blog", 2, "poison text")], cursor="c")
    result = await pipeline.process(source, batch)
    assert result.new == 2
    with db.read() as session:
        by_id = {m.external_id: m for m in session.exec(select(Mention))}
    assert by_id["blog-1"].sentiment == "positive"
    assert by_id["blog-2"].sentiment is None  # stored, not lost, without a made-up label


async def test_a_failed_classification_stores_the_feeds_language_hint_in_the_classifiers_words(
    config: Config, db: Database, source: SourceConfig
) -> None:
    """The hint goes in as "de", "en" or "other" on both backends: PostgreSQL cut "zh-Hant-TW" to 8 characters."""

    class Broken(FakeClassifier):
        def analyse(self, texts, languages=None):  # type: ignore[no-untyped-def]
            raise RuntimeError("model blew up")

    hints = {1: "zh-Hant-TW", 2: "de-AT", 3: "EN_gb", 4: None, 5: " "}
    posts = [replace(post("blog", n, f"Text {n}"), language_hint=hint) for n, hint in hints.items()]
    posts.append(replace(post("blog", 6, "Text 6"), kind="a-kind-longer-than-sixteen"))  # a connector of one's own
    result = await make_pipeline(config, db, Broken()).process(source, Batch(posts=posts, cursor="c"))
    assert result.new == 6
    with db.read() as session:
        stored = {m.external_id: m for m in session.exec(select(Mention))}
    assert {n: stored[f"blog-{n}"].language for n in hints} == {1: "other", 2: "de", 3: "en", 4: None, 5: None}
    assert all(m.sentiment is None for m in stored.values())
    assert stored["blog-6"].kind == "a-kind-longer-th"


async def test_oversized_post_is_stored_truncated(config: Config, db: Database, source: SourceConfig) -> None:
    pipeline = make_pipeline(config, db)
    huge = "x" * (config.daemon.max_text_chars + 5000)
    await pipeline.process(source, Batch(posts=[post("blog", 1, huge)], cursor="c"))
    with db.read() as session:
        mention = session.exec(select(Mention)).one()
    assert mention.truncated and len(mention.text) == config.daemon.max_text_chars


async def test_pagination_stores_each_page_and_resumes_after_a_crash(
    config: Config, db: Database, source: SourceConfig
) -> None:
    pages = {
        None: Batch(posts=[post("blog", 1, "one")], cursor="p2", has_more=True),
        "p2": Batch(posts=[post("blog", 2, "two")], cursor="p3", has_more=True),
        "p3": Batch(posts=[post("blog", 3, "three")], cursor="p3-done"),
    }
    connector = ScriptedConnector("blog", pages)
    pipeline = make_pipeline(config, db)

    # The first run dies on page 3: pages 1 and 2 are stored with their cursor.
    class DiesOnPage3(ScriptedConnector):
        async def fetch(self, cursor):  # type: ignore[no-untyped-def]
            if cursor == "p3":
                raise MalformedResponseError("blog", "connection dropped mid-body")
            return await super().fetch(cursor)

    first = Poller(source, DiesOnPage3("blog", pages), pipeline)
    result = await first.run_once()
    assert result.new == 2 and result.error is not None
    with db.read() as session:
        assert session.get(SourceState, "blog").cursor == "p3"  # type: ignore[union-attr]
    # A new poller (a restarted daemon) resumes at p3: nothing missed, nothing doubled.
    second = Poller(source, connector, pipeline)
    result = await second.run_once(force=True)
    assert connector.cursors_seen == ["p3"]
    assert result.new == 1
    assert count(db, Mention) == 3


async def test_auth_failure_pauses_the_source_instead_of_retrying(
    config: Config, db: Database, source: SourceConfig
) -> None:
    connector = ScriptedConnector("blog")
    connector.error = AuthError("blog", "HTTP 401 from https://example.com/feed")
    poller = Poller(source, connector, make_pipeline(config, db))
    result = await poller.run_once()
    assert "401" in (result.error or "")
    with db.read() as session:
        state = session.get(SourceState, "blog")
        assert state is not None and state.state == "auth_failed" and "401" in (state.last_error or "")
    again = await poller.run_once()
    assert again.skipped_reason and "authentication failed" in again.skipped_reason
    assert len(connector.cursors_seen) == 1  # no retry loop


async def test_rate_limit_backs_off_for_retry_after(config: Config, db: Database, source: SourceConfig) -> None:
    connector = ScriptedConnector("blog")
    connector.error = RateLimited("blog", "HTTP 429", retry_after=120)
    poller = Poller(source, connector, make_pipeline(config, db))
    before = utcnow()
    await poller.run_once()
    with db.read() as session:
        state = session.get(SourceState, "blog")
    assert state is not None and state.state == "backoff" and state.backoff_until is not None
    assert timedelta(seconds=119) <= state.backoff_until - before <= timedelta(seconds=125)
    skipped = await poller.run_once()
    assert skipped.skipped_reason and skipped.skipped_reason.startswith("backing off until")
    # Recovery: the next successful poll clears the backoff.
    connector.error = None
    await poller.run_once(force=True)
    with db.read() as session:
        state = session.get(SourceState, "blog")
    assert state is not None and state.state == "ok" and state.backoff_until is None and state.consecutive_failures == 0


async def test_a_failing_source_does_not_stop_the_others(config: Config, db: Database) -> None:
    import asyncio

    pipeline = make_pipeline(config, db)
    bad_source = SourceConfig(name="bad", type="feed")
    good_source = SourceConfig(name="good", type="feed")

    class Broken(ScriptedConnector):
        async def fetch(self, cursor):  # type: ignore[no-untyped-def]
            raise ZeroDivisionError("a bug in a third-party connector")

    good = ScriptedConnector("good", {None: Batch(posts=[post("good", 1, "fine")], cursor="g1")})
    results = await asyncio.gather(
        Poller(bad_source, Broken("bad"), pipeline).run_once(),
        Poller(good_source, good, pipeline).run_once(),
    )
    assert results[0].error and "ZeroDivisionError" in results[0].error
    assert results[1].new == 1 and results[1].error is None
