"""Generated feeds for the tests and the benchmarks: post texts, the rules that act on them, RSS bodies, servers.

One home for what the pipeline, worker, soak and benchmark suites all serve: posts that are
complaints, questions and neutral reports in turn (``entry_text``, ``kind_of``); ``RULES``, which open a
ticket for a complaint and draft a reply to a question; ``make_feed``, the one RSS 2.0 builder; and
two servers on 127.0.0.1: ``FeedFarm`` in the calling process (a per-request delay, as a slow blog
answers, and a webhook receiver that records every delivery), and ``serving`` in a child process on
127.0.0.1..127.0.0.50 with ETags (the benchmarks: the serving costs the measured process nothing, and
the client's per-host connection limit behaves as with many real sites).

It lives under tests/ because most of its users are tests; bench/ scripts import it from the
repository root as they import bench/crm_data.py's generators the other way round. Neither folder is
packaged (pyproject.toml ships socialcrm, connectors and classifiers only), so both run from a clone.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.synchronize
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

COMPLAINT = "Die Lieferung ist nie angekommen, ich bin enttäuscht und verärgert. Bestellung {n}."
QUESTION = "Wie kann ich die Maschine entkalken? Frage {n}"
NEUTRAL = "Bericht über die Messe, Nummer {n}."
AUTHORS = 37  # people, each writing on many feeds
# The benchmarks' mix, German and English (the first release's bench posts).
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
RULES = """
[[rules]]
name = "complaint-ticket"
order = 10
[rules.when]
sentiment = ["negative"]
query = '(lieferung OR delivery OR "never arrived")'
[[rules.then]]
action = "open_ticket"
team = "service"
priority = "high"

[[rules]]
name = "question-reply"
order = 20
[rules.when]
query = 'wie OR how'
[[rules.then]]
action = "draft_reply"
template = "question"

[templates.question]
de = "Hallo {{ author }}, danke für Ihre Frage!"
en = "Hi {{ author }}, thanks for your question!"
"""
WEBHOOK_RULES = """
[[webhooks]]
name = "ops"
url = "{url}"

[[rules]]
name = "complaint-notify"
order = 5
[rules.when]
sentiment = ["negative"]
query = 'lieferung'
[[rules.then]]
action = "notify"
webhook = "ops"
message = "complaint"
"""
HOSTS = 50  # loopback addresses ``serving`` listens on
ETAG = '"bench-v1"'


def kind_of(feed: int, entry: int) -> str:
    """What entry ``entry`` of feed ``feed`` is: a complaint, a question or neutral."""
    return ("complaint", "question", "neutral")[(feed + entry) % 3]


def entry_text(feed: int, entry: int) -> str:
    """The text of entry ``entry`` of feed ``feed``: its kind's text, made unique by its number."""
    texts = {"complaint": COMPLAINT, "question": QUESTION, "neutral": NEUTRAL}
    return texts[kind_of(feed, entry)].format(n=feed * 1000 + entry)


@dataclass(frozen=True)
class Entry:
    """One post of a feed: its author (with an e-mail, RSS's ``<author>``; without, ``<dc:creator>``) and text."""

    author: str
    text: str
    email: str | None = None


def farm_entries(feed: int, count: int, first: int = 0) -> list[Entry]:
    """Entries ``first`` .. ``first + count - 1`` of a farm feed, by authors who write on many feeds."""
    return [
        Entry(author=f"person{(feed * 7 + i) % AUTHORS}", text=entry_text(feed, i)) for i in range(first, first + count)
    ]


def plain_entries(feed: int, entries: int) -> list[Entry]:
    """The benchmarks' posts: the eight ``TEXTS`` in turn, by 17 authors."""
    return [
        Entry(author=f"author{i % 17}", text=TEXTS[(feed + i) % len(TEXTS)].format(n=feed * 1000 + i))
        for i in range(entries)
    ]


def make_feed(feed: int, entries: Sequence[Entry], *, first: int = 0, newest_first: bool = False) -> bytes:
    """An RSS 2.0 body; entry i (numbered from ``first``) has guid ``s{feed}-{i}`` and is published i minutes in."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = []
    for i, entry in enumerate(entries, start=first):
        if entry.email is not None:
            author = f"<author>{escape(entry.email)} ({escape(entry.author)})</author>"
        else:
            author = f"<dc:creator>{escape(entry.author)}</dc:creator>"
        items.append(
            f"<item><title>P{feed}-{i}</title><link>https://s{feed}.example/p/{i}</link>"
            f'<guid isPermaLink="false">s{feed}-{i}</guid>'
            f"<pubDate>{format_datetime(start + timedelta(minutes=i))}</pubDate>"
            f"{author}<description>{escape(entry.text)}</description></item>"
        )
    if newest_first:
        items.reverse()
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>F{feed}</title><link>https://s{feed}.example/</link><description>d</description>"
        f"{''.join(items)}</channel></rss>"
    ).encode()


def feed_routes(
    app: web.Application, body: Callable[[int], bytes], *, delay: float = 0.0, etag: str | None = None
) -> None:
    """Serve ``body(n)`` at ``/feed/{n}.xml``, each answer after ``delay`` seconds; 304 to ``etag`` when given."""

    async def handler(request: web.Request) -> web.Response:
        if delay:
            await asyncio.sleep(delay)
        headers = {"ETag": etag} if etag is not None else {}
        if etag is not None and request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(
            body=body(int(request.match_info["n"])), content_type="application/rss+xml", headers=headers
        )

    app.router.add_get("/feed/{n}.xml", handler)


@dataclass(frozen=True)
class Delivery:
    """One webhook request the receiver got: its Idempotency-Key, when it came and when it was answered.

    ``sender`` is the process id of the client, where the farm was given ``sender_of`` (else 0).
    """

    key: str
    arrived: float
    answered: float
    sender: int = 0


@dataclass
class FeedFarm:
    """``feeds`` RSS feeds of ``entries`` posts each on 127.0.0.1, each answering after ``delay`` seconds.

    A webhook receiver at ``/hook`` answers after ``hook_delay`` seconds and records every delivery.
    """

    feeds: int
    entries: int
    delay: float = 0.0
    requests: int = 0
    _runner: web.AppRunner | None = None
    port: int = 0
    hook_delay: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    hooks_in_flight: int = 0
    sender_of: Callable[[int], int] | None = None  # a webhook client's port -> its process id
    _bodies: dict[int, bytes] = field(default_factory=dict)
    round: int = 0

    @property
    def total(self) -> int:
        """Posts in all feeds together."""
        return self.feeds * self.entries

    def expected(self, kind: str) -> int:
        """How many posts of ``kind`` the feeds hold."""
        return sum(1 for f in range(self.feeds) for i in range(self.entries) if kind_of(f, i) == kind)

    def url(self, feed: int) -> str:
        """The URL of feed ``feed``."""
        return f"http://127.0.0.1:{self.port}/feed/{feed}.xml"

    def _make_bodies(self) -> dict[int, bytes]:
        first = self.round * self.entries
        return {n: make_feed(n, farm_entries(n, self.entries, first), first=first) for n in range(self.feeds)}

    async def start(self) -> None:
        """Serve on a free port."""
        self._bodies = self._make_bodies()

        def body(feed: int) -> bytes:
            self.requests += 1
            return self._bodies[feed]

        async def hook(request: web.Request) -> web.Response:
            loop = asyncio.get_running_loop()
            arrived = loop.time()
            peer = request.transport.get_extra_info("peername") if request.transport is not None else None
            sender = self.sender_of(peer[1]) if self.sender_of is not None and peer else 0
            await request.read()
            self.hooks_in_flight += 1
            try:
                await asyncio.sleep(self.hook_delay)
            finally:
                self.hooks_in_flight -= 1
            key = request.headers.get("Idempotency-Key", "")
            self.deliveries.append(Delivery(key, arrived, loop.time(), sender))
            return web.Response(text="ok")

        app = web.Application()
        feed_routes(app, body, delay=self.delay)
        app.router.add_post("/hook", hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def next_round(self) -> None:
        """Every feed now holds ``entries`` posts none of them held before (as a site that moved on)."""
        self.round += 1
        self._bodies = self._make_bodies()

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    def webhook_rules(self) -> str:
        """A ``[[webhooks]]`` entry for ``/hook`` and a rule that notifies it of every complaint."""
        return WEBHOOK_RULES.format(url=f"http://127.0.0.1:{self.port}/hook")

    def sources(self, interval: str = "1h") -> str:
        """The ``[[sources]]`` of every feed."""
        return "".join(
            f'[[sources]]\nname = "feed-{n:03d}"\ntype = "feed"\nurl = "{self.url(n)}"\ninterval = "{interval}"\n'
            for n in range(self.feeds)
        )


def feed_url(feed: int, port: int) -> str:
    """Where ``serving`` serves feed number ``feed``."""
    return f"http://127.0.0.{feed % HOSTS + 1}:{port}/feed/{feed}.xml"


def _serve(bodies: list[bytes], port: int, ready: multiprocessing.synchronize.Event) -> None:
    async def main() -> None:
        app = web.Application()
        feed_routes(app, bodies.__getitem__, etag=ETAG)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in range(HOSTS):
            await web.TCPSite(runner, f"127.0.0.{host + 1}", port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


@contextmanager
def serving(bodies: list[bytes], port: int) -> Iterator[None]:
    """Serve ``bodies`` (feed number = index) from a child process until the block ends."""
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
