"""Many sources on 127.0.0.1 and worker processes to run against them (the worker tests and bench/bench_workers.py).

``FeedFarm`` serves N RSS feeds from one aiohttp server, each answering after ``delay`` seconds (an
I/O-bound source, as a slow blog is), and a webhook receiver (``/hook``) that answers after
``hook_delay`` seconds and records every delivery by its Idempotency-Key. Posts are complaints,
questions and neutral reports in turn; their authors recur across feeds, as people comment on
several blogs, so workers polling different sources meet the same customers at the same time.
``Workers`` starts, kills and stops real ``socialcrm worker`` processes, and tells which process
holds which job.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy import text

from socialcrm.db import Database

COMPLAINT = "Die Lieferung ist nie angekommen, ich bin enttäuscht und verärgert. Bestellung {n}."
QUESTION = "Wie kann ich die Maschine entkalken? Frage {n}"
NEUTRAL = "Bericht über die Messe, Nummer {n}."
AUTHORS = 37  # people, each writing on many feeds

RULES = """
[[rules]]
name = "complaint-ticket"
order = 10
[rules.when]
sentiment = ["negative"]
query = 'lieferung'
[[rules.then]]
action = "open_ticket"
team = "service"
priority = "high"

[[rules]]
name = "question-reply"
order = 20
[rules.when]
query = 'wie'
[[rules.then]]
action = "draft_reply"
template = "q"

[templates.q]
de = "Hallo {{ author }}, danke für die Frage!"
en = "Hi {{ author }}, thanks for the question!"
"""


def kind_of(feed: int, entry: int) -> str:
    """What entry ``entry`` of feed ``feed`` is: a complaint, a question or neutral."""
    return ("complaint", "question", "neutral")[(feed + entry) % 3]


def make_feed(feed: int, entries: int, first: int = 0) -> bytes:
    """An RSS 2.0 document with ``entries`` items, numbered from ``first``."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    texts = {"complaint": COMPLAINT, "question": QUESTION, "neutral": NEUTRAL}
    items = "".join(
        f"<item><title>P{feed}-{i}</title><link>https://s{feed}.example/p/{i}</link>"
        f'<guid isPermaLink="false">s{feed}-{i}</guid>'
        f"<pubDate>{format_datetime(start + timedelta(minutes=i))}</pubDate>"
        f"<dc:creator>person{(feed * 7 + i) % AUTHORS}</dc:creator>"
        f"<description>{texts[kind_of(feed, i)].format(n=feed * 1000 + i)}</description></item>"
        for i in range(first, first + entries)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>F{feed}</title><link>https://s{feed}.example/</link><description>d</description>"
        f"{items}</channel></rss>"
    ).encode()


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


@dataclass(frozen=True)
class Delivery:
    """One webhook request the receiver got: its Idempotency-Key, when it came and when it was answered."""

    key: str
    arrived: float
    answered: float


@dataclass
class FeedFarm:
    """``feeds`` RSS feeds of ``entries`` posts each on 127.0.0.1, each answering after ``delay`` seconds."""

    feeds: int
    entries: int
    delay: float = 0.0
    requests: int = 0
    _runner: web.AppRunner | None = None
    port: int = 0
    hook_delay: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    hooks_in_flight: int = 0
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
        return f"http://127.0.0.1:{self.port}/f/{feed}.xml"

    async def start(self) -> None:
        """Serve on a free port."""
        self._bodies = {n: make_feed(n, self.entries) for n in range(self.feeds)}

        async def feed(request: web.Request) -> web.Response:
            self.requests += 1
            await asyncio.sleep(self.delay)
            body = self._bodies[int(request.match_info["n"])]
            return web.Response(body=body, content_type="application/rss+xml")

        async def hook(request: web.Request) -> web.Response:
            loop = asyncio.get_running_loop()
            arrived = loop.time()
            await request.read()
            self.hooks_in_flight += 1
            try:
                await asyncio.sleep(self.hook_delay)
            finally:
                self.hooks_in_flight -= 1
            self.deliveries.append(Delivery(request.headers.get("Idempotency-Key", ""), arrived, loop.time()))
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/f/{n}.xml", feed)
        app.router.add_post("/hook", hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def next_round(self) -> None:
        """Every feed now holds ``entries`` posts none of them held before (as a site that moved on)."""
        self.round += 1
        self._bodies = {n: make_feed(n, self.entries, first=self.round * self.entries) for n in range(self.feeds)}

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


def write_config(
    folder: Path,
    database_url: str,
    sources: str,
    *,
    concurrency: int,
    stalled_after: str = "3s",
    outbox_lease: str = "2m",
    extra: str = "",
) -> Path:
    """A worker config: the PostgreSQL database, the word-list classifier, the demo rules, ``sources``."""
    path = folder / "socialcrm.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n'
        '[web]\nenabled = false\nhost = "127.0.0.1"\nport = 0\n'
        '[classifier]\nkind = "lexicon"\n'
        f'[daemon]\nshutdown_grace = "10s"\noutbox_lease = "{outbox_lease}"\n'
        f'[workers]\nconcurrency = {concurrency}\nstalled_after = "{stalled_after}"\n'
        f"{extra}{sources}{RULES}"
    )
    return path


@dataclass
class Workers:
    """Real ``socialcrm worker`` processes on one config; each logs to its own file in ``folder``."""

    folder: Path
    started: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start(self, count: int = 1, *args: str) -> list[asyncio.subprocess.Process]:
        """Start ``count`` more workers."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
        new = []
        for _ in range(count):
            log = open(self.folder / f"worker-{len(self.started)}.log", "ab")  # noqa: SIM115 - the process owns it
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "socialcrm",
                "--config",
                str(self.folder / "socialcrm.toml"),
                "worker",
                *args,
                cwd=self.folder,
                env=env,
                stdout=log,
                stderr=log,
            )
            log.close()
            self.started.append(proc)
            new.append(proc)
        return new

    def alive(self) -> list[asyncio.subprocess.Process]:
        """The workers still running."""
        return [p for p in self.started if p.returncode is None]

    async def kill(self, proc: asyncio.subprocess.Process) -> None:
        """kill -9: no chance to finish anything."""
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async def stop_all(self, timeout: float = 60) -> list[int]:
        """SIGTERM every live worker; return their exit codes."""
        alive = self.alive()
        for proc in alive:
            proc.send_signal(signal.SIGTERM)
        return [await asyncio.wait_for(p.wait(), timeout) for p in alive]

    def log(self) -> str:
        """Every worker's log, one after the other."""
        return "".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("worker-*.log")))


def running_jobs_by_pid(db: Database, task: str) -> dict[int, int]:
    """How many jobs of ``task`` each worker process (by pid) is running now."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.name, count(*) FROM procrastinate_jobs j JOIN workerprocess p ON p.id = j.worker_id "
                "WHERE j.status = 'doing' AND j.task_name = :task GROUP BY p.name"
            ),
            {"task": task},
        ).all()
    return {int(name.rsplit(":", 1)[1]): count for name, count in rows}


def scalar(db: Database, sql: str) -> int:
    """One number from the database."""
    with db.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


async def wait_for(predicate, timeout: float, every: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it holds or ``timeout`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(every)
    return bool(predicate())


def pids(procs: Sequence[asyncio.subprocess.Process]) -> set[int]:
    """The process ids of ``procs``."""
    return {p.pid for p in procs}
