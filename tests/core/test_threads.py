"""Thread identity: a forum reply joins its topic's thread (URL fragment, Discourse topic, "Re:" title)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlmodel import select

from connectors import Batch, RawPost
from socialcrm.config import SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.models import Mention, Ticket, TicketMention
from socialcrm.threads import assign_threads, earlier_threads, forum_topic, page_of, reply_topic
from tests.connectors.test_feed_helpers import make_feed
from tests.core.test_pipeline import RULES, make_pipeline
from tests.replay_server import Canned, ReplayServer

DEMO_FORUM = Path(__file__).resolve().parents[2] / "socialcrm" / "demo" / "feeds" / "coffee-forum.atom"
T0 = datetime(2026, 11, 25, 10, tzinfo=UTC)


def entry(n: int, url: str, title: str | None = None, *, thread: str | None = None, hours: int = 0) -> RawPost:
    """A post as the feed connector makes it: its own id is its thread unless a comment names the post."""
    external_id = f"id-{n}"
    return RawPost(
        source="forum",
        external_id=external_id,
        url=url,
        author_handle="emma",
        title=title,
        body="text",
        published_at=T0 + timedelta(hours=hours or n),
        thread_id=thread or external_id,
    )


def test_reply_titles_name_their_topic() -> None:
    assert reply_topic("Re: Acme Barista 3000 never arrived") == "Acme Barista 3000 never arrived"
    assert reply_topic("AW: Re:  Lieferung   fehlt") == "Lieferung fehlt"
    assert reply_topic("Re[2]: Lieferung fehlt") == "Lieferung fehlt"
    assert reply_topic("Antw: Frage") == "Frage"
    assert reply_topic("Reklamation: Lieferung fehlt") is None
    assert reply_topic("Regal kaputt") is None and reply_topic(None) is None and reply_topic("Re: ") is None


def test_links_name_their_page_and_forum_topic() -> None:
    assert page_of("https://forum.example/t/812#p2") == "https://forum.example/t/812"
    assert page_of("https://forum.example/t/812") is None
    assert page_of("javascript:alert(1)#x") is None
    assert forum_topic("https://meta.discourse.org/t/some-slug/123456/7") == "https://meta.discourse.org/t/123456"
    assert forum_topic("https://forum.example/t/812#p1") == "https://forum.example/t/812"
    assert forum_topic("https://forum.example/t/812/") == "https://forum.example/t/812"
    assert forum_topic("https://blog.example/2026/11/t-shirts/") is None


def test_a_fragment_joins_posts_of_one_page_and_a_re_title_joins_its_topic() -> None:
    posts = [
        entry(3, "https://forum.example/viewtopic?id=9", "Re: Lieferung fehlt"),  # the reply comes first
        entry(1, "https://forum.example/viewtopic?id=7", "Lieferung fehlt"),
        entry(2, "https://board.example/page#c1"),
        entry(4, "https://board.example/page#c2"),
        entry(5, "https://blog.example/post/5", "Something else"),
    ]
    threads = assign_threads("feed", posts)
    assert threads[0] == threads[1] == "id-1", "the reply title finds the first post in the same batch"
    assert threads[2] == threads[3] == "https://board.example/page"
    assert threads[4] == "id-5"


def test_a_page_link_without_fragment_is_the_thread_of_its_fragments() -> None:
    root = replace(entry(1, "https://board.example/page", "Kaffee"), external_id="urn:uuid:1", thread_id="urn:uuid:1")
    assert assign_threads("feed", [entry(2, "https://board.example/page#c2"), root]) == ["urn:uuid:1"] * 2


def test_connector_threads_are_kept_and_other_platforms_are_not_guessed() -> None:
    comment = entry(2, "https://blog.example/post/1#comment-2", "Re: Post", thread="https://blog.example/post/1")
    assert assign_threads("feed", [comment]) == ["https://blog.example/post/1"]
    reddit = [
        entry(1, "https://reddit.example/r/x/1", "Kaffee"),
        entry(2, "https://reddit.example/r/x/2#a", "Re: Kaffee"),
    ]
    assert assign_threads("reddit", reddit) == ["id-1", "id-2"]


def test_an_unknown_topic_stays_its_own_thread_but_its_next_reply_joins_it() -> None:
    posts = [entry(1, "https://f.example/a?p=1", "Re: Frage"), entry(2, "https://f.example/a?p=2", "AW: Frage")]
    assert assign_threads("feed", posts) == ["id-1", "id-1"]


def test_earlier_threads_come_from_one_query_and_only_when_needed(db: Database) -> None:
    source = "forum"
    with db.write() as s:
        for n, (url, title, thread) in enumerate(
            [
                ("https://f.example/a?p=1", "Lieferung fehlt", "old-thread"),
                ("https://f.example/a?p=2", "Lieferung fehlt", "newer-thread"),
                ("https://board.example/page", "Board", "urn:board"),
            ]
        ):
            s.add(
                Mention(
                    source=source,
                    source_type="feed",
                    external_id=f"m{n}",
                    url=url,
                    title=title,
                    thread_id=thread,
                    published_at=T0 + timedelta(hours=n),
                )
            )
    later = [
        entry(9, "https://f.example/a?p=9", "Re: Lieferung fehlt", hours=30),
        entry(8, "https://board.example/page#c8", hours=30),
    ]
    with db.read() as s:
        found = earlier_threads(s, source, "feed", later, T0 - timedelta(days=1))
        assert earlier_threads(s, source, "feed", [entry(7, "https://f.example/x")], T0) == {}
        assert earlier_threads(s, source, "feed", later, T0 + timedelta(days=90)) == {}
    assert assign_threads("feed", later, found) == ["newer-thread", "urn:board"]


async def _demo_batches(replay: ReplayServer) -> list[RawPost]:
    replay.add("GET", "/forum.atom", Canned(200, DEMO_FORUM.read_bytes(), {"Content-Type": "application/atom+xml"}))
    async with aiohttp.ClientSession() as http:
        batch = await make_feed(http, replay.url("/forum.atom"), "coffee-forum").fetch(None)
    return sorted(batch.posts, key=lambda p: p.published_at)


async def test_the_demo_forum_reply_joins_the_open_ticket(db: Database, replay: ReplayServer) -> None:
    """t/812#p1 and t/812#p2 ("Re: ...") opened two tickets in the first release; now one, in any batching."""
    posts = await _demo_batches(replay)
    first, reply = (p for p in posts if "/t/812" in p.url)
    assert reply.title.startswith("Re: ")
    config = parse_config(RULES)
    source = SourceConfig(name="coffee-forum", type="feed", interval="15m")
    pipeline = make_pipeline(config, db)
    await pipeline.process(source, Batch(posts=[p for p in posts if p is not reply], cursor="c1"))
    result = await pipeline.process(source, Batch(posts=[reply], cursor="c2"))
    assert result.tickets == 0, "the follow-up joins the open ticket instead of opening one"
    with db.read() as s:
        tickets = s.exec(select(Ticket)).all()
        assert len(tickets) == 1
        joined = s.exec(select(Mention.url).join(TicketMention).where(TicketMention.ticket_id == tickets[0].id)).all()
        assert sorted(joined) == [first.url, reply.url]
        threads = {m.url: m.thread_id for m in s.exec(select(Mention))}
    assert threads[first.url] == threads[reply.url] == "https://forum.homebarista.example/t/812"
    assert len(set(threads.values())) == 3, "the other topics keep their own threads"
