"""Bluesky connector against bskyr's R-vcr cassettes (recorded on bsky.social), served on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from connectors._atproto import encode_tid, grapheme_count, is_tid, link_facets, tid_for_key
from connectors.base import (
    AuthError,
    MalformedResponseError,
    RateLimited,
    ReplyError,
    ReplyTarget,
    TransientFetchError,
)
from connectors.bluesky import BlueskyConnector, BlueskyOptions
from tests.replay.accounts import BlueskyRepo
from tests.replay.cassettes import Interaction, hostile_json, load, serve
from tests.replay.emulators import OffsetPager
from tests.replay_server import Canned, ReplayServer

DIR = Path(__file__).resolve().parents[1] / "replay" / "bluesky"
X = "/xrpc/"
SESSION_DID = "did:plc:5c2r73erhng4bszmxlfdtscf"


def cassette(name: str) -> list[Interaction]:
    return load(DIR / f"{name}.yml")


def recorded(name: str, nsid: str) -> Interaction:
    return next(i for i in cassette(name) if i.path == X + nsid)


def search_posts() -> list[dict[str, Any]]:
    return recorded("f_search", "app.bsky.feed.searchPosts").json()["posts"]


def make(replay: ReplayServer, http: aiohttp.ClientSession, **options: Any) -> BlueskyConnector:
    defaults: dict[str, Any] = {"identifier": "bskyr.bsky.social", "app_password_env": "BSKY_APP_PASSWORD"}
    return BlueskyConnector("sky", BlueskyOptions(base_url=replay.base_url, **(defaults | options)), http)


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BSKY_APP_PASSWORD", "abcd-efgh-ijkl-mnop")


def login(replay: ReplayServer) -> None:
    serve(replay, [recorded("repo_auth_direct", "com.atproto.server.createSession")])


async def test_search_logs_in_and_maps_posts(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    login(replay)
    serve(replay, [recorded("f_search", "app.bsky.feed.searchPosts")])
    batch = await make(replay, http, query="redistricting").fetch(None)

    views = search_posts()
    assert [p.external_id for p in batch.posts] == [v["uri"] for v in views]
    first = batch.posts[0]
    assert first.author_handle == "socpaperbot.bsky.social"
    assert first.author_url == "https://bsky.app/profile/socpaperbot.bsky.social"
    assert first.url == "https://bsky.app/profile/socpaperbot.bsky.social/post/3lpk2u6qo222m"
    assert first.body.startswith("Ends Versus Means") and first.kind == "post"
    assert first.thread_id == first.external_id and first.parent_id is None
    reply = next(p for p in batch.posts if p.parent_id)
    view = next(v for v in views if v["uri"] == reply.external_id)
    assert reply.kind == "reply" and reply.thread_id == view["record"]["reply"]["root"]["uri"]
    assert reply.parent_id == view["record"]["reply"]["parent"]["uri"]
    assert batch.posts[1].language_hint == "en" and batch.posts[1].author_metrics["likes"] == 4.0
    assert first.published_at.isoformat() == "2025-05-19T17:10:09.561858+00:00"

    session_request = replay.requests[0]
    assert session_request.path == X + "com.atproto.server.createSession"
    assert session_request.json() == {"identifier": "bskyr.bsky.social", "password": "abcd-efgh-ijkl-mnop"}
    search = replay.requests[1]
    assert search.query == {"q": "redistricting", "sort": "latest", "limit": "100"}
    assert search.headers["Authorization"].startswith("Bearer")


async def test_next_poll_passes_since_and_repeats_nothing(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    login(replay)
    serve(replay, [recorded("f_search", "app.bsky.feed.searchPosts")])
    first = await make(replay, http, query="redistricting").fetch(None)
    second = await make(replay, http, query="redistricting").fetch(first.cursor)
    assert list(second.posts) == []
    assert replay.requests[-1].query["since"] == "2025-05-19T17:08:09.561Z"  # newest key minus 120 s


async def test_anonymous_search_sends_no_session(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    serve(replay, [recorded("f_search", "app.bsky.feed.searchPosts")])
    batch = await make(replay, http, query="redistricting", identifier=None, app_password_env=None).fetch(None)
    assert len(batch.posts) == 25
    assert [r.path for r in replay.requests] == [X + "app.bsky.feed.searchPosts"]
    assert "Authorization" not in replay.requests[0].headers


async def test_restart_in_the_middle_of_pagination(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    views = search_posts()
    oldest_kept = sorted(v["indexedAt"] for v in views)[2]
    pager = OffsetPager(views, "posts", visible=lambda v: v["indexedAt"] <= oldest_kept)
    login(replay)
    replay.add_handler("GET", X + "app.bsky.feed.searchPosts", pager.handle)
    opts = {"query": "redistricting", "page_size": 5, "overlap_seconds": 0}

    first = await make(replay, http, **opts).fetch(None)
    assert len(first.posts) == 3
    pager.visible = lambda v: True
    cursor, delivered, pages = first.cursor, [], 0
    while True:
        batch = await make(replay, http, **opts).fetch(cursor)  # new instance per page: a restart
        delivered += [p.external_id for p in batch.posts]
        cursor, pages = batch.cursor, pages + 1
        if not batch.has_more:
            break
    expected = {v["uri"] for v in views} - {p.external_id for p in first.posts}
    assert sorted(delivered) == sorted(expected) and len(delivered) == len(set(delivered))
    assert pages >= 4
    assert [p.get("cursor") for p in pager.seen_params[1:5]] == [None, "5", "10", "15"]
    assert all(p.get("since") for p in pager.seen_params[1:])


async def test_notifications_keep_mentions_and_quotes(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    login(replay)
    notes = recorded("n_notifications", "app.bsky.notification.listNotifications")
    serve(replay, [notes])
    batch = await make(replay, http, notifications=True).fetch(None)

    wanted = [n for n in notes.json()["notifications"] if n["reason"] in ("mention", "quote")]
    assert [p.external_id for p in batch.posts] == [n["uri"] for n in wanted]
    assert {p.kind for p in batch.posts} == {"mention"}
    assert batch.posts[0].author_handle == "josephjefe.bsky.social"
    sent = replay.requests[-1]
    assert sent.query["limit"] == "100"
    assert json.loads(batch.cursor)["streams"]["notifications"]["hw"] > 0


async def test_expired_token_is_refreshed_once(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    session = recorded("repo_auth_direct", "com.atproto.server.createSession").json()
    replay.add_json("POST", X + "com.atproto.server.createSession", session | {"accessJwt": "a1", "refreshJwt": "r1"})
    replay.add_json("POST", X + "com.atproto.server.refreshSession", session | {"accessJwt": "fresh"})
    expired = Canned(
        400, b'{"error":"ExpiredToken","message":"Token has expired"}', {"Content-Type": "application/json"}
    )
    search = recorded("f_search", "app.bsky.feed.searchPosts")
    replay.add("GET", X + "app.bsky.feed.searchPosts", expired, search.canned())

    batch = await make(replay, http, query="redistricting").fetch(None)

    assert len(batch.posts) == 25
    refresh = [r for r in replay.requests if r.path.endswith("refreshSession")]
    assert len(refresh) == 1 and refresh[0].headers["Authorization"] == "Bearer r1"
    assert replay.requests[-1].headers["Authorization"] == "Bearer fresh"


async def test_without_a_refresh_token_it_logs_in_again(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    login(replay)  # the recorded session has blank tokens
    expired = Canned(
        400, b'{"error":"ExpiredToken","message":"Token has expired"}', {"Content-Type": "application/json"}
    )
    replay.add(
        "GET",
        X + "app.bsky.feed.searchPosts",
        expired,
        recorded("f_search", "app.bsky.feed.searchPosts").canned(),
    )
    batch = await make(replay, http, query="redistricting").fetch(None)
    assert len(batch.posts) == 25
    assert replay.served("POST", X + "com.atproto.server.createSession") == 2


async def test_refused_login_and_missing_password_are_auth_errors(
    replay: ReplayServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b'{"error":"AuthenticationRequired","message":"Invalid identifier or password"}'
    replay.add(
        "POST",
        X + "com.atproto.server.createSession",
        Canned(401, body, {"Content-Type": "application/json"}),
    )
    with pytest.raises(AuthError):
        await make(replay, http, query="x").fetch(None)
    monkeypatch.delenv("BSKY_APP_PASSWORD")
    with pytest.raises(AuthError, match="BSKY_APP_PASSWORD"):
        await make(replay, http, query="x").fetch(None)


def reply_target() -> ReplyTarget:
    view = next(v for v in search_posts() if v["record"].get("reply"))
    return ReplyTarget(view["uri"], "https://bsky.app/x", view["record"]["reply"]["root"]["uri"], None, "a", view)


async def test_reply_creates_a_post_record_with_root_and_parent(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    login(replay)
    serve(replay, [recorded("r_post_reply", "com.atproto.repo.createRecord")])
    target = reply_target()

    result = await make(replay, http, query="x", reply_langs=["de"]).reply(
        target, "Danke! Mehr: https://example.org/faq", "d-1"
    )

    assert result.external_id == "at://did:plc:5c2r73erhng4bszmxlfdtscf/app.bsky.feed.post/3lprdue7ggw26"
    assert result.url == "https://bsky.app/profile/bskyr.bsky.social/post/3lprdue7ggw26"
    sent = replay.requests[-1].json()
    assert sent["repo"] == SESSION_DID and sent["collection"] == "app.bsky.feed.post" and is_tid(sent["rkey"])
    record = sent["record"]
    assert record["$type"] == "app.bsky.feed.post" and record["text"] == "Danke! Mehr: https://example.org/faq"
    assert record["reply"]["parent"] == {"uri": target.external_id, "cid": target.raw["cid"]}
    assert record["reply"]["root"] == target.raw["record"]["reply"]["root"]
    assert record["langs"] == ["de"] and record["createdAt"].endswith("Z")
    (facet,) = record["facets"]
    assert facet["features"][0]["uri"] == "https://example.org/faq"


async def test_reply_to_a_post_without_stored_cid_reads_it_first(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    login(replay)
    getposts = recorded("f_getposts", "app.bsky.feed.getPosts")
    serve(replay, [getposts, recorded("r_post_reply", "com.atproto.repo.createRecord")])
    view = getposts.json()["posts"][0]
    target = ReplyTarget(view["uri"], "u", None, None, None, {})
    await make(replay, http, query="x").reply(target, "hello", "d-2")
    assert replay.requests[1].query == {"uris": view["uri"]}
    refs = replay.requests[-1].json()["record"]["reply"]
    assert refs["root"] == refs["parent"] == {"uri": view["uri"], "cid": view["cid"]}


async def test_reply_over_300_graphemes_is_refused_locally(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    conn = make(replay, http, query="x")
    with pytest.raises(ReplyError) as info:
        await conn.reply(reply_target(), "a" * 301, "k")
    assert info.value.permanent and "301 graphemes" in str(info.value)
    assert grapheme_count("👍🏽" * 300) == 300
    assert replay.requests == []


async def test_server_refusal_is_permanent(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    login(replay)
    serve(replay, cassette("r_post_errors"))
    with pytest.raises(ReplyError, match="300 graphemes") as info:
        await make(replay, http, query="x").reply(reply_target(), "short enough here", "k")
    assert info.value.permanent
    assert replay.served("GET", X + "com.atproto.repo.getRecord") == 1, "it first checked for an earlier record"


def repo(replay: ReplayServer, hold: float) -> BlueskyRepo:
    """The account's repository (tests/replay/accounts.py), answering each created record after ``hold`` s."""
    pds = BlueskyRepo(SESSION_DID)
    pds.faults.hold_seconds = hold
    pds.install(replay)
    return pds


async def test_retry_after_a_timeout_does_not_post_twice(replay: ReplayServer) -> None:
    login(replay)
    pds = repo(replay, hold=1.0)
    target = reply_target()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as short:
        conn = make(replay, short, query="x")
        with pytest.raises(TransientFetchError, match="timed out"):
            await conn.reply(target, "Thanks for the tag!", "draft-42")
        found = await conn.find_reply(target, "Thanks for the tag!", "draft-42")
        assert found is not None and found.external_id in {pds.uri(key) for key in pds.records}
        # a restarted daemon has no memory of the record key: the account's posts still show it
        again = await make(replay, short, query="x").find_reply(target, "Thanks for the tag!", "draft-42")
        assert again is not None and again.external_id == found.external_id
        assert await make(replay, short, query="x").find_reply(target, "another text", "draft-43") is None
    assert pds.created == 1


async def test_same_key_retried_at_once_returns_the_existing_record(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    login(replay)
    pds = repo(replay, hold=0)
    conn = make(replay, http, query="x")
    first = await conn.reply(reply_target(), "Once only", "draft-5")
    second = await conn.reply(reply_target(), "Once only", "draft-5")
    assert first.external_id == second.external_id and pds.created == 1


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (Canned(429, b'{"error":"RateLimitExceeded"}', {"Retry-After": "40"}), RateLimited),
        (Canned(502, b"", {}), TransientFetchError),
        (Canned(200, hostile_json("n_structure_100000_opening_arrays.json"), {}), MalformedResponseError),
        (Canned(200, b'{"posts": "nope"}', {}), MalformedResponseError),
    ],
)
async def test_fetch_errors(
    replay: ReplayServer, http: aiohttp.ClientSession, response: Canned, error: type[Exception]
) -> None:
    replay.add("GET", X + "app.bsky.feed.searchPosts", response)
    conn = make(replay, http, query="x", identifier=None, app_password_env=None)
    with pytest.raises(error) as info:
        await conn.fetch(None)
    if error is RateLimited:
        assert info.value.retry_after == 40.0  # type: ignore[attr-defined]


async def test_rate_limit_headers_of_a_good_answer_pause_the_next_poll(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    import time

    search = recorded("f_search", "app.bsky.feed.searchPosts")
    search.headers = {
        **search.headers,
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(int(time.time()) + 90),
    }
    serve(replay, [search])
    conn = make(replay, http, query="x", identifier=None, app_password_env=None)
    batch = await conn.fetch(None)
    assert len(batch.posts) == 25
    with pytest.raises(RateLimited):
        await conn.fetch(batch.cursor)
    assert len(replay.requests) == 1


def test_tids_and_facets() -> None:
    assert encode_tid(0, 0) == "2222222222222"
    assert is_tid(tid_for_key("k")) and tid_for_key("k") == tid_for_key("k")
    assert tid_for_key("k", now_us=10**15) != tid_for_key("k", now_us=10**15 + 10**9)
    assert tid_for_key("k", now_us=10**15) != tid_for_key("other", now_us=10**15)
    (facet,) = link_facets("ä https://x.org/a.")
    assert facet["index"] == {"byteStart": 3, "byteEnd": 18}  # "ä " is 3 bytes, the URL 15


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="query"):
        BlueskyOptions()
    with pytest.raises(ValueError, match="notifications need"):
        BlueskyOptions(notifications=True)
    with pytest.raises(ValueError, match="together"):
        BlueskyOptions(query="x", identifier="me.bsky.social")
