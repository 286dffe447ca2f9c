"""Shared pieces of the feed connector tests: the fixture folder, a session, serving recorded files."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from connectors._http import make_session
from connectors.feed import FeedConnector, FeedOptions
from tests.replay_server import Canned, ReplayServer

FEEDS = Path(__file__).resolve().parent.parent / "replay" / "feeds"
_HEADER_LINE = re.compile(rb"^Header:\s*([\w-]+):[ \t]*([^\r\n]*)$", re.MULTILINE)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The daemon's kind of shared session, with short timeouts for tests."""
    session = make_session(timeout=aiohttp.ClientTimeout(total=10, connect=5))
    try:
        yield session
    finally:
        await session.close()


def feed_bytes(relative: str) -> bytes:
    return (FEEDS / relative).read_bytes()


def corpus_headers(body: bytes) -> dict[str, str]:
    """The HTTP headers a feedparser corpus file asks its server to send (its ``Header:`` lines)."""
    head = body[:2000]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[:2] in (b"<\x00", b"\x00<"):
        return {}
    return {m.group(1).decode(): m.group(2).decode("latin-1").strip() for m in _HEADER_LINE.finditer(head)}


def serve(replay: ReplayServer, path: str, relative: str, content_type: str = "application/xml", **headers: str) -> str:
    """Serve a recorded feed file at ``path`` (with its corpus headers, if any) and return its URL."""
    body = feed_bytes(relative)
    sent = {"Content-Type": content_type, **corpus_headers(body), **headers}
    replay.add("GET", path, Canned(200, body, sent))
    return replay.url(path)


def cassette_response(name: str, status: int) -> Canned:
    """The first response with ``status`` in a recorded prawcore (betamax) cassette under http/."""
    data: dict[str, Any] = json.loads((FEEDS / "http" / name).read_text())
    for interaction in data["interactions"]:
        response = interaction["response"]
        if response["status"]["code"] == status:
            headers = {
                k.title(): v[0] for k, v in response["headers"].items() if k.lower() in ("content-type", "retry-after")
            }
            return Canned(status, response["body"].get("string", "").encode(), headers)
    raise LookupError(f"{name} has no {status} response")


def make_feed(http: aiohttp.ClientSession, url: str, name: str = "acme-blog", **options: Any) -> FeedConnector:
    options.setdefault("timeout", 5.0)
    options.setdefault("parse_timeout", 10.0)
    return FeedConnector(name, FeedOptions(url=url, **options), http)
