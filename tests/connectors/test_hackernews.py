"""Hacker News connector against recorded Algolia responses served on 127.0.0.1."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from connectors.base import (
    AuthError,
    MalformedResponseError,
    RateLimited,
    ReplyError,
    ReplyTarget,
    TransientFetchError,
)
from connectors.hackernews import HackerNewsConnector, HackerNewsOptions
from tests.replay.cassettes import hostile_json, json_response
from tests.replay.emulators import AlgoliaIndex
from tests.replay_server import Canned, ReplayServer

FIXTURES = Path(__file__).resolve().parents[1] / "replay" / "hackernews" / "algolia_fixtures.json"
RECORDED = {item["url"]: item["reply"] for item in json.loads(FIXTURES.read_text())}
PATH = "/api/v1/search_by_date"


def recorded(url: str) -> Any:
    return RECORDED[url]


def all_recorded_hits() -> list[dict[str, Any]]:
    hits: dict[str, dict[str, Any]] = {}
    for reply in RECORDED.values():
        for hit in reply.get("hits", []) if isinstance(reply, dict) else []:
            hits[hit["objectID"]] = hit
    return list(hits.values())


def make(replay: ReplayServer, http: aiohttp.ClientSession, **options: Any) -> HackerNewsConnector:
    opts = HackerNewsOptions(base_url=replay.url("/api/v1"), **options)
    return HackerNewsConnector("hn-test", opts, http)


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


async def test_first_poll_maps_a_recorded_comment(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    body = recorded("/api/v1/search_by_date?hitsPerPage=1&tags=(comment)&query=apple")
    replay.add_json("GET", PATH, body)
    conn = make(replay, http, query="apple", tags=["comment"], page_size=1)

    batch = await conn.fetch(None)

    hit = body["hits"][0]
    assert [p.external_id for p in batch.posts] == [hit["objectID"]]
    post = batch.posts[0]
    assert post.kind == "comment"
    assert post.url == f"https://news.ycombinator.com/item?id={hit['objectID']}"
    assert post.author_handle == hit["author"]
    assert post.author_url == f"https://news.ycombinator.com/user?id={hit['author']}"
    assert post.thread_id == str(hit["story_id"]) and post.parent_id == str(hit["parent_id"])
    assert post.title == hit["story_title"]
    assert post.published_at.timestamp() == hit["created_at_i"] and post.published_at.tzinfo is not None
    assert "<p>" not in post.body and "&#x27;" not in post.body and post.body
    assert post.raw["objectID"] == hit["objectID"]
    assert not batch.has_more
    sent = replay.requests[-1].query
    assert sent["query"] == "apple" and sent["tags"] == "(comment)" and sent["hitsPerPage"] == "1"
    assert "numericFilters" not in sent


async def test_story_keeps_points_and_link(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    body = recorded("/api/v1/search_by_date?hitsPerPage=1&tags=(story)&query=apple")
    replay.add_json("GET", PATH, body)
    batch = await make(replay, http, keywords=["apple"], tags=["story"], page_size=1).fetch(None)

    (post,) = batch.posts
    hit = body["hits"][0]
    assert post.kind == "post" and post.title == hit["title"] and post.thread_id == hit["objectID"]
    assert post.parent_id is None
    assert post.author_metrics == {"points": float(hit["points"])}
    if hit.get("url"):
        assert hit["url"] in post.body


async def test_second_poll_asks_only_for_newer_hits_and_skips_seen(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    body = recorded("/api/v1/search_by_date?hitsPerPage=1&tags=(comment)&query=apple")
    replay.add_json("GET", PATH, body)
    conn = make(replay, http, query="apple", tags=["comment"], page_size=1, overlap_seconds=300)
    first = await conn.fetch(None)

    second = await conn.fetch(first.cursor)

    assert second.posts == [] or list(second.posts) == []
    created = body["hits"][0]["created_at_i"]
    assert replay.requests[-1].query["numericFilters"] == f"created_at_i>={created - 300}"


async def test_pagination_restart_in_the_middle_misses_and_doubles_nothing(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    hits = all_recorded_hits()
    cutoff = sorted(h["created_at_i"] for h in hits)[3]
    index = AlgoliaIndex(hits, visible=lambda h: h["created_at_i"] <= cutoff)
    replay.add_handler("GET", PATH, index.handle)
    options = dict(query="x", tags=["story", "comment"], page_size=2, overlap_seconds=0)

    first = await make(replay, http, **options).fetch(None)
    assert first.posts and not first.has_more

    index.visible = lambda h: True  # everything newer is "published" now
    delivered: list[str] = []
    cursor = first.cursor
    batches = 0
    while True:
        # a NEW connector for every page: a daemon restart between any two pages
        batch = await make(replay, http, **options).fetch(cursor)
        delivered += [p.external_id for p in batch.posts]
        cursor = batch.cursor
        batches += 1
        if not batch.has_more:
            break
    expected = {h["objectID"] for h in hits if h["created_at_i"] > cutoff and {"story", "comment"} & set(h["_tags"])}
    assert len(expected) > 2 * 2  # more than two pages' worth: the walk really paged
    assert sorted(delivered) == sorted(expected)
    assert len(delivered) == len(set(delivered))
    assert batches >= 3
    upper_bounds = [
        p.get("numericFilters", "") for p in index.seen_params if "created_at_i<=" in p.get("numericFilters", "")
    ]
    assert upper_bounds, "older pages are read with an upper time bound, not page numbers"

    again = await make(replay, http, **options).fetch(cursor)
    assert list(again.posts) == []


async def test_pages_per_poll_are_bounded_and_the_walk_resumes(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    hits = all_recorded_hits()
    cutoff = min(h["created_at_i"] for h in hits if {"story", "comment"} & set(h["_tags"]))
    index = AlgoliaIndex(hits, visible=lambda h: h["created_at_i"] <= cutoff)
    replay.add_handler("GET", PATH, index.handle)
    options = dict(query="x", tags=["story", "comment"], page_size=1, overlap_seconds=0, max_pages=2)
    cursor = (await make(replay, http, **options).fetch(None)).cursor
    index.visible = lambda h: True

    one = await make(replay, http, **options).fetch(cursor)
    assert one.has_more
    two = await make(replay, http, **options).fetch(one.cursor)
    assert not two.has_more, "the second page of this poll is the last one allowed"
    assert json.loads(two.cursor)["streams"]["query"].get("walk"), "the walk is kept for the next poll"
    three = await make(replay, http, **options).fetch(two.cursor)
    ids = [p.external_id for b in (one, two, three) for p in b.posts]
    assert len(ids) == 3 == len(set(ids))


async def test_each_keyword_is_its_own_stream(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    replay.add_json("GET", PATH, recorded("/api/v1/search_by_date?hitsPerPage=1&tags=(comment)&query=apple"))
    batch = await make(replay, http, keywords=["Apple", "pear"], tags=["comment"], page_size=1).fetch(None)
    assert sorted(r.query["query"] for r in replay.requests) == ["Apple", "pear"]
    assert len(batch.posts) == 1, "the same hit found by two keywords is one post"
    assert set(json.loads(batch.cursor)["streams"]) == {"keyword:apple", "keyword:pear"}


@pytest.mark.parametrize(
    ("canned", "error", "retry_after"),
    [
        (Canned(429, b"", {"Retry-After": "7"}), RateLimited, 7.0),
        (Canned(429, b"", {}), RateLimited, None),
        (Canned(503, b"upstream down", {}), TransientFetchError, None),
        (Canned(403, b"", {}), AuthError, None),
    ],
)
async def test_http_errors_map_to_the_error_tree(
    replay: ReplayServer,
    http: aiohttp.ClientSession,
    canned: Canned,
    error: type[Exception],
    retry_after: float | None,
) -> None:
    replay.add("GET", PATH, canned)
    with pytest.raises(error) as info:
        await make(replay, http, query="apple").fetch(None)
    if retry_after is not None or error is RateLimited:
        assert info.value.retry_after == retry_after  # type: ignore[attr-defined]
    assert "hn-test" in str(info.value)


@pytest.mark.parametrize(
    "name",
    [
        "n_structure_100000_opening_arrays.json",
        "n_structure_open_array_object.json",
        "n_array_invalid_utf8.json",
    ],
)
async def test_hostile_json_is_a_clear_error_for_this_source(
    replay: ReplayServer, http: aiohttp.ClientSession, name: str
) -> None:
    replay.add("GET", PATH, Canned(200, hostile_json(name), {"Content-Type": "application/json"}))
    with pytest.raises(MalformedResponseError, match="hn-test"):
        await make(replay, http, query="apple").fetch(None)


async def test_a_response_of_the_wrong_shape_is_malformed(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    replay.add_json("GET", PATH, recorded("/api/v1/items/17"))
    with pytest.raises(MalformedResponseError, match="no hits list"):
        await make(replay, http, query="apple").fetch(None)


async def test_broken_hit_is_skipped_and_reported(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    body = json.loads(json.dumps(recorded("/api/v1/search_by_date?hitsPerPage=1&tags=(comment)&query=apple")))
    body["hits"].append({"objectID": "1", "created_at_i": "not a time"})

    async def handler(request: Any) -> Any:
        return json_response(body)

    replay.add_handler("GET", PATH, handler)
    batch = await make(replay, http, query="apple", page_size=2).fetch(None)
    assert len(batch.posts) == 1 and batch.skipped == 1 and "created_at_i" in batch.problems[0]


async def test_replying_is_refused_and_never_found(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    conn = make(replay, http, query="apple")
    target = ReplyTarget("7919418", "https://news.ycombinator.com/item?id=7919418", "7918694", None, "x", {})
    assert not conn.reply_policy.can_reply and "copy" in conn.reply_policy.note
    with pytest.raises(ReplyError) as info:
        await conn.reply(target, "thanks", "k1")
    assert info.value.permanent
    assert await conn.find_reply(target, "thanks", "k1") is None
    assert replay.requests == []


async def test_first_poll_finding_nothing_starts_the_mark_now(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    index = AlgoliaIndex(all_recorded_hits(), visible=lambda h: False)
    replay.add_handler("GET", PATH, index.handle)
    first = await make(replay, http, query="apple", overlap_seconds=0).fetch(None)
    assert list(first.posts) == []
    mark = json.loads(first.cursor)["streams"]["query"]["hw"]
    assert abs(mark - time.time()) < 60
    index.visible = lambda h: True
    second = await make(replay, http, query="apple", overlap_seconds=0).fetch(first.cursor)
    assert list(second.posts) == [], "recorded hits are years older than the mark"
    assert index.seen_params[-1]["numericFilters"] == f"created_at_i>={int(mark)}"


def test_options_reject_unknown_keys_and_empty_listening() -> None:
    with pytest.raises(ValueError, match="query"):
        HackerNewsOptions()
    with pytest.raises(ValueError):
        HackerNewsOptions(query="x", bogus=1)  # type: ignore[call-arg]


async def test_unusable_stored_cursor_restarts_with_a_visible_problem(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    replay.add_json("GET", PATH, recorded("/api/v1/search_by_date?hitsPerPage=1&tags=(comment)&query=apple"))
    batch = await make(replay, http, query="apple").fetch('{"v": 1, "kind": "reddit", "streams": {}}')
    assert len(batch.posts) == 1
    assert "unusable" in batch.problems[0] and "reddit" in batch.problems[0]
