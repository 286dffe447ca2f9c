"""Feeds for benchmarks: RSS bodies of generated posts, served from 127.0.0.1..127.0.0.50 by a child process.

Several loopback addresses, so the client's per-host connection limit behaves as it would with many
real sites. Every feed answers 304 to the ETag it gave, so a second pass measures the unchanged path.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.synchronize
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

TEXTS = [
    "Meine Lieferung ist seit Tagen überfällig, sehr ärgerlich. Bestellung {n}.",
    "Wie kann ich die Maschine entkalken? Danke für Tipps.",
    "Toller Service, schnelle Antwort, ich bin begeistert!",
    "The delivery never arrived and support does not answer. Disappointed.",
    "How do I reset the grinder settings?",
    "Great coffee, lovely crema, would recommend to anyone.",
    "Neutraler Bericht über die Messe in Köln, viele Aussteller.",
    "Release notes for version {n} are out today.",
]
HOSTS = 50
ETAG = '"bench-v1"'


@dataclass(frozen=True)
class Entry:
    """One post of a feed."""

    author: str
    text: str


def plain_entries(feed: int, entries: int) -> list[Entry]:
    """The first release's benchmark posts: eight texts in turn, by 17 authors."""
    return [
        Entry(author=f"author{i % 17}", text=TEXTS[(feed + i) % len(TEXTS)].format(n=feed * 1000 + i))
        for i in range(entries)
    ]


def make_feed(feed: int, entries: Sequence[Entry]) -> bytes:
    """An RSS 2.0 body with these entries, newest last, each with its own guid."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    items = []
    for i, entry in enumerate(entries):
        when = format_datetime(now + timedelta(minutes=feed + i))
        creator = escape(entry.author)
        items.append(
            f"<item><title>Post {feed}-{i}</title><link>https://site{feed}.example/p/{i}</link>"
            f'<guid isPermaLink="false">site{feed}-post-{i}</guid><pubDate>{when}</pubDate>'
            f"<dc:creator>{creator}</dc:creator><description>{escape(entry.text)}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>Feed {feed}</title><link>https://site{feed}.example/</link><description>bench</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def feed_url(feed: int, port: int) -> str:
    """Where feed number ``feed`` is served."""
    return f"http://127.0.0.{feed % HOSTS + 1}:{port}/feed/{feed}.xml"


def _serve(bodies: list[bytes], port: int, ready: multiprocessing.synchronize.Event) -> None:
    async def handler(request: web.Request) -> web.Response:
        number = int(request.match_info["n"])
        if request.headers.get("If-None-Match") == ETAG:
            return web.Response(status=304, headers={"ETag": ETAG})
        return web.Response(body=bodies[number], content_type="application/rss+xml", headers={"ETag": ETAG})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}.xml", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in range(HOSTS):
            await web.TCPSite(runner, f"127.0.0.{host + 1}", port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


@contextmanager
def serving(bodies: list[bytes], port: int) -> Iterator[None]:
    """Serve ``bodies`` (feed number = index) until the block ends."""
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(bodies, port, ready), daemon=True)
    server.start()
    if not ready.wait(60):
        server.terminate()
        raise SystemExit("the feed server did not start within 60 s")
    try:
        yield
    finally:
        server.terminate()
        server.join(10)
