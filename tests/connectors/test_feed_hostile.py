"""Hostile XML (billion laughs, quadratic blowup, XXE, cyclic and external entities) served as feeds."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from connectors.base import MalformedResponseError
from tests.connectors.test_feed_helpers import FEEDS, http, make_feed, serve
from tests.replay_server import ReplayServer

__all__ = ["http"]

HOSTILE = sorted(p.name for p in (FEEDS / "hostile").glob("*.xml"))
CLEAR_REASONS = (
    "entity expansion exceeds 1,000,000 characters",
    "not a well-formed feed",
    "not a feed: the document's root element is",
    "not a feed: got application/rss+xml (an HTML page)",
)


def test_every_hostile_file_is_here() -> None:
    assert len(HOSTILE) == 11


@pytest.mark.parametrize("name", HOSTILE)
async def test_hostile_xml_fails_fast_with_a_clear_error(
    replay: ReplayServer, http: aiohttp.ClientSession, name: str
) -> None:
    url = serve(replay, "/feed", f"hostile/{name}", "application/rss+xml")
    with pytest.raises(MalformedResponseError) as caught:
        # A parse that ran away would end in "parsing took longer than 10 s" or a dead worker instead.
        await make_feed(http, url, parse_timeout=10.0).fetch(None)
    message = str(caught.value)
    assert any(reason in message for reason in CLEAR_REASONS), message
    assert url in message
    assert "took longer" not in message and "process died" not in message


@pytest.mark.parametrize("name", ["classic_xxe_etc_passwd.xml", "classic_xxe.xml", "external_file.xml", "external.xml"])
async def test_external_entities_are_never_loaded(replay: ReplayServer, http: aiohttp.ClientSession, name: str) -> None:
    url = serve(replay, "/feed", f"hostile/{name}", "application/rss+xml")
    with pytest.raises(MalformedResponseError) as caught:
        await make_feed(http, url).fetch(None)
    message = str(caught.value)
    assert "entity declaration(s) of the DOCTYPE" in message and "never loaded" in message
    passwd_line = Path("/etc/passwd").read_text().splitlines()[0]  # what an XXE would leak
    assert passwd_line and passwd_line not in message and "root:x:" not in message
    assert [r.path for r in replay.requests] == ["/feed"]  # nothing else was fetched from anywhere


async def test_quadratic_blowup_names_the_entity(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    url = serve(replay, "/feed", "hostile/quadratic.xml")
    with pytest.raises(MalformedResponseError, match=r"&a; is used too often: an XML bomb\?"):
        await make_feed(http, url).fetch(None)


async def test_a_hostile_source_does_not_stop_the_others(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    good = make_feed(http, serve(replay, "/good", "real-world/heise.atom"), name="heise")
    bombs = [
        make_feed(http, serve(replay, f"/bomb-{name}", f"hostile/{name}"), name=name)
        for name in ("xmlbomb.xml", "quadratic.xml", "billion_laughs.xml", "cyclic.xml")
    ]
    results = await asyncio.gather(good.fetch(None), *(b.fetch(None) for b in bombs), return_exceptions=True)
    first, *failures = results
    assert not isinstance(first, BaseException) and len(first.posts) == 15
    assert all(isinstance(failure, MalformedResponseError) for failure in failures)
