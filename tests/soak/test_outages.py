"""The real daemon through outages (``make soak``): a PostgreSQL restart, a full disk, two daemons, hanging feeds.

Each scenario drives ``socialcrm run`` as a process against the replay server on 127.0.0.1 and
ends with the census (tests/soak/harness.py): nothing lost, nothing doubled, nothing left without
its actions. The PostgreSQL restart uses a server this suite starts for itself, never a shared one.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from sqlmodel import select

from socialcrm.db import Database
from socialcrm.models import SourceState
from tests.feeds import RULES
from tests.replay_server import ReplayServer
from tests.soak.disk import SmallDisk, small_disk
from tests.soak.harness import (
    FULL,
    ROOT,
    Daemon,
    Feeds,
    Mastodon,
    approve_next,
    census,
    count_mentions,
    jitter,
    pending_drafts,
    replies_done,
    replies_settled,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.skipif(not FULL, reason="part of `make soak` (SOCIALCRM_SOAK=full)")
PG_SCRIPT = ROOT / "tools" / "pg_test_server.sh"


@dataclass
class PrivateServer:
    """A PostgreSQL server started by this suite alone, so restarting it disturbs nobody."""

    folder: Path
    url: str

    def restart(self, down_seconds: float) -> None:
        """Stop the server, stay down a while, start it again with the same port and options."""
        subprocess.run([str(PG_SCRIPT), "restart", str(self.folder), str(down_seconds)], check=True, timeout=120)


@pytest.fixture
def private_postgres() -> Iterator[PrivateServer]:
    if not shutil.which("pg_ctl") and not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        if os.environ.get("SOCIALCRM_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL binaries are required (SOCIALCRM_REQUIRE_POSTGRES) but not installed")
        pytest.skip("PostgreSQL binaries are not installed")
    # Under /tmp itself: the server runs as the postgres user, who cannot enter pytest's private folders.
    folder = Path(tempfile.mkdtemp(prefix="socialcrm-soak-pg.", dir="/tmp"))
    env = {**os.environ, "PGTEST_DIR": str(folder), "PGTEST_PORT": ""}
    url = subprocess.run([str(PG_SCRIPT)], env=env, check=True, capture_output=True, text=True, timeout=180)
    try:
        yield PrivateServer(folder, url.stdout.strip())
    finally:
        subprocess.run([str(PG_SCRIPT), "stop", str(folder)], check=False, timeout=120)


async def settle(daemon: Daemon, database_url: str, expected: int, timeout: float = 180) -> bool:
    return await wait_for(
        lambda: count_mentions(database_url) >= expected and replies_settled(database_url), timeout, step=0.5
    )


async def test_postgresql_restart_while_polling_and_posting(
    tmp_path: Path, replay: ReplayServer, private_postgres: PrivateServer
) -> None:
    url = private_postgres.url
    feeds = Feeds(6)
    feeds.install(replay)
    mastodon = Mastodon(replay, questions=6)
    mastodon.install()
    feeds.publish(3)
    daemon = Daemon(write_config(tmp_path, url, replay.base_url, 6), tmp_path / "daemon.log")
    await daemon.start()
    assert await wait_for(lambda: pending_drafts(url) >= 6, 120), "no drafts to approve"

    # A reply is on the platform but its answer is held back while the database goes away.
    mastodon.account.faults.stored.clear()
    mastodon.account.faults.hold_seconds = 1.5
    approve_next(url)
    await asyncio.wait_for(mastodon.account.faults.stored.wait(), 60)
    mastodon.account.post_elsewhere(45)
    feeds.publish(2)
    during = asyncio.create_task(daemon.poll_once("--force"))  # a poll beside the daemon, cut off midway
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await asyncio.to_thread(private_postgres.restart, 3)
    outage = time.monotonic() - started
    await during

    mastodon.account.faults.hold_seconds = 0.0
    approved = approve_next(url, 2)
    # The daemon's own queue worker must take jobs again: nothing else runs that could send these replies
    # (the poll beside the daemon below sends what is due too, so it comes only after them).
    sent_by_daemon = await wait_for(lambda: replies_done(url, approved), 90, step=0.5)
    beside = await daemon.poll_once("--force")  # the new entries, stored beside the running daemon
    expected = feeds.expected() | mastodon.expected()
    settled = await settle(daemon, url, len(expected))
    alive = daemon.running
    assert await daemon.stop() == 0
    result = census(url, expected, mastodon)
    restarts = daemon.log.read_text(errors="replace").count("The queue worker runs again")
    print(
        result.line(
            "postgresql restart", outage=f"{outage:.1f}s", poll_beside=beside.returncode, worker_restarts=restarts
        )
    )
    assert alive, "the daemon died with the database restart"
    assert len(approved) == 2 and sent_by_daemon, "the daemon sent no reply after the database restart"
    assert settled, result.notes
    assert (result.lost, result.doubled, result.left_without_actions) == (0, 0, 0), result.notes


async def test_full_disk_under_the_sqlite_file(tmp_path: Path, replay: ReplayServer) -> None:
    with small_disk(tmp_path / "disk", size_mib=24) as disk:
        await full_disk_scenario(tmp_path, replay, disk)


async def full_disk_scenario(tmp_path: Path, replay: ReplayServer, disk: SmallDisk) -> None:
    url = f"sqlite:///{disk.path / 'crm.db'}"
    feeds = Feeds(6)
    feeds.install(replay)
    mastodon = Mastodon(replay, questions=6)
    mastodon.install()
    feeds.publish(3)
    daemon = Daemon(write_config(tmp_path, url, replay.base_url, 6), tmp_path / "daemon.log")
    await daemon.start()
    assert await wait_for(lambda: pending_drafts(url) >= 6, 120), "no drafts to approve"
    approve_next(url, 2)  # approved while there is room; sent while the disk is full

    mastodon.account.faults.stored.clear()
    mastodon.account.faults.hold_seconds = 1.0
    await asyncio.wait_for(mastodon.account.faults.stored.wait(), 60)
    disk.fill(daemon.pid)  # the reply is out; recording it fails
    feeds.publish(2)
    during = await daemon.poll_once("--force", preexec=disk.limit_child())
    await asyncio.sleep(6)  # leases run out and retries meet the full disk
    mastodon.account.post_elsewhere(45)
    alive_when_full = daemon.running

    disk.free(daemon.pid)
    mastodon.account.faults.hold_seconds = 0.0
    after = await daemon.poll_once("--force")
    expected = feeds.expected() | mastodon.expected()
    settled = await settle(daemon, url, len(expected))
    assert await daemon.stop() == 0
    result = census(url, expected, mastodon)
    print(result.line(f"full disk [{disk.how}]", poll_while_full=during.returncode, poll_after=after.returncode))
    assert alive_when_full, "the daemon died when the disk filled up"
    if disk.how == "tmpfs":
        assert during.returncode != 0 and "full" in during.stdout, during.stdout[-2000:]
    assert settled, result.notes
    assert (result.lost, result.doubled, result.left_without_actions) == (0, 0, 0), result.notes


@pytest.fixture
def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("two daemons share one database on PostgreSQL only")
    return database_url


async def test_two_daemons_and_poll_once_on_one_postgresql_database(
    tmp_path: Path, replay: ReplayServer, postgres_url: str
) -> None:
    url = postgres_url
    feeds = Feeds(8)
    feeds.install(replay)
    mastodon = Mastodon(replay, questions=10)
    mastodon.install()
    feeds.publish(4)
    config = write_config(tmp_path, url, replay.base_url, 8)
    first = Daemon(config, tmp_path / "first.log", name="first")
    second = Daemon(config, tmp_path / "second.log", name="second")
    await asyncio.gather(first.start(), second.start())  # both poll every source at once
    beside = await asyncio.gather(first.poll_once(), second.poll_once())
    assert await wait_for(lambda: pending_drafts(url) >= 10, 120), "no drafts to approve"

    mastodon.account.faults.hold_seconds = 0.4
    mastodon.account.faults.stored.clear()
    approve_next(url, 10)  # both daemons' outboxes (and the poll --once below) race for them
    await asyncio.wait_for(mastodon.account.faults.stored.wait(), 60)
    polls = asyncio.gather(first.poll_once(), second.poll_once())
    await asyncio.sleep(jitter(0.2, 1.5))
    await first.kill()
    mastodon.account.post_elsewhere(45)
    await polls
    await first.start()
    feeds.publish(2)
    expected = feeds.expected() | mastodon.expected()
    # A post both daemons store at once is stored once (the insert skips what the other stored); a
    # forced poll beside the daemons only fetches what a killed daemon had not stored yet.
    for _ in range(3):
        await first.poll_once("--force")
        if count_mentions(url) >= len(expected):
            break
    settled = await settle(first, url, len(expected))
    codes = await asyncio.gather(first.stop(), second.stop())
    result = census(url, expected, mastodon)
    print(result.line("two daemons [postgresql]", poll_once_beside=[b.returncode for b in beside]))
    assert codes == [0, 0]
    assert settled, result.notes
    assert (result.lost, result.doubled, result.left_without_actions) == (0, 0, 0), result.notes


@pytest.fixture
async def hanging_host(replay: ReplayServer) -> AsyncIterator[ReplayServer]:
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.wait_for(release.wait(), 120)
        return web.Response(status=503)

    for n in range(10):
        replay.add_handler("GET", f"/hang{n}.xml", hang)
    try:
        yield replay
    finally:
        release.set()


async def test_hanging_feeds_on_one_host_cost_only_themselves(tmp_path: Path, hanging_host: ReplayServer) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    feeds = Feeds(3, delay=0.0)
    feeds.publish(5)
    feeds.install(hanging_host)
    lines = [f'[database]\nurl = "{url}"\n[web]\nenabled = false\n[classifier]\nkind = "lexicon"']
    for n in range(10):
        lines.append(
            f'[[sources]]\nname = "hang-{n}"\ntype = "feed"\nurl = "{hanging_host.base_url}/hang{n}.xml"\n'
            'interval = "1h"\ntimeout = 20'
        )
    for n in range(3):
        lines.append(
            f'[[sources]]\nname = "feed-{n:02d}"\ntype = "feed"\nurl = "{hanging_host.base_url}/f{n}.xml"\n'
            'interval = "1h"\ntimeout = 5'
        )
    (tmp_path / "socialcrm.toml").write_text("\n".join(lines) + "\n" + RULES)
    log = tmp_path / "daemon.log"
    daemon = Daemon(tmp_path / "socialcrm.toml", log)
    await daemon.start()
    # Timed from the moment the daemon has loaded and starts polling every source at once.
    assert await wait_for(lambda: log.exists() and "sentiment classifier" in log.read_text(), 120)
    started = time.monotonic()
    stored = await wait_for(lambda: count_mentions(url) >= 15, 120)
    healthy_seconds = time.monotonic() - started
    assert await daemon.stop() == 0
    result = census(url, feeds.expected(), None)
    db = Database(url)
    with db.read() as session:
        errors = {s.name: s.last_error for s in session.exec(select(SourceState)) if s.name.startswith("feed-")}
    db.dispose()
    print(result.line("hanging feeds on one host", healthy_stored_after=f"{healthy_seconds:.1f}s"))
    assert stored and all(error is None for error in errors.values()), errors
    assert (result.lost, result.doubled, result.left_without_actions) == (0, 0, 0), result.notes
