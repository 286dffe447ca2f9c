"""Discourse connector against responses recorded by discourse_api, served on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from connectors.base import (
    AuthError,
    MalformedResponseError,
    RateLimited,
    ReplyError,
    ReplyTarget,
    TransientFetchError,
)
from connectors.discourse import DiscourseConnector, DiscourseOptions
from tests.replay.cassettes import hostile_json, json_response, serve_by_query
from tests.replay_server import Canned, ReplayServer

DIR = Path(__file__).resolve().parents[1] / "replay" / "discourse"
JSON = {"Content-Type": "application/json; charset=utf-8"}


def fixture(name: str) -> Any:
    return json.loads((DIR / name).read_text())


def canned(name: str, status: int = 200) -> Canned:
    return Canned(status, (DIR / name).read_bytes(), JSON)


def make(replay: ReplayServer, http: aiohttp.ClientSession, **options: Any) -> DiscourseConnector:
    return DiscourseConnector("forum", DiscourseOptions(base_url=replay.url("/"), **options), http)


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


def target_for(raw: dict[str, Any], base: str) -> ReplyTarget:
    url = f"{base}/t/{raw['topic_slug']}/{raw['topic_id']}/{raw['post_number']}"
    return ReplyTarget(str(raw["id"]), url, f"topic-{raw['topic_id']}", None, raw["username"], raw)


async def test_latest_posts_are_mapped(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    replay.add("GET", "/posts.json", canned("posts_latest.json"))
    batch = await make(replay, http).fetch(None)

    assert [p.external_id for p in batch.posts] == ["15", "14", "10", "2"]
    reply = batch.posts[0]
    assert reply.kind == "comment" and reply.body == "holla bullhonky."
    assert reply.url == replay.url("/t/") + f"{reply.raw['topic_slug']}/11/2"
    assert reply.author_handle == "johndoe" and reply.author_url == replay.url("/u/johndoe")
    assert reply.thread_id == "topic-11" and reply.title == reply.raw["topic_title"]
    assert reply.published_at.isoformat() == "2020-01-25T02:10:07.971000+00:00"
    assert batch.posts[1].kind == "post"
    assert not batch.has_more
    assert "before" not in replay.requests[0].query


async def test_next_poll_delivers_nothing_twice(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    replay.add("GET", "/posts.json", canned("posts_latest.json"))
    first = await make(replay, http).fetch(None)
    second = await make(replay, http).fetch(first.cursor)
    assert list(second.posts) == [] and not second.has_more


async def test_before_pages_the_recorded_pair(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    serve_by_query(
        replay,
        "GET",
        "/posts.json",
        [({"before": "14"}, canned("posts_before.json")), ({}, canned("posts_latest.json"))],
    )
    # A cursor stored in the middle of a walk: older pages start at post 14, the old mark was post 1.
    cursor = json.dumps(
        {
            "v": 1,
            "kind": "discourse",
            "streams": {"posts": {"hw": 1, "seen": {}, "walk": {"anchor": 14, "floor": 1, "top": 15}}},
        }
    )
    batch = await make(replay, http).fetch(cursor)
    assert replay.requests[-1].query == {"before": "14"}
    assert [p.external_id for p in batch.posts] == ["14", "10", "2"]


class PostsIndex:
    """``/posts.json`` over the recorded latest posts: inclusive ``before``, a small page size."""

    def __init__(self, page_size: int) -> None:
        self.posts = fixture("posts_latest.json")["latest_posts"]
        self.page_size = page_size
        self.visible_up_to = 10**9

    async def handle(self, request: web.Request) -> web.Response:
        before = int(request.query.get("before", 10**9))
        posts = [p for p in self.posts if p["id"] <= min(before, self.visible_up_to)]
        return json_response({"latest_posts": posts[: self.page_size]})


async def test_restart_in_the_middle_of_pagination(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    index = PostsIndex(page_size=2)
    index.visible_up_to = 2
    replay.add_handler("GET", "/posts.json", index.handle)
    first = await make(replay, http).fetch(None)
    assert [p.external_id for p in first.posts] == ["2"]

    index.visible_up_to = 10**9
    cursor, delivered, pages = first.cursor, [], 0
    while True:
        batch = await make(replay, http).fetch(cursor)  # a new instance per page = a restart
        delivered += [p.external_id for p in batch.posts]
        cursor, pages = batch.cursor, pages + 1
        if not batch.has_more:
            break
    assert sorted(delivered, key=int) == ["10", "14", "15"] and pages >= 2
    befores = [r.query.get("before") for r in replay.requests if r.query.get("before")]
    assert befores == ["13", "1"]


async def test_category_and_keyword_filters_apply_locally(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    replay.add("GET", "/posts.json", canned("posts_latest.json"))
    cat = fixture("posts_latest.json")["latest_posts"][0]["category_id"]
    batch = await make(replay, http, category_ids=[cat], keywords=["HOLLA"]).fetch(None)
    assert [p.external_id for p in batch.posts] == ["15"]


async def test_new_topics_are_read_with_their_opening_post(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    replay.add("GET", "/latest.json", canned("latest.json"))
    replay.add("GET", "/t/1.json", canned("topic.json"))
    first = await make(replay, http, include=["topics"]).fetch(None)
    assert list(first.posts) == [] and replay.served("GET", "/t/1.json") == 0, "a first run only sets the mark"
    assert replay.requests[0].query["order"] == "created"
    assert json.loads(first.cursor)["streams"]["topics"]["hw"] == 1

    cursor = json.dumps({"v": 1, "kind": "discourse", "streams": {"topics": {"hw": 0, "seen": {}}}})
    batch = await make(replay, http, include=["topics"]).fetch(cursor)
    (post,) = batch.posts
    assert post.external_id == "83" and post.author_handle == "samsaffron" and post.kind == "post"
    assert post.title == "THIS SITE IS A SANDBOX -- it is reset every day"
    assert post.author_metrics.get("trust_level") is not None


async def test_the_recorded_old_search_format_is_a_clear_error(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    replay.add("GET", "/search.json", canned("search.json"))
    with pytest.raises(MalformedResponseError, match="search.json"):
        await make(replay, http, include=["search"], query="test").fetch(None)
    assert replay.requests[0].query["q"] == "test order:latest"


async def test_search_hits_are_read_in_full(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    posts = fixture("posts_latest.json")["latest_posts"]

    async def search(request: web.Request) -> web.Response:
        hits = [
            {k: p[k] for k in ("id", "username", "created_at", "post_number", "topic_id")} | {"blurb": p["raw"][:20]}
            for p in posts
        ]
        topics = [{"id": p["topic_id"], "title": p["topic_title"], "slug": p["topic_slug"]} for p in posts]
        return json_response(
            {"posts": hits, "topics": topics, "grouped_search_result": {"more_full_page_results": None}}
        )

    async def topic_posts(request: web.Request) -> web.Response:
        wanted = {int(v) for v in request.query.getall("post_ids[]")}
        return json_response({"post_stream": {"posts": [p for p in posts if p["id"] in wanted]}})

    replay.add_handler("GET", "/search.json", search)
    for topic in {p["topic_id"] for p in posts}:
        replay.add_handler("GET", f"/t/{topic}/posts.json", topic_posts)
    cursor = json.dumps({"v": 1, "kind": "discourse", "streams": {"search": {"hw": 9, "seen": {}}}})
    batch = await make(replay, http, include=["search"], query="hi").fetch(cursor)
    assert sorted(p.external_id for p in batch.posts) == ["10", "14", "15"]
    asked = [r for r in replay.requests if r.path == "/t/11/posts.json"]
    assert len(asked) == 1, "one request per topic, not per hit"


async def test_search_reads_hits_through_topic_posts(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    recorded = fixture("topic_posts.json")["post_stream"]["posts"][0]
    hit = {k: recorded[k] for k in ("id", "username", "created_at", "post_number", "topic_id")}
    body = {"posts": [hit | {"blurb": "Some text."}], "topics": [{"id": 57, "title": "Sandbox", "slug": "s"}]}
    replay.add_json("GET", "/search.json", body)
    replay.add("GET", "/t/57/posts.json", canned("topic_posts.json"))
    cursor = json.dumps({"v": 1, "kind": "discourse", "streams": {"search": {"hw": 9, "seen": {}}}})

    batch = await make(replay, http, include=["search"], query="text").fetch(cursor)

    (post,) = batch.posts
    assert post.external_id == "123456" and post.body == "Some text." and post.title == "Sandbox"
    assert post.author_name == "Someones Name" and post.kind == "comment"
    assert replay.requests[-1].query == {"post_ids[]": "123456"}


async def test_reply_posts_to_the_topic_with_api_key(
    replay: ReplayServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORUM_KEY", "k-123")
    replay.add("POST", "/posts.json", canned("post.json"))
    conn = make(replay, http, api_key_env="FORUM_KEY", api_username="brandbot")
    raw = fixture("posts_latest.json")["latest_posts"][0]

    result = await conn.reply(target_for(raw, replay.base_url), "Thanks, we are on it.", "key-1")

    assert result.external_id == "11" and result.url == replay.url("/t/welcome-to-discourse/8/1")
    sent = replay.requests[-1]
    assert sent.json() == {"topic_id": 11, "raw": "Thanks, we are on it.", "reply_to_post_number": 2}
    assert sent.headers["Api-Key"] == "k-123" and sent.headers["Api-Username"] == "brandbot"


async def test_reply_refusals_are_permanent_and_send_nothing(
    replay: ReplayServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = fixture("posts_latest.json")["latest_posts"][0]
    target = target_for(raw, replay.base_url)
    with pytest.raises(ReplyError) as info:
        await make(replay, http).reply(target, "hi", "k")
    assert info.value.permanent and "api_key_env" in str(info.value)
    conn = make(replay, http, api_key_env="FORUM_KEY", api_username="brandbot")
    monkeypatch.setenv("FORUM_KEY", "k")
    with pytest.raises(ReplyError) as too_long:
        await conn.reply(target, "x" * 32001, "k")
    assert too_long.value.permanent
    monkeypatch.delenv("FORUM_KEY")
    with pytest.raises(AuthError, match="FORUM_KEY"):
        await conn.reply(target, "hi", "k")
    assert replay.requests == []


async def test_find_reply_recognises_the_accounts_recent_reply(
    replay: ReplayServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORUM_KEY", "k")
    replay.add("GET", "/user_actions.json", canned("replies.json"))
    conn = make(replay, http, api_key_env="FORUM_KEY", api_username="testuser")
    target = ReplyTarget("47", replay.url("/t/test-topic/39/2"), "topic-39", None, "x", {})

    found = await conn.find_reply(target, "Test  reply #1", "k")
    assert found is not None and found.external_id == "48" and found.url == replay.url("/t/test-topic/39/3")
    assert replay.requests[-1].query == {"username": "testuser", "filter": "5", "offset": "0", "limit": "30"}
    assert await conn.find_reply(target, "A different answer", "k") is None
    other = ReplyTarget("1", replay.url("/t/test-topic/40/2"), "topic-40", None, "x", {})
    assert await conn.find_reply(other, "Test Reply #1", "k") is None


async def test_retry_after_a_timeout_does_not_post_twice(replay: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORUM_KEY", "k")
    replay.add("POST", "/posts.json", Canned(200, (DIR / "post.json").read_bytes(), JSON, delay=1.0))
    replay.add("GET", "/user_actions.json", canned("replies.json"))
    target = ReplyTarget(
        "47",
        "https://forum.example/t/test-topic/39/2",
        "topic-39",
        None,
        "x",
        {"topic_id": 39, "post_number": 2},
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as short:
        conn = make(replay, short, api_key_env="FORUM_KEY", api_username="testuser")
        with pytest.raises(TransientFetchError, match="timed out"):
            await conn.reply(target, "Test Reply #1", "key-9")
        # What the outbox does before trying again after an ambiguous failure:
        assert await conn.find_reply(target, "Test Reply #1", "key-9") is not None
    assert replay.served("POST", "/posts.json") == 1


async def test_too_similar_refusal_returns_the_earlier_post(
    replay: ReplayServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORUM_KEY", "k")
    refusal = {"action": "create_post", "errors": ["Body is too similar to what you recently posted"]}
    replay.add("POST", "/posts.json", Canned(422, json.dumps(refusal).encode(), JSON))
    replay.add("GET", "/user_actions.json", canned("replies.json"))
    conn = make(replay, http, api_key_env="FORUM_KEY", api_username="testuser")
    target = ReplyTarget("47", replay.url("/t/test-topic/39/2"), "topic-39", None, "x", {})
    result = await conn.reply(target, "Test Reply #1", "k")
    assert result.external_id == "48"


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (
            Canned(429, b'{"errors":["slow down"],"error_type":"rate_limit"}', {"Retry-After": "12", **JSON}),
            RateLimited,
        ),
        (Canned(502, b"<html>bad gateway</html>", {}), TransientFetchError),
        (Canned(403, b'{"errors":["You are not permitted"],"error_type":"invalid_access"}', JSON), AuthError),
        (Canned(200, hostile_json("n_structure_100000_opening_arrays.json"), JSON), MalformedResponseError),
        (Canned(200, hostile_json("i_structure_500_nested_arrays.json"), JSON), MalformedResponseError),
        (Canned(200, b"", JSON), MalformedResponseError),
    ],
)
async def test_fetch_errors(
    replay: ReplayServer, http: aiohttp.ClientSession, response: Canned, error: type[Exception]
) -> None:
    replay.add("GET", "/posts.json", response)
    with pytest.raises(error) as info:
        await make(replay, http).fetch(None)
    if error is RateLimited:
        assert info.value.retry_after == 12.0  # type: ignore[attr-defined]


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="query"):
        DiscourseOptions(base_url="https://f.example", include=["search"])
    with pytest.raises(ValueError, match="together"):
        DiscourseOptions(base_url="https://f.example", api_key_env="K")
    with pytest.raises(ValueError):
        DiscourseOptions(base_url="https://f.example", api_key="plain-text-secret")  # type: ignore[call-arg]
