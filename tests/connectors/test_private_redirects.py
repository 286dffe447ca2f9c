"""Issue 11 item 9: a fetch never follows a redirect, or a host name, into loopback, private or link-local space.

How the tests are built, offline: every server here is a real HTTP server on a loopback address.
``127.0.0.1`` plays the inside of the network (an admin page that must stay unreachable); a
second server on ``127.0.0.2`` plays a feed on the internet.

- Through the daemon's own code path (config file, Runtime, per-source session), a source
  configured with ``url = "http://127.0.0.2:…/feed.xml"`` has chosen 127.0.0.2 explicitly, but
  not 127.0.0.1: its redirect there is refused and the inside server is never asked. The first
  release followed it and put the inside answer into the source's last error.
- With a host name, as on the internet: aiohttp's resolver seam maps ``news.example.com`` to
  127.0.0.2 and ``intranet.example.com`` to 127.0.0.1, and the guard is told that 127.0.0.2
  stands in for a public address (``treat_as_public``, a seam for tests only). A redirect to the
  intranet name is refused, and so is DNS rebinding: the same name resolving to 127.0.0.1 on the
  next fetch.
- ``allow_private_network = true`` on the source lets the redirect through.
- Reddit (praw's own HTTP client) passes the same check, also through a forward proxy that the
  environment names (``HTTPS_PROXY``, a real one on 127.0.0.1) and when built outside the runtime.
"""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from connectors import Batch, ConnectorError, NetworkGuard, make_session
from connectors.feed import FeedConnector
from connectors.reddit import RedditConnector, RedditOptions
from socialcrm.config import parse_config
from socialcrm.db import Database
from socialcrm.models import SourceState
from socialcrm.runtime import Runtime
from tests.proxy_server import ForwardProxy
from tests.replay.cassettes import load, serve
from tests.replay_server import Canned, ReplayServer

FEED = Path(__file__).resolve().parents[2] / "socialcrm" / "demo" / "feeds" / "acme-blog-comments.xml"
REDDIT = Path(__file__).resolve().parents[1] / "replay" / "reddit"
INSIDE_ANSWER = b"INTERNAL-ADMIN root password hint: " + b"x" * 2000


@pytest.fixture
async def inside() -> Any:
    server = ReplayServer("127.0.0.1")
    server.add("GET", "/admin", Canned(500, INSIDE_ANSWER, {"Content-Type": "text/plain"}))
    server.add_file("GET", "/feed.xml", FEED, "application/rss+xml")
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def outside(inside: ReplayServer) -> Any:
    server = ReplayServer("127.0.0.2")
    server.add_file("GET", "/feed.xml", FEED, "application/rss+xml")
    server.add("GET", "/to-admin", Canned(302, b"", {"Location": inside.url("/admin")}))
    server.add("GET", "/to-feed", Canned(302, b"", {"Location": inside.url("/feed.xml")}))
    server.add(
        "GET", "/to-intranet", Canned(302, b"", {"Location": f"http://intranet.example.com:{inside.port}/admin"})
    )
    await server.start()
    yield server
    await server.close()


async def test_daemon_refuses_a_redirect_into_the_network(
    inside: ReplayServer, outside: ReplayServer, database_url: str
) -> None:
    config = parse_config(f"""
[database]
url = "{database_url}"
[classifier]
kind = "lexicon"
[[sources]]
name = "redirected"
type = "feed"
url = "{outside.url("/to-admin")}"
[[sources]]
name = "allowed"
type = "feed"
url = "{outside.url("/to-feed")}"
allow_private_network = true
[[sources]]
name = "direct"
type = "feed"
url = "{inside.url("/feed.xml")}"
""")
    db = Database(database_url)
    runtime = await Runtime.open(config, db=db)
    try:
        results = {r.source: r for r in await runtime.poll_once()}
    finally:
        await runtime.close()
    error = results["redirected"].error or ""
    assert "refused to connect to 127.0.0.1" in error and "allow_private_network = true" in error
    assert inside.served("GET", "/admin") == 0  # the inside server was never asked
    assert results["allowed"].new == 6 and results["allowed"].error is None  # the admin allowed it
    assert results["direct"].new == 6 and results["direct"].error is None  # a configured 127.0.0.1 is a choice
    check = Database(database_url)
    with check.read() as session:
        state = session.get(SourceState, "redirected")
    check.dispose()
    assert state is not None and state.last_error and "INTERNAL-ADMIN" not in state.last_error


class MapResolver(AbstractResolver):
    """Answers host names from a table; a name with several answers gives the next one on each look-up."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        queue = self.answers[host]
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        return [
            ResolveResult(
                hostname=host, host=address, port=port, family=socket.AF_INET, proto=0, flags=socket.AI_NUMERICHOST
            )
        ]

    async def close(self) -> None:
        pass


async def fetch(url: str, resolver: MapResolver, *, allow_private: bool = False) -> Any:
    source = parse_config(f'[[sources]]\nname = "news"\ntype = "feed"\nurl = "{url}"\n').sources[0]
    guard = NetworkGuard.for_urls([url], allow_private=allow_private, treat_as_public={"127.0.0.2"})
    session = make_session(guard=guard, resolver=resolver)
    try:
        return await FeedConnector("news", source.options, session).fetch(None)  # type: ignore[arg-type]
    finally:
        await session.close()


async def test_a_public_name_redirecting_to_an_intranet_name_is_refused(
    inside: ReplayServer, outside: ReplayServer
) -> None:
    resolver = MapResolver({"news.example.com": ["127.0.0.2"], "intranet.example.com": ["127.0.0.1"]})
    url = f"http://news.example.com:{outside.port}"
    assert len((await fetch(url + "/feed.xml", resolver)).posts) == 6  # the public feed itself is fine
    with pytest.raises(ConnectorError, match="refused to connect to 127.0.0.1, a loopback address"):
        await fetch(url + "/to-intranet", resolver)
    with pytest.raises(ConnectorError, match="refused to connect to 127.0.0.1"):
        await fetch(url + "/to-admin", resolver)
    assert inside.served("GET", "/admin") == 0
    # With the option, the same redirect is followed (and the inside answer is only excerpted).
    with pytest.raises(ConnectorError) as allowed:
        await fetch(url + "/to-intranet", resolver, allow_private=True)
    assert inside.served("GET", "/admin") == 1 and len(str(allowed.value)) < 400


async def test_dns_rebinding_is_refused_at_connect_time(inside: ReplayServer, outside: ReplayServer) -> None:
    # The name answers with the "public" address first, with the loopback address on the next look-up.
    resolver = MapResolver({"news.example.com": ["127.0.0.2", "127.0.0.1"]})
    url = f"http://news.example.com:{outside.port}/feed.xml"
    assert len((await fetch(url, resolver)).posts) == 6
    inside.add_file("GET", "/feed.xml", FEED, "application/rss+xml")
    with pytest.raises(ConnectorError, match="refused to connect to 127.0.0.1"):
        await fetch(url.replace(str(outside.port), str(inside.port)), resolver)
    assert inside.served("GET", "/feed.xml") == 0


def test_addresses_are_told_apart() -> None:
    guard = NetworkGuard.for_urls(["http://10.1.2.3:8080/feed", "http://localhost/x", "https://example.com/"])
    for allowed in ("10.1.2.3", "127.0.0.1", "::1", "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"):
        guard.check(allowed)
    for refused in (
        "10.1.2.4",
        "192.168.1.1",
        "169.254.169.254",
        "fe80::1",
        "::ffff:127.0.0.2",
        "100.64.0.1",
        "0.0.0.0",
    ):
        with pytest.raises(OSError, match="refused"):
            guard.check(refused)
    NetworkGuard(allow_private=True).check("169.254.169.254")


REDDIT_SOURCE = """type = "reddit"
subreddits = ["askreddit"]
client_id = "clientid"
client_secret_env = "REDDIT_SECRET"
user_agent = "socialcrm-tests/0.1 (by /u/tester)"
"""


async def test_reddit_connections_pass_the_same_check(
    replay: ReplayServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reddit fetches through praw's own HTTP client, which the first sessions' guard did not cover.

    ``127.1`` is not an IP literal to the guard (so not the admin's explicit choice of a loopback
    address, as ``127.0.0.1`` is) but resolves to 127.0.0.1: a host name pointing into the network.
    """
    serve(replay, load(REDDIT / "TestSubredditListings.test_new.json"))
    hidden = replay.base_url.replace("127.0.0.1", "127.1")
    reddit = REDDIT_SOURCE
    config = parse_config(f"""
[database]
url = "{database_url}"
[classifier]
kind = "lexicon"
[[sources]]
name = "hidden"
{reddit}oauth_url = "{hidden}"
reddit_url = "{hidden}"
[[sources]]
name = "allowed"
{reddit}oauth_url = "{hidden}"
reddit_url = "{hidden}"
allow_private_network = true
[[sources]]
name = "direct"
{reddit}oauth_url = "{replay.base_url}"
reddit_url = "{replay.base_url}"
""")
    monkeypatch.setenv("REDDIT_SECRET", "s3cret")
    runtime = await Runtime.open(config, db=Database(database_url))
    try:
        hidden_result = (await runtime.poll_once(["hidden"]))[0]
        assert replay.requests == []  # not even the token request reached the server
        results = {r.source: r for r in await runtime.poll_once(["allowed", "direct"])}
    finally:
        await runtime.close()
    error = hidden_result.error or ""
    assert "refused to connect to 127.0.0.1, a loopback address" in error, error
    assert "allow_private_network = true" in error
    assert results["allowed"].error is None and results["allowed"].new > 0
    assert results["direct"].error is None and results["direct"].new > 0


@pytest.fixture
async def proxy(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A forward proxy on 127.0.0.1 that the environment names for http and https (nothing bypasses it)."""
    server = ForwardProxy()
    await server.start()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, server.url)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield server
    await server.close()


async def test_reddit_through_a_proxy_from_the_environment_passes_the_same_check(
    replay: ReplayServer, proxy: ForwardProxy, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy is the admin's choice; where a request asks it to go is still checked, before it is asked.

    The first release sent every request through ``HTTPS_PROXY`` unchecked: a host name pointing
    into the network (``127.1``), over http or https (a CONNECT tunnel), reached the proxy, which
    connected to it.
    """
    serve(replay, load(REDDIT / "TestSubredditListings.test_new.json"))
    hidden = replay.base_url.replace("127.0.0.1", "127.1")
    config = parse_config(f"""
[database]
url = "{database_url}"
[classifier]
kind = "lexicon"
[[sources]]
name = "hidden"
{REDDIT_SOURCE}oauth_url = "{hidden}"
reddit_url = "{hidden}"
[[sources]]
name = "hidden-tls"
{REDDIT_SOURCE}oauth_url = "{hidden.replace("http://", "https://")}"
reddit_url = "{hidden.replace("http://", "https://")}"
[[sources]]
name = "allowed"
{REDDIT_SOURCE}oauth_url = "{hidden}"
reddit_url = "{hidden}"
allow_private_network = true
[[sources]]
name = "direct"
{REDDIT_SOURCE}oauth_url = "{replay.base_url}"
reddit_url = "{replay.base_url}"
""")
    monkeypatch.setenv("REDDIT_SECRET", "s3cret")
    runtime = await Runtime.open(config, db=Database(database_url))
    try:
        refused = {r.source: r.error or "" for r in await runtime.poll_once(["hidden", "hidden-tls"])}
        assert proxy.seen == [] and replay.requests == []  # neither the proxy nor the server was asked
        results = {r.source: r for r in await runtime.poll_once(["allowed", "direct"])}
    finally:
        await runtime.close()
    for error in refused.values():
        assert "refused to connect to 127.0.0.1, a loopback address" in error, error
        assert "allow_private_network = true" in error
    assert results["allowed"].error is None and results["allowed"].new > 0
    assert results["direct"].error is None and results["direct"].new > 0
    asked = {line.split()[1].split("/")[2] for line in proxy.seen}  # the host of each absolute-form request
    assert asked == {f"127.1:{replay.port}", f"127.0.0.1:{replay.port}"}  # both went through the proxy


async def test_a_reddit_connector_built_outside_the_runtime_is_guarded(
    replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a session without a guard (a script, a plugin), it gets the one a source's URLs give by default."""
    serve(replay, load(REDDIT / "TestSubredditListings.test_new.json"))
    monkeypatch.setenv("REDDIT_SECRET", "s3cret")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    async def fetch(base_url: str) -> Batch:
        fields = tomllib.loads(REDDIT_SOURCE) | {"oauth_url": base_url, "reddit_url": base_url}
        fields.pop("type")
        async with aiohttp.ClientSession() as http:
            connector = RedditConnector("bare", RedditOptions(**fields), http)
            try:
                return await connector.fetch(None)
            finally:
                await connector.aclose()

    with pytest.raises(ConnectorError, match="refused to connect to 127.0.0.1, a loopback address"):
        await fetch(replay.base_url.replace("127.0.0.1", "127.1"))
    assert replay.requests == []
    assert (await fetch(replay.base_url)).posts  # an IP literal in its own options is the writer's choice
