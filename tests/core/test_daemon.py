"""The daemon as a process: SIGTERM finishes and exits 0; kill -9 mid-poll then restart loses and doubles nothing."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import aiohttp
from sqlalchemy import func
from sqlmodel import select

from socialcrm.db import Database
from socialcrm.models import Mention, ReplyDraft, Ticket
from tests.replay_server import Canned, ReplayServer

FEEDS = 24
ENTRIES = 40
COMPLAINT = "Die Lieferung ist nie angekommen, ich bin enttäuscht und verärgert. Bestellung {n}."
QUESTION = "Wie kann ich die Maschine entkalken? Frage {n}"
NEUTRAL = "Bericht über die Messe, Nummer {n}."


def entry_text(feed: int, i: int) -> str:
    return (COMPLAINT, QUESTION, NEUTRAL)[(feed + i) % 3].format(n=feed * 1000 + i)


def make_feed(feed: int) -> bytes:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = "".join(
        f"<item><title>P{feed}-{i}</title><link>https://s{feed}.example/p/{i}</link>"
        f'<guid isPermaLink="false">s{feed}-{i}</guid>'
        f"<pubDate>{format_datetime(start + timedelta(minutes=i))}</pubDate>"
        f"<description>{entry_text(feed, i)}</description></item>"
        for i in range(ENTRIES)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>F{feed}</title>'
        f"<link>https://s{feed}.example/</link><description>d</description>{items}</channel></rss>"
    ).encode()


def write_config(folder: Path, base_url: str, *, web: bool) -> Path:
    lines = [
        "[database]",
        'url = "sqlite:///crm.db"',
        "[web]",
        f"enabled = {'true' if web else 'false'}",
        'host = "127.0.0.1"',
        "port = 0",
        "[classifier]",
        'kind = "lexicon"',
        "[daemon]",
        'shutdown_grace = "20s"',
    ]
    for feed in range(FEEDS):
        lines += [
            "[[sources]]",
            f'name = "feed-{feed:02d}"',
            'type = "feed"',
            f'url = "{base_url}/f{feed}.xml"',
            'interval = "1h"',
        ]
    lines += [
        "[[rules]]",
        'name = "complaint-ticket"',
        "order = 10",
        "[rules.when]",
        'sentiment = ["negative"]',
        "query = 'lieferung'",
        "[[rules.then]]",
        'action = "open_ticket"',
        'team = "service"',
        'priority = "high"',
        "[[rules]]",
        'name = "question-reply"',
        "order = 20",
        "[rules.when]",
        "query = 'wie'",
        "[[rules.then]]",
        'action = "draft_reply"',
        'template = "q"',
        "[templates.q]",
        'de = "Hallo {{ author }}!"',
        'en = "Hi {{ author }}!"',
    ]
    path = folder / "socialcrm.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def serve_feeds(replay: ReplayServer, delay: float) -> None:
    for feed in range(FEEDS):
        replay.add(
            "GET",
            f"/f{feed}.xml",
            Canned(200, make_feed(feed), {"Content-Type": "application/rss+xml"}, delay=delay * (feed % 6)),
        )


async def start_daemon(folder: Path) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
    log = open(folder / "daemon.log", "ab")  # noqa: SIM115 - closed when the process ends
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "socialcrm",
        "--config",
        str(folder / "socialcrm.toml"),
        "run",
        cwd=folder,
        env=env,
        stdout=log,
        stderr=log,
    )


def counts(folder: Path) -> tuple[int, int, int]:
    db = Database(f"sqlite:///{folder / 'crm.db'}")
    try:
        with db.read() as session:
            if not db.has_tables():
                return 0, 0, 0
            return (
                session.exec(select(func.count()).select_from(Mention)).one(),
                session.exec(select(func.count()).select_from(Ticket)).one(),
                session.exec(select(func.count()).select_from(ReplyDraft)).one(),
            )
    except Exception:  # noqa: BLE001 - the daemon may be creating the schema right now
        return 0, 0, 0
    finally:
        db.dispose()


async def wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()


async def test_kill_9_mid_poll_then_restart_loses_and_doubles_nothing(tmp_path: Path, replay: ReplayServer) -> None:
    serve_feeds(replay, delay=0.4)
    write_config(tmp_path, replay.base_url, web=False)
    total = FEEDS * ENTRIES
    expected_tickets = sum(1 for f in range(FEEDS) for i in range(ENTRIES) if (f + i) % 3 == 0)
    expected_drafts = sum(1 for f in range(FEEDS) for i in range(ENTRIES) if (f + i) % 3 == 1)

    first = await start_daemon(tmp_path)
    stored_some = await wait_for(lambda: counts(tmp_path)[0] > 0, 90)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    after_kill = counts(tmp_path)[0]
    assert stored_some and 0 < after_kill < total, f"kill landed outside the poll ({after_kill} of {total})"

    second = await start_daemon(tmp_path)
    try:
        assert await wait_for(lambda: counts(tmp_path)[0] >= total, 120), counts(tmp_path)
        await asyncio.sleep(1.0)  # anything doubled would show up now
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 60)
    mentions, tickets, drafts = counts(tmp_path)
    assert (mentions, tickets, drafts) == (total, expected_tickets, expected_drafts)
    db = Database(f"sqlite:///{tmp_path / 'crm.db'}")
    with db.read() as session:
        distinct = session.exec(select(func.count(func.distinct(Mention.source + "|" + Mention.external_id)))).one()
    db.dispose()
    assert distinct == total


async def test_sigterm_finishes_in_flight_work_and_exits_0(tmp_path: Path, replay: ReplayServer) -> None:
    serve_feeds(replay, delay=0.3)
    write_config(tmp_path, replay.base_url, web=True)
    proc = await start_daemon(tmp_path)
    log = tmp_path / "daemon.log"
    try:
        assert await wait_for(lambda: "log in at" in log.read_text(errors="replace"), 90), log.read_text()
        url = re.search(r"log in at (http://\S+)/login", log.read_text()).group(1)  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/healthz") as resp:
                assert resp.status == 200
        assert await wait_for(lambda: counts(tmp_path)[0] > 0, 60)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
    assert code == 0
    text = log.read_text()
    assert "Received SIGTERM" in text and "Stopped" in text
    # Every poll that started was finished and stored before exit: one transaction per page.
    mentions = counts(tmp_path)[0]
    assert mentions % ENTRIES == 0 and mentions > 0


async def test_sigint_with_the_embedded_model_stops_and_exits_0(tmp_path: Path) -> None:
    # The embedded model's ~340,000 objects once kept the process busy for 4-5 s after "Stopped"
    # (bench/bench_shutdown.py prints that time); here only the exit itself is checked.
    (tmp_path / "socialcrm.toml").write_text(
        '[database]\nurl = "sqlite:///crm.db"\n[web]\nhost = "127.0.0.1"\nport = 0\n[classifier]\nkind = "default"\n'
    )
    proc = await start_daemon(tmp_path)
    log = tmp_path / "daemon.log"
    try:
        assert await wait_for(lambda: "log in at" in log.read_text(errors="replace"), 180), log.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 60)
    assert code == 0, log.read_text()
    text = log.read_text()
    assert "Received SIGINT" in text and "Stopped" in text
