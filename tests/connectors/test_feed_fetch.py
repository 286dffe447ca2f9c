"""The feed connector over real HTTP: conditional GET, errors, timeouts, size caps, non-feeds."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aiohttp import web

from connectors._http import USER_AGENT
from connectors.base import (
    AuthError,
    Connector,
    ConnectorError,
    MalformedResponseError,
    RateLimited,
    ReplyError,
    ReplyTarget,
    TransientFetchError,
)
from connectors.feed import FeedConnector, FeedOptions
from tests.connectors.test_feed_helpers import cassette_response, feed_bytes, http, make_feed, serve
from tests.replay_server import Canned, ReplayServer

__all__ = ["http"]


async def test_rss2_feed_becomes_posts(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    url = serve(replay, "/feed", "real-world/guardian.rss", "application/rss+xml; charset=utf-8")
    batch = await make_feed(http, url).fetch(None)
    assert len(batch.posts) == 55 and not batch.not_modified and batch.problems == []
    post = batch.posts[0]
    assert post.source == "acme-blog"
    assert post.title == "Trump State of the Union address promised unity but emphasized discord"
    assert post.url.startswith("https://www.theguardian.com/us-news/2018/jan/31/")
    assert post.external_id == post.url and post.thread_id == post.external_id and post.kind == "post"
    assert post.author_name == "David Smith in Washington"
    assert post.published_at == datetime(2018, 1, 31, 7, 26, 5, tzinfo=UTC)
    assert post.language_hint == "en-gb"
    assert post.body.startswith("The president’s ‘new American moment’ speech")


async def test_sends_a_descriptive_user_agent_and_accepts_feeds(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    url = serve(replay, "/feed", "real-world/heise.atom")
    await make_feed(http, url).fetch(None)
    await make_feed(http, url, user_agent="acme-listener/2.0 (ops@example.com)").fetch(None)
    first, second = replay.requests
    assert first.headers["User-Agent"] == USER_AGENT and "socialcrm" in USER_AGENT
    assert "application/atom+xml" in first.headers["Accept"]
    assert second.headers["User-Agent"] == "acme-listener/2.0 (ops@example.com)"


async def test_etag_gives_304_not_modified(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    body = feed_bytes("real-world/guardian.rss")

    async def conditional(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"guardian-v1"':
            return web.Response(status=304, headers={"ETag": '"guardian-v1"'})
        return web.Response(body=body, headers={"ETag": '"guardian-v1"', "Content-Type": "application/rss+xml"})

    replay.add_handler("GET", "/feed", conditional)
    feed = make_feed(http, replay.url("/feed"))
    first = await feed.fetch(None)
    second = await feed.fetch(first.cursor)
    assert len(first.posts) == 55
    assert second.not_modified and second.posts == [] and second.cursor == first.cursor
    assert "If-None-Match" not in replay.requests[0].headers
    assert replay.requests[1].headers["If-None-Match"] == '"guardian-v1"'


async def test_last_modified_gives_304_not_modified(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    body = feed_bytes("real-world/heise.atom")
    stamp = "Mon, 01 Feb 2016 16:54:50 GMT"

    async def conditional(request: web.Request) -> web.Response:
        if request.headers.get("If-Modified-Since") == stamp:
            return web.Response(status=304)
        return web.Response(body=body, headers={"Last-Modified": stamp, "Content-Type": "application/atom+xml"})

    replay.add_handler("GET", "/feed", conditional)
    feed = make_feed(http, replay.url("/feed"))
    first = await feed.fetch(None)
    second = await feed.fetch(first.cursor)
    assert len(first.posts) == 15
    assert second.not_modified and second.posts == [] and second.cursor == first.cursor
    assert replay.requests[1].headers["If-Modified-Since"] == stamp


async def test_unchanged_body_without_validators_is_not_modified(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    url = serve(replay, "/feed", "real-world/heise.atom")
    feed = make_feed(http, url)
    first = await feed.fetch(None)
    second = await feed.fetch(first.cursor)
    assert len(first.posts) == 15
    assert second.not_modified and second.posts == []


async def test_a_cursor_of_another_url_or_a_damaged_one_starts_afresh(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    serve(replay, "/a", "real-world/heise.atom", ETag='"a1"')
    url_b = serve(replay, "/b", "real-world/heise.atom")
    cursor_a = (await make_feed(http, replay.url("/a")).fetch(None)).cursor
    for cursor in (cursor_a, "not json {", json.dumps({"v": 99})):
        batch = await make_feed(http, url_b).fetch(cursor)
        assert len(batch.posts) == 15
    assert all("If-None-Match" not in r.headers for r in replay.requests if r.path == "/b")


async def test_429_with_retry_after_seconds(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    recorded = cassette_response("TestSession.test_request__too__many_requests__with_retry_headers.json", 429)
    replay.add("GET", "/feed", recorded)
    with pytest.raises(RateLimited) as caught:
        await make_feed(http, replay.url("/feed")).fetch(None)
    assert caught.value.retry_after == 4.0
    assert "HTTP 429" in str(caught.value) and caught.value.source == "acme-blog"


async def test_429_with_retry_after_http_date(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    recorded = cassette_response("TestSession.test_request__too__many_requests__with_retry_headers.json", 429)
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    replay.add("GET", "/feed", Canned(429, recorded.body, {**recorded.headers, "Retry-After": when}))
    with pytest.raises(RateLimited) as caught:
        await make_feed(http, replay.url("/feed")).fetch(None)
    assert caught.value.retry_after is not None and 60 < caught.value.retry_after <= 120


async def test_500_is_transient(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    replay.add("GET", "/feed", cassette_response("TestSession.test_request__internal_server_error.json", 500))
    with pytest.raises(TransientFetchError) as caught:
        await make_feed(http, replay.url("/feed")).fetch(None)
    assert not isinstance(caught.value, RateLimited)
    assert "HTTP 500" in str(caught.value) and caught.value.retry_after is None


async def test_503_with_retry_after_is_transient_with_a_wait(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    recorded = cassette_response("TestSession.test_request__service_unavailable.json", 503)
    replay.add("GET", "/feed", Canned(503, recorded.body, {**recorded.headers, "Retry-After": "30"}))
    with pytest.raises(TransientFetchError) as caught:
        await make_feed(http, replay.url("/feed")).fetch(None)
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize(("status", "error"), [(401, AuthError), (403, AuthError)])
async def test_401_and_403_pause_the_source(
    replay: ReplayServer, http: aiohttp.ClientSession, status: int, error: type[ConnectorError]
) -> None:
    replay.add("GET", "/feed", Canned(status, b"", {"Content-Type": "text/plain"}))
    with pytest.raises(error, match=f"HTTP {status}"):
        await make_feed(http, replay.url("/feed")).fetch(None)


@pytest.mark.parametrize(("status", "words"), [(404, "feed not found (HTTP 404)"), (410, "gone for good (HTTP 410)")])
async def test_404_and_410_name_the_url(
    replay: ReplayServer, http: aiohttp.ClientSession, status: int, words: str
) -> None:
    replay.add("GET", "/feed", Canned(status, b"no such page", {"Content-Type": "text/plain"}))
    with pytest.raises(ConnectorError) as caught:
        await make_feed(http, replay.url("/feed")).fetch(None)
    assert type(caught.value) is ConnectorError
    assert words in str(caught.value) and replay.url("/feed") in str(caught.value)


async def test_a_slow_server_times_out(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    release = asyncio.Event()

    async def stalls(request: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 10)
        return web.Response(body=feed_bytes("real-world/heise.atom"))

    replay.add_handler("GET", "/feed", stalls)
    try:
        with pytest.raises(TransientFetchError, match=r"no complete answer from .* within 0.3 s"):
            await make_feed(http, replay.url("/feed"), timeout=0.3).fetch(None)
    finally:
        release.set()


async def test_a_body_that_trickles_past_the_timeout_times_out(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    release = asyncio.Event()
    body = feed_bytes("real-world/heise.atom")

    async def trickles(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/atom+xml"})
        await response.prepare(request)
        await response.write(body[:1000])
        await asyncio.wait_for(release.wait(), 10)
        return response

    replay.add_handler("GET", "/feed", trickles)
    try:
        with pytest.raises(TransientFetchError, match="within 0.3 s"):
            await make_feed(http, replay.url("/feed"), timeout=0.3).fetch(None)
    finally:
        release.set()


async def test_an_oversized_body_is_refused(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    url = serve(replay, "/feed", "real-world/guardian.rss")
    with pytest.raises(MalformedResponseError, match="over the 4096-byte cap"):
        await make_feed(http, url, max_bytes=4096).fetch(None)


async def test_an_oversized_chunked_body_without_length_is_refused(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    body = feed_bytes("real-world/guardian.rss")

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 1000):
            await response.write(body[start : start + 1000])
        await response.write_eof()
        return response

    replay.add_handler("GET", "/feed", chunked)
    with pytest.raises(MalformedResponseError, match="over the 4096-byte cap"):
        await make_feed(http, replay.url("/feed"), max_bytes=4096).fetch(None)


async def test_an_html_page_is_not_a_feed(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    recorded = cassette_response("TestSession.test_request__redirect.json", 302)
    replay.add("GET", "/blog", Canned(200, recorded.body, {"Content-Type": "text/html; charset=UTF-8"}))
    with pytest.raises(MalformedResponseError) as caught:
        await make_feed(http, replay.url("/blog")).fetch(None)
    assert "not a feed: got text/html" in str(caught.value) and replay.url("/blog") in str(caught.value)


async def test_an_xhtml_page_served_as_xml_is_not_a_feed(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    url = serve(replay, "/page", "hostile/dtd.xml", "application/xml")
    with pytest.raises(MalformedResponseError, match=r"not a feed: got application/xml \(an HTML page\)"):
        await make_feed(http, url).fetch(None)


async def test_a_feed_served_as_text_html_is_still_read(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    url = serve(replay, "/feed", "real-world/heise.atom", "text/html; charset=utf-8")
    assert len((await make_feed(http, url).fetch(None)).posts) == 15


async def test_an_empty_body_is_malformed(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    replay.add("GET", "/feed", Canned(200, b"", {"Content-Type": "application/rss+xml"}))
    with pytest.raises(MalformedResponseError, match="empty response"):
        await make_feed(http, replay.url("/feed")).fetch(None)


async def test_a_json_document_is_not_a_feed(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    replay.add("GET", "/feed.json", Canned(200, b'{"version": "https://jsonfeed.org/version/1"}', {}))
    with pytest.raises(MalformedResponseError, match="not a feed: got a JSON document"):
        await make_feed(http, replay.url("/feed.json")).fetch(None)


async def test_a_permanent_redirect_is_followed_and_reported(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    new_url = serve(replay, "/new-feed", "real-world/heise.atom")
    replay.add("GET", "/old-feed", Canned(301, b"", {"Location": new_url}))
    batch = await make_feed(http, replay.url("/old-feed")).fetch(None)
    assert len(batch.posts) == 15
    assert any(f"moved permanently to {new_url}" in problem for problem in batch.problems)


async def test_a_refused_connection_is_transient(http: aiohttp.ClientSession) -> None:
    server = ReplayServer()
    await server.start()
    url = server.url("/feed")
    await server.close()
    with pytest.raises(TransientFetchError, match="network error fetching"):
        await make_feed(http, url).fetch(None)


def test_options_validate_the_url_and_refuse_unknown_keys() -> None:
    assert FeedOptions(url=" https://example.com/feed.xml ").url == "https://example.com/feed.xml"
    for bad in ("ftp://example.com/feed", "example.com/feed", "https://", "http://exa mple.com/"):
        with pytest.raises(ValueError, match="not a URL"):
            FeedOptions(url=bad)
    with pytest.raises(ValueError, match="extra"):
        FeedOptions(url="https://example.com/feed.xml", interval_typo="5m")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        FeedOptions(url="https://example.com/feed.xml", max_entries=0)
    with pytest.raises(ValueError, match="printable"):
        FeedOptions(url="https://example.com/feed.xml", user_agent="bot\r\nX-Evil: 1")


async def test_reply_is_refused_as_read_only(http: aiohttp.ClientSession) -> None:
    feed = FeedConnector("acme-blog", FeedOptions(url="https://example.com/feed.xml"), http)
    assert FeedConnector.reply_policy.can_reply is False
    assert FeedConnector.kind == "feed" and FeedConnector.Options is FeedOptions
    assert isinstance(feed, Connector)
    target = ReplyTarget("x", "https://example.com/p", None, None, None, {})
    with pytest.raises(ReplyError) as caught:
        await feed.reply(target, "thanks!", "key-1")
    assert caught.value.permanent
    await feed.aclose()
