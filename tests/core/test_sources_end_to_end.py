"""Real connectors through the Runtime: one source's auth failure or hostile body never stalls the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from connectors.feed_pool import get_parser_pool
from socialcrm.config import parse_config
from socialcrm.db import Database
from socialcrm.models import Mention, SourceState, utcnow
from socialcrm.runtime import Runtime
from socialcrm.services.sources import describe_sources
from tests.connectors.test_feed_pool import is_running
from tests.replay_server import Canned, ReplayServer

REPLAY = Path(__file__).resolve().parents[1] / "replay"
DEMO_FEEDS = Path(__file__).resolve().parents[2] / "socialcrm" / "demo" / "feeds"


def hn_reply() -> dict:  # type: ignore[type-arg]
    recordings = json.loads((REPLAY / "hackernews" / "algolia_fixtures.json").read_text())
    return next(
        r["reply"] for r in recordings if r["url"] == "/api/v1/search_by_date?hitsPerPage=1&tags=(comment)&query=apple"
    )


@pytest.fixture
def sources(replay: ReplayServer) -> ReplayServer:
    replay.add_json("GET", "/hn/api/v1/search_by_date", hn_reply())
    replay.add(
        "GET",
        "/mastodon/api/v1/timelines/tag/acme",
        Canned(401, b'{"error":"This API requires an authenticated user"}', {"Content-Type": "application/json"}),
    )
    replay.add(
        "GET",
        "/hostile/api/v1/search_by_date",
        Canned(
            200,
            (REPLAY / "hostile-json" / "n_structure_100000_opening_arrays.json").read_bytes(),
            {"Content-Type": "application/json"},
        ),
    )
    replay.add_file("GET", "/blog.xml", DEMO_FEEDS / "acme-blog-comments.xml", "application/rss+xml")
    return replay


def config_for(base: str, db_url: str) -> str:
    return f"""
[database]
url = "{db_url}"
[classifier]
kind = "lexicon"
[[sources]]
name = "hn"
type = "hackernews"
base_url = "{base}/hn/api/v1"
query = "apple"
tags = ["comment"]
page_size = 1
max_pages = 1
[[sources]]
name = "toots"
type = "mastodon"
base_url = "{base}/mastodon"
hashtags = ["acme"]
[[sources]]
name = "hostile"
type = "hackernews"
base_url = "{base}/hostile/api/v1"
query = "apple"
[[sources]]
name = "blog"
type = "feed"
url = "{base}/blog.xml"
"""


async def test_failures_stay_with_their_source(sources: ReplayServer, database_url: str) -> None:
    config = parse_config(config_for(sources.base_url, database_url))
    db = Database(database_url)
    runtime = await Runtime.open(config, db=db)
    try:
        results = {r.source: r for r in await runtime.poll_once()}
        again = {r.source: r for r in await runtime.poll_once()}
        parser_pids = get_parser_pool().pids()
    finally:
        await runtime.close()
    # Closing the runtime calls the feed connector's close_shared hook: the parser workers stop.
    assert parser_pids and not any(is_running(pid) for pid in parser_pids)
    assert results["hn"].new == 1 and results["hn"].error is None
    assert results["blog"].new == 6 and results["blog"].error is None
    assert "401" in (results["toots"].error or "")
    assert "nests deeper" in (results["hostile"].error or "")
    # The auth failure paused its source: the second cycle does not hammer the server.
    assert again["toots"].skipped_reason and "authentication failed" in again["toots"].skipped_reason
    assert sources.served("GET", "/mastodon/api/v1/timelines/tag/acme") == 1
    assert again["hostile"].skipped_reason and again["hostile"].skipped_reason.startswith("backing off until")

    check = Database(database_url)
    with check.read() as session:
        hn = session.exec(select(Mention).where(Mention.source == "hn")).one()
        assert hn.source_type == "hackernews" and hn.url.startswith("https://news.ycombinator.com/")
        assert hn.author and hn.raw
        health = {h.name: h for h in describe_sources(session, config, utcnow())}
        states = {s.name: s.state for s in session.exec(select(SourceState))}
    check.dispose()
    assert states == {"hn": "ok", "blog": "ok", "toots": "auth_failed", "hostile": "backoff"}
    assert health["toots"].state_text == "auth failed (paused)"
    assert health["hostile"].state_text.startswith("backing off until")
    assert health["blog"].new == 6
