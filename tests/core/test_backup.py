"""``socialcrm backup`` / ``restore`` as an admin runs them: a restored backup holds every row, on SQLite and
PostgreSQL (pg_dump/pg_restore), and a SQLite backup taken while a real daemon writes is one consistent moment."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import MetaData, create_engine, select, text
from sqlmodel import select as sql_select

from socialcrm.cli.demo_cmds import seed_customers
from socialcrm.db import Database
from socialcrm.models import Ticket
from tests.core.test_daemon import ENTRIES, FEEDS, counts, serve_feeds, start_daemon, wait_for, write_config
from tests.replay_server import ReplayServer
from tests.web.seed import make_users, make_world


def cli(folder: Path, *args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
    return subprocess.run(
        [sys.executable, "-m", "socialcrm", "--config", str(folder / "socialcrm.toml"), *args],
        cwd=folder,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def everything(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order: what "finds everything" compares."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            return {
                name: [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key.columns))]
                for name, table in metadata.tables.items()
            }
    finally:
        engine.dispose()


def seed(url: str) -> None:
    db = Database(url)
    try:
        make_users(db)
        make_world(db)
        with db.write() as session:
            seed_customers(session)
    finally:
        db.dispose()


def test_backup_then_restore_finds_everything(tmp_path: Path, database_url: str) -> None:
    (tmp_path / "socialcrm.toml").write_text(f'[database]\nurl = "{database_url}"\n[classifier]\nkind = "lexicon"\n')
    seed(database_url)
    before = everything(database_url)
    assert len(before["customer"]) > 5 and before["order"] and before["ticket"] and before["user"] and before["mention"]

    made = cli(tmp_path, "backup", "--output", str(tmp_path))
    assert made.returncode == 0, made.stderr
    (backup,) = tmp_path.glob("socialcrm-*")
    assert backup.suffix == (".sqlite3" if database_url.startswith("sqlite") else ".pgdump")
    assert backup.stat().st_mode & 0o077 == 0, "a backup holds personal data: owner only"

    engine = create_engine(database_url)  # lose data after the backup: a deleted customer, a closed ticket
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM identity"))
        connection.execute(text("UPDATE ticket SET status = 'closed'"))
    engine.dispose()
    assert everything(database_url) != before

    refused = cli(tmp_path, "restore", str(backup))
    assert refused.returncode == 2 and "add --yes" in refused.stderr
    restored = cli(tmp_path, "restore", str(backup), "--yes")
    assert restored.returncode == 0, restored.stderr
    assert f"{len(before['customer'])} customers" in restored.stdout
    assert everything(database_url) == before


def test_restore_refuses_a_backup_of_the_other_database_kind_and_garbage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    (tmp_path / "socialcrm.toml").write_text(f'[database]\nurl = "{url}"\n')
    dump = tmp_path / "x.pgdump"
    dump.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 64)
    wrong = cli(tmp_path, "restore", str(dump), "--yes")
    assert wrong.returncode == 1 and "is a postgresql backup but the configured database is sqlite" in wrong.stderr
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    garbage = cli(tmp_path, "restore", str(junk), "--yes")
    assert garbage.returncode == 2 and "is not a socialcrm backup" in garbage.stderr
    assert not (tmp_path / "crm.db").exists(), "nothing may be created from a refused restore"


async def test_sqlite_backup_while_the_daemon_writes_is_one_consistent_moment(
    tmp_path: Path, replay: ReplayServer
) -> None:
    serve_feeds(replay, delay=0.25)
    write_config(tmp_path, replay.base_url, web=True)
    assert cli(tmp_path, "user", "add", "svc", "--role", "service", stdin="a-long-service-password\n").returncode == 0
    token = cli(tmp_path, "user", "token", "svc").stdout.strip()
    daemon = await start_daemon(tmp_path)
    log = tmp_path / "daemon.log"
    stop_writing = asyncio.Event()
    try:
        assert await wait_for(lambda: "log in at" in log.read_text(errors="replace") and counts(tmp_path)[1] > 0, 90)
        url = re.search(r"log in at (http://\S+)/login", log.read_text()).group(1)  # type: ignore[union-attr]
        live = Database(f"sqlite:///{tmp_path / 'crm.db'}")
        with live.read() as session:
            ticket_id = session.exec(sql_select(Ticket.id)).first()
        live.dispose()

        statuses: list[int] = []

        async def write_notes() -> None:
            """The daemon writes a ticket note (note, ticket, audit entry: one transaction) again and again."""
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
                while not stop_writing.is_set() or len(statuses) < 3:
                    note = {"text": f"note {len(statuses)}"}
                    async with http.post(f"{url}/api/v1/tickets/{ticket_id}/notes", json=note) as response:
                        statuses.append(response.status)

        writer = asyncio.create_task(write_notes())
        assert await wait_for(lambda: len(statuses) >= 5, 60), statuses
        made = await asyncio.to_thread(cli, tmp_path, "backup", "--output", str(tmp_path / "during.sqlite3"))
        written_during = len(statuses)
        stop_writing.set()
        await writer
        assert made.returncode == 0, made.stderr
        assert await wait_for(lambda: counts(tmp_path)[0] >= FEEDS * ENTRIES, 120), counts(tmp_path)
    finally:
        stop_writing.set()
        daemon.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(daemon.wait(), 60) == 0
    assert statuses and set(statuses) == {200}, "the daemon's writes must not fail while the backup runs"
    live_url = f"sqlite:///{tmp_path / 'crm.db'}"

    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    restored_url = f"sqlite:///{restored_dir / 'crm.db'}"
    (restored_dir / "socialcrm.toml").write_text(f'[database]\nurl = "{restored_url}"\n')
    restored = cli(restored_dir, "restore", str(tmp_path / "during.sqlite3"), "--yes")
    assert restored.returncode == 0, restored.stderr

    snapshot, final = everything(restored_url), everything(live_url)
    notes = len(snapshot["ticketnote"])
    # Notes written before the backup started are in it, those after it ended are not.
    assert 5 <= notes <= written_during < len(statuses) == len(final["ticketnote"]), (notes, written_during)
    # One moment: each note came with its audit entry in the same transaction; each feed page likewise.
    audited = [row for row in snapshot["auditentry"] if "ticket.note" in row]
    assert len(audited) == notes
    assert len(snapshot["mention"]) % ENTRIES == 0
    for table in ("mention", "ticketnote", "auditentry", "decision", "user", "apitoken"):
        rows = {repr(r) for r in snapshot[table]} - {repr(r) for r in final[table]}
        assert not rows or table in ("user", "apitoken"), f"{table}: the backup holds rows the daemon never wrote"
    connection = sqlite3.connect(restored_dir / "crm.db")
    assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    connection.close()


def test_backup_keep_leaves_the_newest_backups_and_nothing_else(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    (tmp_path / "socialcrm.toml").write_text(f'[database]\nurl = "{url}"\n')
    assert cli(tmp_path, "db", "upgrade").returncode == 0
    folder = tmp_path / "backups"
    folder.mkdir()
    old = [folder / f"socialcrm-2026010{day}-020000Z.sqlite3" for day in (1, 2, 3)]
    for path in old:
        path.write_bytes(b"SQLite format 3\x00")
    unrelated = folder / "notes.txt"
    unrelated.write_text("keep me")
    made = cli(tmp_path, "backup", "--output", str(folder), "--keep", "2")
    assert made.returncode == 0, made.stderr
    left = sorted(p.name for p in folder.iterdir())
    assert len(left) == 3 and "notes.txt" in left and old[2].name in left  # the new one, the newest old one
    assert not {old[0].name, old[1].name} & set(left)
    assert cli(tmp_path, "backup", "--keep", "2").returncode == 2, "--keep needs a folder"
