"""Mastodon connector against Mastodon.py's vcrpy cassettes (a real Mastodon server), served on 127.0.0.1."""

from __future__ import annotations

import json
import time
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
from connectors.mastodon import MastodonConnector, MastodonOptions
from tests.replay.cassettes import Interaction, hostile_json, json_response, load, serve, serve_by_query
from tests.replay.emulators import MastodonTimeline
from tests.replay_server import Canned, ReplayServer

DIR = Path(__file__).resolve().parents[1] / "replay" / "mastodon"
RECORDED_ORIGIN = "http://localhost:3000"
TOKEN = "tok-abc"


def cassette(name: str) -> list[Interaction]:
    return load(DIR / f"{name}.yaml")


def pick(name: str, method: str, path: str, nth: int = 0) -> Interaction:
    return [i for i in cassette(name) if i.method == method and i.path == path][nth]


def statuses(name: str, path: str) -> list[dict[str, Any]]:
    return pick(name, "GET", path).json()


def make(replay: ReplayServer, http: aiohttp.ClientSession, **options: Any) -> MastodonConnector:
    return MastodonConnector("masto", MastodonOptions(base_url=replay.base_url, **options), http)


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTO_TOKEN", TOKEN)


def target_of(status: dict[str, Any], domain: str) -> ReplyTarget:
    acct = status["account"]["acct"]
    return ReplyTarget(status["id"], status["url"], status["id"], None, f"{acct}@{domain}", status)


async def test_public_timeline_first_poll(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    serve(replay, [pick("test_public_tl", "GET", "/api/v1/timelines/public")])
    batch = await make(replay, http, timeline="public").fetch(None)

    recorded = statuses("test_public_tl", "/api/v1/timelines/public")
    assert [p.external_id for p in batch.posts] == [s["id"] for s in recorded]
    first = batch.posts[0]
    domain = replay.base_url.split("//")[1]
    assert first.author_handle == f"mastodonpy_test_2@{domain}"
    assert first.author_url == replay.url("/@mastodonpy_test_2")
    assert first.url == replay.url("/@mastodonpy_test_2/117020593378945190")
    assert first.body == "Toot, finally!" and first.kind == "post"
    assert first.thread_id == first.external_id and first.parent_id is None
    assert first.language_hint == "ja" and first.author_metrics["statuses"] == 3.0
    assert first.published_at.isoformat() == "2026-08-01T13:55:50.338000+00:00"
    assert not batch.has_more
    sent = replay.requests[0]
    assert sent.query == {"limit": "40"} and "Authorization" not in sent.headers
    stream = json.loads(batch.cursor)["streams"]["timeline"]
    assert stream["extra"]["min_id"] == "117020593378945190"  # from the Link header's rel="prev"


async def test_next_poll_starts_at_the_link_header_min_id(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    serve(replay, [pick("test_public_tl", "GET", "/api/v1/timelines/public")])
    first = await make(replay, http, timeline="public").fetch(None)
    second = await make(replay, http, timeline="public").fetch(first.cursor)
    assert replay.requests[-1].query == {"limit": "40", "min_id": "117020593378945190"}
    assert list(second.posts) == [], "statuses not newer than min_id are never delivered twice"


async def test_local_timeline_and_keyword_filter(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    local = pick("test_public_tl", "GET", "/api/v1/timelines/public", nth=1)
    serve_by_query(replay, "GET", "/api/v1/timelines/public", [({"local": "true"}, local.canned())])
    batch = await make(replay, http, timeline="local", keywords=["FINALLY"]).fetch(None)
    assert replay.requests[0].query["local"] == "true"
    assert [p.body for p in batch.posts] == ["Toot, finally!"]
    assert json.loads(batch.cursor)["streams"]["timeline"]["extra"]["min_id"] == local.json()[0]["id"]


async def test_hashtag_timeline(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    serve(replay, [pick("test_hashtag_tl", "GET", "/api/v1/timelines/tag/hoot")])
    batch = await make(replay, http, hashtags=["#hoot"], keywords=["unrelated"]).fetch(None)
    (post,) = batch.posts
    assert post.body == "#hoot (hashtag toot)"
    assert set(json.loads(batch.cursor)["streams"]) == {"tag:hoot"}


async def test_restart_in_the_middle_of_pagination(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    pool = {s["id"]: s for s in statuses("test_home_tl", "/api/v1/timelines/home")}
    pool.update({s["id"]: s for s in statuses("test_public_tl", "/api/v1/timelines/public")})
    ordered = sorted(pool, key=int)
    timeline = MastodonTimeline(list(pool.values()), visible=lambda s: int(s["id"]) <= int(ordered[1]))
    replay.add_handler("GET", "/api/v1/timelines/public", timeline.handle)
    opts = {"timeline": "public", "page_size": 3}

    first = await make(replay, http, **opts).fetch(None)
    assert sorted(p.external_id for p in first.posts) == ordered[:2]
    timeline.visible = lambda s: True
    cursor, delivered, pages = first.cursor, [], 0
    while True:
        batch = await make(replay, http, **opts).fetch(cursor)  # a new instance: a restart per page
        delivered += [p.external_id for p in batch.posts]
        cursor, pages = batch.cursor, pages + 1
        if not batch.has_more:
            break
    assert sorted(delivered, key=int) == ordered[2:]
    assert len(delivered) == len(set(delivered)) and pages >= 3
    min_ids = [r.query["min_id"] for r in replay.requests if "min_id" in r.query]
    assert min_ids == sorted(min_ids, key=int) and len(set(min_ids)) == len(min_ids)


async def test_mentions_need_the_token_and_keep_the_notification(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    recorded = pick("test_notifications_mentions_only", "GET", "/api/v1/notifications")
    serve(replay, [recorded])
    batch = await make(replay, http, notifications=True, access_token_env="MASTO_TOKEN").fetch(None)

    (post,) = batch.posts
    note = recorded.json()[0]
    assert post.kind == "mention" and post.external_id == note["status"]["id"]
    assert post.raw["id"] == note["id"] and "hello" in post.body
    sent = replay.requests[0]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}" and sent.query["types[]"] == "mention"
    assert json.loads(batch.cursor)["streams"]["mentions"]["extra"]["min_id"] == "21"


async def test_missing_token_variable_is_an_auth_error(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    with pytest.raises(AuthError, match="NO_SUCH_VAR"):
        await make(replay, http, notifications=True, access_token_env="NO_SUCH_VAR").fetch(None)
    assert replay.requests == []


async def test_search_with_a_user_token(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    empty = pick("test_search", "GET", "/api/v2/search", nth=2)
    serve(replay, [empty])
    batch = await make(replay, http, query="mastodonpy_test", access_token_env="MASTO_TOKEN").fetch(None)
    assert list(batch.posts) == []
    sent = replay.requests[0].query
    assert sent["q"] == "mastodonpy_test" and sent["type"] == "statuses" and sent["offset"] == "0"


async def test_search_hits_become_posts(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    found = statuses("test_public_tl", "/api/v1/timelines/public")

    async def search(request: web.Request) -> web.Response:
        return json_response({"accounts": [], "statuses": found, "hashtags": []})

    replay.add_handler("GET", "/api/v2/search", search)
    batch = await make(replay, http, query="toot", access_token_env="MASTO_TOKEN").fetch(None)
    assert len(batch.posts) == len(found)


async def test_reply_thread_root_is_looked_up_and_bounded(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    posts = [i for i in cassette("test_status_reply") if i.method == "POST"]
    root, answer = posts[0].json(), posts[1].json()
    replay.add_handler("GET", "/api/v1/timelines/tag/hoot", lambda r: _list([answer]))
    replay.add_json("GET", f"/api/v1/statuses/{answer['id']}/context", {"ancestors": [root], "descendants": []})

    batch = await make(replay, http, hashtags=["hoot"]).fetch(None)
    (post,) = batch.posts
    assert post.kind == "reply" and post.parent_id == root["id"] and post.thread_id == root["id"]

    replay.requests.clear()
    bounded = await make(replay, http, hashtags=["hoot"], thread_lookups_per_poll=0).fetch(None)
    assert bounded.posts[0].thread_id == root["id"]  # falls back to the parent
    assert all("/context" not in r.path for r in replay.requests)


async def test_context_without_ancestors_falls_back_to_the_parent(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    answer = [i for i in cassette("test_status_reply") if i.method == "POST"][1].json()
    context = pick("test_status_context", "GET", "/api/v1/statuses/117020585487094447/context")
    replay.add_handler("GET", "/api/v1/timelines/tag/hoot", lambda r: _list([answer]))
    replay.add("GET", f"/api/v1/statuses/{answer['id']}/context", context.canned())
    batch = await make(replay, http, hashtags=["hoot"]).fetch(None)
    assert batch.posts[0].thread_id == answer["in_reply_to_id"]


async def _list(items: list[dict[str, Any]]) -> web.Response:
    return json_response(items)


async def test_reply_posts_with_visibility_mention_and_idempotency_key(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    posts = [i for i in cassette("test_status_reply") if i.method == "POST"]
    original, recorded_reply = posts[0].json(), posts[1]
    serve(replay, [recorded_reply])
    conn = make(replay, http, hashtags=["x"], access_token_env="MASTO_TOKEN")
    domain = replay.base_url.split("//")[1]

    result = await conn.reply(target_of(original, domain), "same!", "draft-7")

    assert result.external_id == "117020583258292382" and result.url == replay.url("/@admin/117020583258292382")
    sent = replay.requests[-1]
    form = dict(pair.split("=", 1) for pair in sent.body.decode().split("&"))
    # the same form fields Mastodon.py sent when this reply was recorded
    assert form == {
        "status": "%40mastodonpy_test_2+same%21",
        "in_reply_to_id": original["id"],
        "visibility": "public",
    }
    assert recorded_reply.request_body.decode().startswith("status=%40mastodonpy_test_2+same%21&in_reply_to_id=")
    assert sent.headers["Idempotency-Key"] == "draft-7" and sent.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_reply_length_is_counted_like_mastodon(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    conn = make(replay, http, hashtags=["x"], access_token_env="MASTO_TOKEN")
    target = ReplyTarget("1", "u", "1", None, "someone@example.social", {})
    with pytest.raises(ReplyError) as info:
        await conn.reply(target, "x" * 492, "k")  # "@someone " (9) + 492 = 501
    assert info.value.permanent and "500" in str(info.value)
    assert conn.counted_length("see https://example.com/" + "a" * 300) == len("see ") + 23
    assert conn.counted_length("@someone@example.social hi") == len("@someone hi")
    assert replay.requests == []


async def test_refused_reply_is_permanent(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    serve(replay, cassette("test_status_empty"))
    conn = make(replay, http, hashtags=["x"], access_token_env="MASTO_TOKEN")
    with pytest.raises(ReplyError) as info:
        await conn.reply(ReplyTarget("1", "u", "1", None, None, {}), "hi", "k")
    assert info.value.permanent and "422" in str(info.value) and "Text" in str(info.value)


async def test_find_reply_looks_through_own_statuses(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    me = pick("test_get_pagination_info", "GET", "/api/v1/accounts/verify_credentials")
    answer = [i for i in cassette("test_status_reply") if i.method == "POST"][1].json()
    own = statuses("test_get_pagination_info", "/api/v1/accounts/117020565966271181/statuses")
    serve(replay, [me])
    replay.add_json("GET", "/api/v1/accounts/117020565966271181/statuses", own + [answer])
    conn = make(replay, http, hashtags=["x"], access_token_env="MASTO_TOKEN")
    target = ReplyTarget(answer["in_reply_to_id"], "u", None, None, "mastodonpy_test_2@elsewhere", {})

    found = await conn.find_reply(target, "same!", "k")
    assert found is not None and found.external_id == answer["id"]
    assert await conn.find_reply(target, "something else", "k") is None
    other = ReplyTarget("117020581915050941", "u", None, None, None, {})
    assert await conn.find_reply(other, "same!", "k") is None
    assert replay.served("GET", "/api/v1/accounts/verify_credentials") == 1, "the account id is cached"
    assert replay.requests[-1].query == {"limit": "40", "exclude_reblogs": "true"}


async def test_retry_after_a_timeout_does_not_post_twice(replay: ReplayServer) -> None:
    posts = [i for i in cassette("test_status_reply") if i.method == "POST"]
    original, answer = posts[0].json(), posts[1]
    serve(replay, [answer], delay=1.0)
    serve(replay, [pick("test_get_pagination_info", "GET", "/api/v1/accounts/verify_credentials")])
    replay.add_json("GET", "/api/v1/accounts/117020565966271181/statuses", [answer.json()])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.3)) as short:
        conn = make(replay, short, hashtags=["x"], access_token_env="MASTO_TOKEN")
        target = target_of(original, "localhost:3000")
        with pytest.raises(TransientFetchError, match="timed out"):
            await conn.reply(target, "same!", "draft-7")
        assert await conn.find_reply(target, "same!", "draft-7") is not None
    assert replay.served("POST", "/api/v1/statuses") == 1


async def test_unauthorised_timeline_pauses_the_source(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    serve(replay, cassette("test_home_tl_anonymous_throws"))
    with pytest.raises(AuthError, match="401"):
        await make(replay, http, timeline="home", access_token_env="MASTO_TOKEN").fetch(None)


@pytest.mark.parametrize(
    ("response", "error", "retry_after"),
    [
        (Canned(429, b'{"error":"Too many requests"}', {"Retry-After": "30"}), RateLimited, 30.0),
        (Canned(429, b'{"error":"Too many requests"}', {}), RateLimited, None),
        (Canned(503, b"", {}), TransientFetchError, None),
        (Canned(200, hostile_json("n_structure_open_array_object.json"), {}), MalformedResponseError, None),
        (Canned(200, b'{"not": "a list"}', {}), MalformedResponseError, None),
    ],
)
async def test_fetch_errors(
    replay: ReplayServer,
    http: aiohttp.ClientSession,
    response: Canned,
    error: type[Exception],
    retry_after: float | None,
) -> None:
    replay.add("GET", "/api/v1/timelines/public", response)
    with pytest.raises(error) as info:
        await make(replay, http, timeline="public").fetch(None)
    if error is RateLimited:
        assert info.value.retry_after == retry_after  # type: ignore[attr-defined]


async def test_spent_rate_limit_budget_pauses_the_next_poll(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    recorded = pick("test_public_tl", "GET", "/api/v1/timelines/public")
    reset = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() + 120))
    recorded.headers = {**recorded.headers, "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    serve(replay, [recorded])
    batch = await make(replay, http, timeline="public").fetch(None)
    assert len(batch.posts) == 8 and not batch.has_more
    with pytest.raises(RateLimited) as info:
        await make(replay, http, timeline="public").fetch(batch.cursor)
    assert 100 < info.value.retry_after <= 120
    assert len(replay.requests) == 1, "the paused poll made no request"


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="at least one"):
        MastodonOptions(base_url="https://m.example")
    with pytest.raises(ValueError, match="access_token_env"):
        MastodonOptions(base_url="https://m.example", notifications=True)
    with pytest.raises(ValueError):
        MastodonOptions(base_url="https://m.example", timeline="federated")  # type: ignore[arg-type]


def test_status_html_becomes_plain_text() -> None:
    from connectors._markup import html_to_text

    html = (
        '<p>Hi <span class="h-card"><a href="https://m.example/@bob" class="u-url mention">'
        "@<span>bob</span></a></span>"
        ' see <a href="https://example.com/a"><span class="invisible">https://</span>example.com/a</a></p>'
        "<script>alert(1)</script><p>2nd &amp; 3rd<br>line</p>"
    )
    assert html_to_text(html) == "Hi @bob see https://example.com/a\n\n2nd & 3rd\nline"
