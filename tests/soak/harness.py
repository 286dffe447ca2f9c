"""What the fault suite drives: the real daemon as a process, the platforms it talks to, and the census.

- ``Daemon``: ``python -m socialcrm run`` in its own process (output drained through a pipe into a
  log file, so a full disk or a file-size limit never blocks its logging), started, killed with
  SIGKILL, stopped with SIGTERM; ``poll_once`` runs ``socialcrm poll --once`` beside it.
- ``World``: the replay server's content: feeds whose entries are published round by round (with
  answer delays, so a kill lands mid-poll), a Mastodon hashtag of questions the rules draft replies
  to, and the bot's Mastodon account that the outbox posts to (tests/replay/accounts.py), which
  can hold its answers back and post elsewhere between a kill and the retry.
- ``census``: what a user relies on, counted from the database and the platform: ``lost`` (a
  published post not stored, an approved reply never posted), ``doubled`` (a post stored twice, a
  ticket or draft twice for one thread, a reply posted twice) and ``left_without_actions`` (a
  complaint without its ticket, a question without its draft, an approved reply whose outbox row
  never finished).
"""

from __future__ import annotations

import asyncio
import copy
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func
from sqlmodel import col, select

from socialcrm.db import Database
from socialcrm.models import Mention, OutboxItem, ReplyDraft, Ticket, TicketMention
from socialcrm.services import drafts
from tests.connectors.test_mastodon import statuses as recorded_statuses
from tests.feeds import QUESTION, RULES, Entry, entry_text, make_feed
from tests.replay.accounts import MastodonAccount
from tests.replay.emulators import MastodonTimeline
from tests.replay_server import ReplayServer

ROOT = Path(__file__).resolve().parents[2]
FULL = os.environ.get("SOCIALCRM_SOAK") == "full"
TOKEN_ENV = "SOAK_MASTO_TOKEN"


@dataclass
class Feeds:
    """RSS feeds on the replay server whose entries appear round by round; authors recur across feeds."""

    count: int
    delay: float = 0.25  # feed f answers after delay * (f % 6) seconds
    published: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.published = [0] * self.count

    def publish(self, per_feed: int) -> None:
        """``per_feed`` new entries appear in every feed."""
        self.published = [n + per_feed for n in self.published]

    def body(self, feed: int) -> bytes:
        """The feed now: its published entries, newest first, by five customers known by e-mail."""
        entries = [
            Entry(author=f"Kunde {n % 5}", text=entry_text(feed, n), email=f"kunde{n % 5}@example.com")
            for n in range(self.published[feed])
        ]
        return make_feed(feed, entries, newest_first=True)

    def install(self, replay: ReplayServer) -> None:
        for feed in range(self.count):

            async def serve(request: web.Request, feed: int = feed) -> web.Response:
                await asyncio.sleep(self.delay * (feed % 6))
                return web.Response(body=self.body(feed), content_type="application/rss+xml")

            replay.add_handler("GET", f"/f{feed}.xml", serve)

    def expected(self) -> set[tuple[str, str]]:
        """(source, external id) of every published entry."""
        return {(f"feed-{f:02d}", f"s{f}-{n}") for f in range(self.count) for n in range(self.published[f])}


@dataclass
class Mastodon:
    """A hashtag of questions that the rules draft replies to, and the bot's account the replies go to."""

    replay: ReplayServer
    questions: int

    def __post_init__(self) -> None:
        template = recorded_statuses("test_public_tl", "/api/v1/timelines/public")[0]
        self.statuses = []
        for n in range(self.questions):
            status = copy.deepcopy(template)
            status_id = str(117020593378945190 + 1000 * n)
            status.update(id=status_id, content=f"<p>{QUESTION.format(n=90_000 + n)}</p>", in_reply_to_id=None)
            status["url"] = f"{self.replay.base_url}/@asker{n}/{status_id}"
            status["account"] = {**status["account"], "acct": f"asker{n}", "username": f"asker{n}"}
            self.statuses.append(status)
        self.account = MastodonAccount(self.replay.base_url)

    def install(self) -> None:
        timeline = MastodonTimeline(self.statuses)
        self.replay.add_handler("GET", "/api/v1/timelines/tag/acme", timeline.handle)
        self.account.install(self.replay)

    def expected(self) -> set[tuple[str, str]]:
        return {("toots", s["id"]) for s in self.statuses}


def write_config(folder: Path, database_url: str, base_url: str, feeds: int, *, extra: str = "") -> Path:
    """The daemon's config: feeds, the Mastodon hashtag, the rules; a short outbox lease (the suite waits on it)."""
    lines = [
        f'[database]\nurl = "{database_url}"',
        "[web]\nenabled = false",
        '[classifier]\nkind = "lexicon"',
        '[daemon]\noutbox_interval = "1s"\noutbox_lease = "4s"\nshutdown_grace = "10s"',
    ]
    for feed in range(feeds):
        lines.append(
            f'[[sources]]\nname = "feed-{feed:02d}"\ntype = "feed"\nurl = "{base_url}/f{feed}.xml"\ninterval = "1h"'
        )
    lines.append(
        f'[[sources]]\nname = "toots"\ntype = "mastodon"\nbase_url = "{base_url}"\nhashtags = ["acme"]\n'
        f'access_token_env = "{TOKEN_ENV}"\ninterval = "1h"'
    )
    path = folder / "socialcrm.toml"
    path.write_text("\n".join(lines) + "\n" + extra + RULES)
    return path


class Daemon:
    """The real daemon in its own process."""

    def __init__(self, config: Path, log: Path, *, name: str = "daemon") -> None:
        self.config = config
        self.log = log
        self.name = name
        self.process: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
        self.env[TOKEN_ENV] = "soak-token"

    async def __aenter__(self) -> Daemon:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """A test that fails half-way leaves no daemon running (it would talk to the next test's servers)."""
        if self.running:
            await self.kill()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "socialcrm",
            "--config",
            str(self.config),
            "run",
            cwd=self.config.parent,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._drain = asyncio.create_task(self._copy_output(self.process))

    async def _copy_output(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        with self.log.open("ab") as out:
            out.write(f"--- {self.name} started (pid {process.pid})\n".encode())
            while line := await process.stdout.readline():
                out.write(line)
                out.flush()

    async def kill(self) -> None:
        """kill -9."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        if self._drain is not None:
            await self._drain

    async def stop(self, timeout: float = 60) -> int:
        """SIGTERM, and the exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._drain is not None:
            await self._drain
        return code

    async def poll_once(
        self, *args: str, preexec: Callable[[], None] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``socialcrm poll --once`` beside the daemon (another process on the same database)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "socialcrm",
            "--config",
            str(self.config),
            "poll",
            "--once",
            *args,
            cwd=self.config.parent,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=preexec,
        )
        out, _ = await process.communicate()
        text = out.decode(errors="replace")
        with self.log.open("a") as log:
            log.write(f"--- poll --once beside {self.name} (exit {process.returncode})\n{text}")
        return subprocess.CompletedProcess(["poll"], process.returncode or 0, text)


async def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


def count_mentions(database_url: str) -> int:
    """Stored mentions, or 0 while the schema is not there yet or the database is busy."""
    db = Database(database_url)
    try:
        with db.read() as session:
            return int(session.exec(select(func.count()).select_from(Mention)).one())
    except Exception:  # noqa: BLE001 - the daemon may hold the database right now
        return 0
    finally:
        db.dispose()


def approve_next(database_url: str, count: int = 1) -> list[int]:
    """Approve the oldest pending reply drafts of the Mastodon source, as a person would."""
    db = Database(database_url)
    try:
        with db.write() as session:
            pending = session.exec(
                select(ReplyDraft)
                .join(Mention, col(Mention.id) == col(ReplyDraft.mention_id))
                .where(ReplyDraft.status == "pending", Mention.source == "toots")
                .order_by(col(ReplyDraft.id))
                .limit(count)
            ).all()
            ids = [d.id for d in pending if d.id is not None]
            for draft_id in ids:
                drafts.approve(session, draft_id, user="soak")
            return ids
    finally:
        db.dispose()


def reply_outcome(database_url: str, draft_id: int) -> tuple[str, str]:
    """The outbox status of a draft's reply and the external id of the post it answers."""
    db = Database(database_url)
    try:
        with db.read() as session:
            draft = session.get(ReplyDraft, draft_id)
            assert draft is not None
            mention = session.get(Mention, draft.mention_id)
            item = session.exec(select(OutboxItem).where(OutboxItem.draft_id == draft_id)).first()
            assert mention is not None
            return (item.status if item else "missing"), mention.external_id
    finally:
        db.dispose()


def pending_drafts(database_url: str) -> int:
    db = Database(database_url)
    try:
        with db.read() as session:
            rows = session.exec(
                select(func.count())
                .select_from(ReplyDraft)
                .join(Mention, col(Mention.id) == col(ReplyDraft.mention_id))
                .where(ReplyDraft.status == "pending", Mention.source == "toots")
            ).one()
            return int(rows)
    except Exception:  # noqa: BLE001 - the daemon may be creating the schema right now
        return 0
    finally:
        db.dispose()


def replies_done(database_url: str, draft_ids: list[int]) -> bool:
    """The replies of these approved drafts are sent (their outbox rows done)."""
    db = Database(database_url)
    try:
        with db.read() as session:
            done = session.exec(
                select(func.count())
                .select_from(OutboxItem)
                .where(col(OutboxItem.draft_id).in_(draft_ids), col(OutboxItem.status) == "done")
            ).one()
            return int(done) == len(draft_ids)
    except Exception:  # noqa: BLE001 - the database may be restarting right now
        return False
    finally:
        db.dispose()


def replies_settled(database_url: str) -> bool:
    """Every approved reply is sent (its outbox row done), or failed for a person to look at."""
    db = Database(database_url)
    try:
        with db.read() as session:
            open_rows = session.exec(
                select(func.count())
                .select_from(OutboxItem)
                .where(col(OutboxItem.kind) == "reply", col(OutboxItem.status).in_(("pending", "sending")))
            ).one()
            return int(open_rows) == 0
    except Exception:  # noqa: BLE001 - the daemon may hold the database right now
        return False
    finally:
        db.dispose()


@dataclass
class Census:
    """The three counts the suite promises to keep at zero, and what made them up."""

    lost: int = 0
    doubled: int = 0
    left_without_actions: int = 0
    needs_a_person: int = 0
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, amount: int, why: str) -> None:
        if amount:
            setattr(self, kind, getattr(self, kind) + amount)
            self.notes.append(f"{kind} +{amount}: {why}")

    def line(self, scenario: str, **facts: Any) -> str:
        detail = " ".join(f"{k}={v}" for k, v in facts.items())
        return (
            f"{scenario}: {detail} lost={self.lost} doubled={self.doubled} "
            f"left_without_actions={self.left_without_actions} needs_a_person={self.needs_a_person}"
        )


def census(database_url: str, expected_posts: set[tuple[str, str]], mastodon: Mastodon | None) -> Census:
    """Count what was lost, doubled or left without its actions."""
    result = Census()
    db = Database(database_url)
    try:
        with db.read() as session:
            mentions = session.exec(select(Mention)).all()
            stored = [(m.source, m.external_id) for m in mentions]
            result.add("doubled", len(stored) - len(set(stored)), "posts stored twice")
            missing = expected_posts - set(stored)
            result.add("lost", len(missing), f"posts never stored, e.g. {sorted(missing)[:3]}")
            ticketed = set(session.exec(select(TicketMention.mention_id)).all())
            draft_rows = session.exec(select(ReplyDraft)).all()
            drafted: dict[int, int] = {}
            for draft in draft_rows:
                drafted[draft.mention_id] = drafted.get(draft.mention_id, 0) + 1
            complaints = [m for m in mentions if "Lieferung" in (m.text or "")]
            questions = [m for m in mentions if "Wie kann" in (m.text or "")]
            no_ticket = [m.external_id for m in complaints if m.id not in ticketed]
            no_draft = [m.external_id for m in questions if m.id not in drafted]
            result.add("left_without_actions", len(no_ticket), f"complaints without a ticket: {no_ticket[:3]}")
            result.add("left_without_actions", len(no_draft), f"questions without a draft: {no_draft[:3]}")
            result.add("doubled", sum(n - 1 for n in drafted.values() if n > 1), "two drafts for one post")
            per_thread = session.exec(
                select(Ticket.thread_key, func.count()).group_by(col(Ticket.thread_key)).having(func.count() > 1)
            ).all()
            result.add("doubled", sum(n - 1 for _, n in per_thread), "two tickets for one thread")
            if mastodon is not None:
                by_id = {m.id: m for m in mentions}
                items = {i.draft_id: i for i in session.exec(select(OutboxItem)).all() if i.draft_id is not None}
                for draft in draft_rows:
                    mention = by_id.get(draft.mention_id)
                    if mention is None or mention.source != "toots" or draft.status in ("pending", "rejected"):
                        continue
                    posted = len(mastodon.account.replies_to(mention.external_id))
                    if posted > 1:
                        result.add("doubled", posted - 1, f"reply to {mention.external_id} posted {posted} times")
                    item = items.get(draft.id)
                    if draft.status == "failed" and item is not None and (item.result or {}).get("lookup"):
                        result.needs_a_person += 1
                        continue
                    if posted == 0:
                        result.add("lost", 1, f"approved reply to {mention.external_id} never posted")
                    if draft.status != "sent" or item is None or item.status != "done":
                        state = item.status if item else "missing"
                        result.add("left_without_actions", 1, f"draft {draft.id} is {draft.status}, outbox {state}")
    finally:
        db.dispose()
    return result


def jitter(low: float, high: float) -> float:
    """A random pause, so kills land at every point of a poll or a send."""
    return random.uniform(low, high)
