"""Reddit connector (praw in a worker thread) against praw/prawcore betamax cassettes served on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from connectors import forget_posts
from connectors.base import (
    AuthError,
    MalformedResponseError,
    RateLimited,
    ReplyError,
    ReplyTarget,
    TransientFetchError,
)
from connectors.reddit import RedditConnector, RedditOptions
from tests.replay.cassettes import Interaction, hostile_json, load, serve
from tests.replay.emulators import RedditListing
from tests.replay_server import Canned, ReplayServer

DIR = Path(__file__).resolve().parents[1] / "replay" / "reddit"
JSON = {"Content-Type": "application/json; charset=UTF-8"}
TOKEN_PATH = "/api/v1/access_token"


def cassette(name: str) -> list[Interaction]:
    return load(DIR / f"{name}.json")


def listing(name: str) -> dict[str, Any]:
    return next(i for i in cassette(name) if i.method == "GET").json()


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDDIT_SECRET", "s3cret")
    monkeypatch.setenv("REDDIT_PASSWORD", "hunter2")


@pytest.fixture
async def connectors() -> AsyncIterator[Callable[..., RedditConnector]]:
    made: list[RedditConnector] = []

    def factory(replay: ReplayServer, **options: Any) -> RedditConnector:
        base: dict[str, Any] = {
            "client_id": "clientid",
            "client_secret_env": "REDDIT_SECRET",
            "user_agent": "socialcrm-tests/0.1 (by /u/tester)",
            "oauth_url": replay.base_url,
            "reddit_url": replay.base_url,
        }
        conn = RedditConnector("rd", RedditOptions(**(base | options)), None)  # type: ignore[arg-type]
        made.append(conn)
        return conn

    yield factory
    for conn in made:
        await conn.aclose()


LOGIN = {"username": "tester", "password_env": "REDDIT_PASSWORD"}


async def test_new_posts_of_a_subreddit(replay: ReplayServer, connectors: Any) -> None:
    serve(replay, cassette("TestSubredditListings.test_new"))
    batch = await connectors(replay, subreddits=["askreddit"]).fetch(None)

    children = listing("TestSubredditListings.test_new")["data"]["children"]
    assert [p.external_id for p in batch.posts] == [c["data"]["name"] for c in children]
    first = batch.posts[0]
    assert first.external_id == "t3_48fbm9" and first.kind == "post"
    assert (
        first.url
        == "https://www.reddit.com/r/AskReddit/comments/48fbm9/serious_parents_of_reddit_whats_the_biggest_lie/"
    )
    assert first.title.startswith("[Serious] Parents of Reddit") and first.thread_id == "t3_48fbm9"
    assert first.author_handle == "RedHeadQc" and first.author_url == "https://www.reddit.com/user/RedHeadQc"
    assert first.published_at.timestamp() == 1456821458.0 and first.author_metrics == {"score": 1.0}
    token, get = replay.requests[0], replay.requests[1]
    assert token.path == TOKEN_PATH and b"grant_type=client_credentials" in token.body
    assert get.path == "/r/askreddit/new" and get.query == {"limit": "100", "raw_json": "1"}
    assert get.headers["User-Agent"].startswith("socialcrm-tests/0.1 (by /u/tester)")


async def test_comments_keep_thread_and_parent(replay: ReplayServer, connectors: Any) -> None:
    serve(replay, cassette("TestSubredditListings.test_comments"))
    batch = await connectors(replay, subreddits=["askreddit"], include=["comments"]).fetch(None)
    post = batch.posts[0]
    assert post.external_id == "t1_d4y8bdp" and post.kind == "comment"
    assert post.thread_id == "t3_4r4inc" and post.parent_id == "t3_4r4inc"
    assert post.url == "https://www.reddit.com/r/AskReddit/comments/4r4inc/_/d4y8bdp/"
    assert post.body.startswith("great, life is so much better") and post.title.startswith("[Serious] To anyone")
    assert replay.requests[-1].path == "/r/askreddit/comments/"


async def test_search_across_reddit(replay: ReplayServer, connectors: Any) -> None:
    serve(replay, cassette("TestSubreddit.test_search"))
    batch = await connectors(replay, include=[], query="praw oauth search").fetch(None)
    assert len(batch.posts) == 6
    sent = replay.requests[-1]
    assert sent.path == "/r/all/search/"
    assert sent.query | {"raw_json": "1"} == {
        "q": "praw oauth search",
        "sort": "new",
        "t": "all",
        "restrict_sr": "false",
        "limit": "100",
        "raw_json": "1",
    }


async def test_inbox_mentions_with_a_user_login(replay: ReplayServer, connectors: Any) -> None:
    serve(replay, cassette("TestInbox.test_mentions"))
    batch = await connectors(replay, include=["mentions"], **LOGIN).fetch(None)
    assert len(batch.posts) == 16
    mention = batch.posts[0]
    raw = mention.raw["data"]
    assert mention.kind == "mention" and mention.external_id == "t1_ekftbox"
    assert mention.parent_id == "t3_bb24k7" and mention.thread_id == "t3_bb24k7"
    assert mention.url == "https://www.reddit.com" + raw["context"].split("?")[0]
    assert b"grant_type=password" in replay.requests[0].body and b"username=tester" in replay.requests[0].body


async def test_refresh_token_login(replay: ReplayServer, connectors: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDDIT_REFRESH", "refresh-123")
    serve(replay, cassette("TestAuthorizer.test_refresh"))
    serve(replay, [i for i in cassette("TestSubredditListings.test_new") if i.method == "GET"])
    batch = await connectors(replay, subreddits=["askreddit"], refresh_token_env="REDDIT_REFRESH").fetch(None)
    assert len(batch.posts) == 100
    token = replay.requests[0]
    assert b"grant_type=refresh_token" in token.body and b"refresh_token=refresh-123" in token.body
    assert replay.requests[1].headers["Authorization"].startswith("bearer ")


async def test_second_poll_repeats_nothing(replay: ReplayServer, connectors: Any) -> None:
    serve(replay, cassette("TestSubredditListings.test_new"))
    first = await connectors(replay, subreddits=["askreddit"]).fetch(None)
    second = await connectors(replay, subreddits=["askreddit"]).fetch(first.cursor)
    assert list(second.posts) == [] and not second.has_more
    assert "after" not in replay.requests[-1].query


def paged_listing(replay: ReplayServer) -> tuple[list[dict[str, Any]], RedditListing, dict[str, Any]]:
    """The recorded /new listing in pages of 25, its 10 oldest posts visible first, and the options to read it."""
    children = listing("TestSubredditListings.test_new")["data"]["children"]
    cutoff = sorted(c["data"]["created_utc"] for c in children)[9]
    feed = RedditListing(children, visible=lambda c: c["data"]["created_utc"] <= cutoff)
    serve(replay, [i for i in cassette("TestSubredditListings.test_new") if i.path == TOKEN_PATH])
    replay.add_handler("GET", "/r/askreddit/new", feed.handle)
    return children, feed, {"subreddits": ["askreddit"], "page_size": 25, "overlap_seconds": 0}


async def test_restart_in_the_middle_of_pagination(replay: ReplayServer, connectors: Any) -> None:
    children, feed, opts = paged_listing(replay)

    first = await connectors(replay, **opts).fetch(None)
    assert len(first.posts) == 10
    feed.visible = lambda c: True
    cursor, delivered, pages = first.cursor, [], 0
    while True:
        batch = await connectors(replay, **opts).fetch(cursor)  # a new connector (and thread) per page
        delivered += [p.external_id for p in batch.posts]
        cursor, pages = batch.cursor, pages + 1
        if not batch.has_more:
            break
    expected = {c["data"]["name"] for c in children} - {p.external_id for p in first.posts}
    assert sorted(delivered) == sorted(expected) and len(delivered) == len(set(delivered)) == 90
    afters = [r.query.get("after") for r in replay.requests if r.path == "/r/askreddit/new"]
    assert afters[1:5] == [
        None,
        children[24]["data"]["name"],
        children[49]["data"]["name"],
        children[74]["data"]["name"],
    ]


async def test_reply_to_a_comment(replay: ReplayServer, connectors: Any) -> None:
    serve(replay, cassette("TestComment.test_reply"))
    conn = connectors(replay, subreddits=["x"], **LOGIN)
    target = ReplyTarget("t1_d1616q2", "u", "t3_4b1tfm", None, "someone", {})

    result = await conn.reply(target, "Comment reply", "k1")

    assert result.external_id == "t1_d1680wu"
    assert result.url == "https://www.reddit.com/r/<TEST_SUBREDDIT>/comments/4b1tfm/_/d1680wu/"
    sent = replay.requests[-1]
    assert sent.path == "/api/comment/"
    assert dict(p.split("=") for p in sent.body.decode().split("&")) == {
        "api_type": "json",
        "text": "Comment+reply",
        "thing_id": "t1_d1616q2",
    }


async def test_reply_to_a_submission(replay: ReplayServer, connectors: Any) -> None:
    serve(replay, cassette("TestSubmission.test_reply"))
    result = await connectors(replay, subreddits=["x"], **LOGIN).reply(
        ReplyTarget("t3_4b1tfm", "u", "t3_4b1tfm", None, None, {}), "Test reply", "k"
    )
    assert result.external_id.startswith("t1_")
    assert b"thing_id=t3_4b1tfm" in replay.requests[-1].body


async def test_find_reply_walks_the_comment_tree(replay: ReplayServer, connectors: Any) -> None:
    serve(replay, cassette("TestSubmission.test_comments"))
    conn = connectors(replay, subreddits=["x"], username="bboe", password_env="REDDIT_PASSWORD")
    target = ReplyTarget("t1_cklfmye", "u", "t3_2gmzqe", "t3_2gmzqe", "paneer_burrito", {})
    tree = next(i for i in cassette("TestSubmission.test_comments") if i.method == "GET").json()
    body = tree[1]["data"]["children"][0]["data"]["replies"]["data"]["children"][0]["data"]["body"]

    found = await conn.find_reply(target, body, "k")

    assert found is not None and found.external_id == "t1_cklhv0f"
    sent = replay.requests[-1]
    assert sent.path == "/comments/2gmzqe/" and sent.query["comment"] == "cklfmye" and sent.query["sort"] == "new"
    assert await conn.find_reply(target, "not what bboe wrote", "k") is None
    other_user = connectors(replay, subreddits=["x"], username="someone_else", password_env="REDDIT_PASSWORD")
    assert await other_user.find_reply(target, body, "k") is None


async def test_timed_out_reply_is_not_retried_and_is_found_later(replay: ReplayServer, connectors: Any) -> None:
    token = [i for i in cassette("TestComment.test_reply") if i.path == TOKEN_PATH]
    reply = [i for i in cassette("TestComment.test_reply") if i.path == "/api/comment/"]
    serve(replay, token)
    serve(replay, reply, delay=1.3)
    serve(replay, [i for i in cassette("TestSubmission.test_comments") if i.method == "GET"])
    conn = connectors(replay, subreddits=["x"], username="bboe", password_env="REDDIT_PASSWORD", timeout_seconds=1)
    target = ReplyTarget("t1_cklfmye", "u", "t3_2gmzqe", None, None, {})
    tree = next(i for i in cassette("TestSubmission.test_comments") if i.method == "GET").json()
    text = tree[1]["data"]["children"][0]["data"]["replies"]["data"]["children"][0]["data"]["body"]

    with pytest.raises(TransientFetchError, match="may or may not"):
        await conn.reply(target, text, "draft-1")
    assert await conn.find_reply(target, text, "draft-1") is not None
    assert replay.served("POST", "/api/comment/") == 1, "prawcore must not retry an ambiguous POST"


async def test_reply_failing_with_5xx_is_ambiguous_and_sent_once(replay: ReplayServer, connectors: Any) -> None:
    serve(replay, [i for i in cassette("TestComment.test_reply") if i.path == TOKEN_PATH])
    bad = next(i for i in cassette("TestSession.test_request__bad_gateway") if i.status == 502)
    replay.add("POST", "/api/comment/", bad.canned())
    with pytest.raises(TransientFetchError):
        await connectors(replay, subreddits=["x"], **LOGIN).reply(
            ReplyTarget("t1_x", "u", None, None, None, {}), "hi", "k"
        )
    assert replay.served("POST", "/api/comment/") == 1


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        ([["RATELIMIT", "you are doing that too much. try again in 5 minutes.", "ratelimit"]], RateLimited),
        ([["THREAD_LOCKED", "that thread is locked", "parent"]], ReplyError),
    ],
)
async def test_reddit_api_errors_on_reply(
    replay: ReplayServer, connectors: Any, errors: list[Any], expected: type
) -> None:
    serve(replay, [i for i in cassette("TestComment.test_reply") if i.path == TOKEN_PATH])
    replay.add("POST", "/api/comment/", Canned(200, json.dumps({"json": {"errors": errors}}).encode(), JSON))
    with pytest.raises(expected) as info:
        await connectors(replay, subreddits=["x"], **LOGIN).reply(
            ReplyTarget("t1_x", "u", None, None, None, {}), "hi", "k"
        )
    if expected is ReplyError:
        assert info.value.permanent and "locked" in str(info.value)


async def test_reply_refusals_before_sending(replay: ReplayServer, connectors: Any) -> None:
    target = ReplyTarget("t1_x", "u", None, None, None, {})
    with pytest.raises(ReplyError) as no_login:
        await connectors(replay, subreddits=["x"]).reply(target, "hi", "k")
    assert no_login.value.permanent and "login" in str(no_login.value)
    with pytest.raises(ReplyError) as too_long:
        await connectors(replay, subreddits=["x"], **LOGIN).reply(target, "x" * 10001, "k")
    assert too_long.value.permanent
    assert replay.requests == []


def recorded_status(name: str, status: int) -> Canned:
    return next(i for i in cassette(name) if i.status == status).canned()


async def test_429_with_retry_after(replay: ReplayServer, connectors: Any) -> None:
    serve(
        replay,
        [
            i
            for i in cassette("TestSession.test_request__too__many_requests__with_retry_headers")
            if i.path == TOKEN_PATH
        ],
    )
    replay.add(
        "GET",
        "/r/askreddit/new",
        recorded_status("TestSession.test_request__too__many_requests__with_retry_headers", 429),
    )
    with pytest.raises(RateLimited) as info:
        await connectors(replay, subreddits=["askreddit"]).fetch(None)
    assert info.value.retry_after == 4.0


async def test_a_5xx_with_retry_after_waits_as_asked(replay: ReplayServer, connectors: Any) -> None:
    """A 503's Retry-After reaches the poller as on every other connector (it was dropped for Reddit)."""
    name = "TestSession.test_request__too__many_requests__with_retry_headers"
    serve(replay, [i for i in cassette(name) if i.path == TOKEN_PATH])
    recorded = recorded_status(name, 429)
    headers = {k: v for k, v in recorded.headers.items() if not k.lower().startswith(("retry-after", "x-ratelimit"))}
    replay.add("GET", "/r/askreddit/new", Canned(503, recorded.body, {**headers, "Retry-After": "120"}))
    with pytest.raises(TransientFetchError) as info:
        await connectors(replay, subreddits=["askreddit"]).fetch(None)
    assert info.value.retry_after == 120.0


async def test_429_without_retry_after(replay: ReplayServer, connectors: Any) -> None:
    serve(replay, cassette("TestSession.test_request__too__many_requests__without_retry_headers"))
    with pytest.raises(RateLimited) as info:
        await connectors(replay, subreddits=["askreddit"]).fetch(None)
    assert info.value.retry_after is None


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("TestSession.test_request__with_invalid_access_token", 401),
        ("TestSession.test_request__forbidden", 403),
    ],
)
async def test_401_and_403_pause_the_source(replay: ReplayServer, connectors: Any, name: str, status: int) -> None:
    serve(replay, [i for i in cassette(name) if i.path == TOKEN_PATH])
    replay.add("GET", "/r/askreddit/new", recorded_status(name, status))
    with pytest.raises(AuthError, match=str(status)):
        await connectors(replay, subreddits=["askreddit"]).fetch(None)


async def test_refused_login_is_an_auth_error(replay: ReplayServer, connectors: Any) -> None:
    serve(replay, cassette("TestScriptAuthorizer.test_refresh__with_invalid_username_or_password"))
    with pytest.raises(AuthError, match="unauthorized_client"):
        await connectors(replay, include=["mentions"], **LOGIN).fetch(None)


async def test_missing_secret_is_an_auth_error(
    replay: ReplayServer, connectors: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDDIT_SECRET")
    with pytest.raises(AuthError, match="REDDIT_SECRET"):
        await connectors(replay, subreddits=["askreddit"]).fetch(None)
    assert replay.requests == []


async def test_5xx_retries_happen_in_the_worker_thread_not_on_the_loop(replay: ReplayServer, connectors: Any) -> None:
    bad_gateway = cassette("TestSession.test_request__bad_gateway")
    serve(replay, [i for i in bad_gateway if i.path == TOKEN_PATH])
    replay.add("GET", "/r/askreddit/new", *[i.canned() for i in bad_gateway if i.status == 502])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    with pytest.raises(TransientFetchError, match="502"):
        await connectors(replay, subreddits=["askreddit"]).fetch(None)
    elapsed = time.monotonic() - started
    task.cancel()
    assert replay.served("GET", "/r/askreddit/new") == 3, "prawcore tried three times, as recorded"
    assert ticks >= int(elapsed / 0.05) * 0.6, "the event loop kept running while prawcore slept"


@pytest.mark.parametrize(
    "body",
    [
        hostile_json("n_structure_100000_opening_arrays.json"),
        hostile_json("n_structure_open_array_object.json"),
    ],
)
async def test_deeply_nested_json_is_malformed(replay: ReplayServer, connectors: Any, body: bytes) -> None:
    serve(replay, [i for i in cassette("TestSubredditListings.test_new") if i.path == TOKEN_PATH])
    replay.add("GET", "/r/askreddit/new", Canned(200, body, JSON))
    with pytest.raises(MalformedResponseError):
        await connectors(replay, subreddits=["askreddit"]).fetch(None)


async def test_truncated_json_is_malformed(replay: ReplayServer, connectors: Any) -> None:
    bad_json = cassette("TestSession.test_request__bad_json")
    serve(replay, [i for i in bad_json if i.path == TOKEN_PATH])
    replay.add("GET", "/r/askreddit/new", next(i for i in bad_json if i.method == "GET").canned())
    with pytest.raises(MalformedResponseError, match="not JSON"):
        await connectors(replay, subreddits=["askreddit"]).fetch(None)


async def test_spent_budget_returns_the_page_then_pauses(replay: ReplayServer, connectors: Any) -> None:
    interactions = cassette("TestSubredditListings.test_new")
    for item in interactions:
        if item.method == "GET":
            item.headers = {
                **item.headers,
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": "600",
                "x-ratelimit-reset": "90",
            }
    serve(replay, interactions)
    conn = connectors(replay, subreddits=["askreddit"])
    batch = await conn.fetch(None)
    assert len(batch.posts) == 100 and not batch.has_more
    with pytest.raises(RateLimited) as info:
        await connectors(replay, subreddits=["askreddit"]).fetch(batch.cursor)
    assert 60 < info.value.retry_after <= 90
    assert replay.served("GET", "/r/askreddit/new") == 1


def test_options_are_checked() -> None:
    base = {"client_id": "x", "user_agent": "socialcrm tests"}
    with pytest.raises(ValueError, match="subreddits"):
        RedditOptions(**base)
    with pytest.raises(ValueError, match="user login"):
        RedditOptions(**base, include=["mentions"])
    with pytest.raises(ValueError, match="script app"):
        RedditOptions(**base, subreddits=["a"], username="u", password_env="P")
    with pytest.raises(ValueError):
        RedditOptions(**base, subreddits=["a"], client_secret="inline")


async def test_429_with_retry_after_as_an_http_date(replay: ReplayServer, connectors: Any) -> None:
    """Retry-After may be an HTTP date (RFC 9110); prawcore reads seconds only and failed with a ValueError."""
    name = "TestSession.test_request__too__many_requests__with_retry_headers"
    serve(replay, [i for i in cassette(name) if i.path == TOKEN_PATH])
    recorded = recorded_status(name, 429)
    headers = {k: v for k, v in recorded.headers.items() if not k.lower().startswith(("retry-after", "x-ratelimit"))}
    when = formatdate(time.time() + 120, usegmt=True)
    replay.add("GET", "/r/askreddit/new", Canned(429, recorded.body, {**headers, "Retry-After": when}))
    with pytest.raises(RateLimited) as info:
        await connectors(replay, subreddits=["askreddit"]).fetch(None)
    assert info.value.retry_after is not None and 110 <= info.value.retry_after <= 120


async def test_a_cursor_that_forgets_an_erased_post_skips_nothing(replay: ReplayServer, connectors: Any) -> None:
    """``privacy erase`` takes her post ids out of the cursor, the page anchor ``after=<fullname>`` included."""
    children, feed, opts = paged_listing(replay)
    first = await connectors(replay, **opts).fetch(None)
    feed.visible = lambda c: True
    page = await connectors(replay, **opts).fetch(first.cursor)  # the walk's first page: 25 newest posts
    erased = children[24]["data"]["name"]  # her post: the next page's anchor, and seen
    assert page.has_more and erased in page.cursor
    cursor = forget_posts(page.cursor, {erased, "t3_unknown"})
    assert erased not in cursor and forget_posts(cursor, {erased}) == cursor
    delivered = [p.external_id for p in page.posts]
    while True:
        batch = await connectors(replay, **opts).fetch(cursor)
        delivered += [p.external_id for p in batch.posts]
        cursor = batch.cursor
        if not batch.has_more:
            break
    expected = {c["data"]["name"] for c in children} - {p.external_id for p in first.posts}
    assert set(delivered) == expected  # nothing skipped; only her post comes again (the core drops it)
    assert sorted(delivered) == sorted([*expected, erased])
    afters = [r.query.get("after") for r in replay.requests if r.path == "/r/askreddit/new"]
    assert afters[2] is None  # the walk starts again at the newest page
