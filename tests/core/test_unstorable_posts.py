"""One post no database can store (a lone surrogate, a NUL, NaN) never fails its page: the rest is stored.

Real connectors against recorded responses on 127.0.0.1, polled through the Runtime into SQLite and
PostgreSQL. On the first release each of these pages failed whole, on every poll: 0 of 5 stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from sqlmodel import col, select

from socialcrm.config import parse_config
from socialcrm.db import Database
from socialcrm.models import Mention, SourceState
from socialcrm.runtime import Runtime
from socialcrm.storable import storable_raw, storable_text
from tests.connectors.test_mastodon import statuses
from tests.replay_server import Canned, ReplayServer

# (what the server sends inside the third status's content, what is stored as its text, as its raw)
MASTODON_CASES = {
    "lone surrogate": ("\\ud83d", "\ufffd", "\\ud83d"),
    "NUL": ("\\u0000", "\ufffd", "\\u0000"),
    "surrogate pair": ("\\ud83d\\ude00", "\U0001f600", "\U0001f600"),
}


def config_for(base: str, database_url: str) -> str:
    return f"""
[database]
url = "{database_url}"
[classifier]
kind = "lexicon"
[[sources]]
name = "toots"
type = "mastodon"
base_url = "{base}/mastodon"
hashtags = ["acme"]
[[sources]]
name = "blog"
type = "feed"
url = "{base}/blog.xml"
"""


def mastodon_page(bad: str) -> bytes:
    """Five recorded statuses; the third one's content carries ``bad`` (as JSON escapes) and a NaN count."""
    page: list[dict[str, Any]] = [dict(s) for s in statuses("test_public_tl", "/api/v1/timelines/public")[:5]]
    page[2]["content"] = "<p>Lieferung kaputt BAD-TEXT</p>"
    page[2]["favourites_count"] = "NOT-A-NUMBER"
    text = json.dumps(page).replace("BAD-TEXT", bad).replace('"NOT-A-NUMBER"', "NaN")
    return text.encode()


def feed_with(refs: list[str]) -> bytes:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = "".join(
        f"<item><title>Entry {i} {refs[i] if i < len(refs) else ''}</title><link>https://blog.example/{i}</link>"
        f'<guid isPermaLink="false">e{i}</guid><pubDate>{format_datetime(start + timedelta(minutes=i))}</pubDate>'
        f"<description>Text {i}</description></item>"
        for i in range(5)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Blog</title>'
        f"<link>https://blog.example/</link><description>d</description>{items}</channel></rss>"
    ).encode()


async def poll_twice(replay: ReplayServer, database_url: str) -> dict[str, Any]:
    config = parse_config(config_for(replay.base_url, database_url))
    runtime = await Runtime.open(config, db=Database(database_url))
    try:
        first = {r.source: r for r in await runtime.poll_once()}
        second = {r.source: r for r in await runtime.poll_once(force=True)}
    finally:
        await runtime.close()
    return {"first": first, "second": second}


def stored(database_url: str, source: str) -> tuple[list[Mention], SourceState | None]:
    db = Database(database_url)
    try:
        with db.read() as session:
            mentions = list(
                session.exec(select(Mention).where(Mention.source == source).order_by(col(Mention.published_at)))
            )
            state = session.get(SourceState, source)
            for mention in mentions:
                session.expunge(mention)
            if state is not None:
                session.expunge(state)
            return mentions, state
    finally:
        db.dispose()


@pytest.mark.parametrize("case", list(MASTODON_CASES))
async def test_a_bad_status_is_stored_cleaned_with_the_rest_of_its_page(
    replay: ReplayServer, database_url: str, case: str
) -> None:
    sent, text, raw = MASTODON_CASES[case]
    page = Canned(200, mastodon_page(sent), {"Content-Type": "application/json"})
    replay.add("GET", "/mastodon/api/v1/timelines/tag/acme", page)
    replay.add("GET", "/blog.xml", Canned(200, feed_with([]), {"Content-Type": "application/rss+xml"}))
    results = await poll_twice(replay, database_url)
    assert results["first"]["toots"].error is None and results["first"]["toots"].new == 5
    assert results["second"]["toots"].error is None
    mentions, state = stored(database_url, "toots")
    assert len(mentions) == 5
    bad = next(m for m in mentions if "Lieferung" in m.text)
    assert bad.text == f"Lieferung kaputt {text}"
    assert bad.raw is not None and raw in bad.raw["content"] and bad.raw["favourites_count"] == "nan"
    assert state is not None and state.state == "ok" and state.cursor  # the cursor moved on


async def test_a_feed_entry_with_a_surrogate_reference_is_stored_with_the_rest(
    replay: ReplayServer, database_url: str
) -> None:
    replay.add("GET", "/mastodon/api/v1/timelines/tag/acme", Canned(200, b"[]", {"Content-Type": "application/json"}))
    refs = ["&#xD83D;", "&#0;", "&#xD83D;&#xDE00;", "&#x110000;"]
    replay.add("GET", "/blog.xml", Canned(200, feed_with(refs), {"Content-Type": "application/rss+xml"}))
    results = await poll_twice(replay, database_url)
    assert results["first"]["blog"].new == 5, results["first"]["blog"].error
    mentions, state = stored(database_url, "blog")
    assert [m.title for m in mentions] == [
        "Entry 0 \ufffd",
        "Entry 1 \ufffd",
        "Entry 2 \U0001f600",
        "Entry 3 \ufffd",
        "Entry 4",
    ]
    assert state is not None and state.state == "ok"
    assert "replaced 3 character reference(s)" in (state.last_error or "")  # said where, not silently


def test_cleaning_keeps_what_can_be_stored_and_escapes_the_rest() -> None:
    assert storable_text("ok ä 😀") == "ok ä 😀"
    assert storable_text("a\ud83d\ude00b\udc00\x00") == "a😀b\ufffd\ufffd"
    raw = {"a": ["x\ud83dy", {"k\x00": float("inf")}], "n": 1}
    assert storable_raw(raw) == {"a": ["x\\ud83dy", {"k\\u0000": "inf"}], "n": 1}
    clean = {"a": "\\u0000 as plain text"}
    assert storable_raw(clean) is clean
