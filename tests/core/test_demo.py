"""`make run`'s demo: offline it polls, classifies, links, opens a ticket and a draft, and says where to log in."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
from sqlalchemy import func
from sqlmodel import select

from socialcrm.db import Database
from socialcrm.models import Mention, ReplyDraft, SavedReply, Ticket


def demo_counts(folder: Path) -> tuple[int, int, int, int]:
    path = folder / "socialcrm.db"
    if not path.exists():
        return 0, 0, 0, 0
    db = Database(f"sqlite:///{path}")
    try:
        with db.read() as session:
            return (
                session.exec(select(func.count()).select_from(Mention)).one(),
                session.exec(select(func.count()).select_from(Mention).where(Mention.sentiment.is_not(None))).one(),  # type: ignore[union-attr]
                session.exec(select(func.count()).select_from(Ticket)).one(),
                session.exec(select(func.count()).select_from(ReplyDraft)).one(),
            )
    except Exception:  # noqa: BLE001 - the schema may be being created
        return 0, 0, 0, 0
    finally:
        db.dispose()


async def test_demo_works_within_a_minute_and_stops_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
    log_path = tmp_path / "demo.log"
    with open(log_path, "wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "socialcrm",
            "demo",
            "--dir",
            str(folder),
            "--port",
            "0",
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=log,
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120  # a minute on a developer laptop; CI machines are slower
    try:
        while loop.time() < deadline:
            mentions, classified, tickets, drafts = demo_counts(folder)
            if mentions == 10 and tickets and drafts and "log in at" in log_path.read_text(errors="replace"):
                break
            await asyncio.sleep(0.5)
        text = log_path.read_text(errors="replace")
        assert tickets >= 1 and drafts >= 1, text
        assert mentions == classified == 10
        db = Database(f"sqlite:///{folder / 'socialcrm.db'}")
        with db.read() as session:
            assert session.exec(select(func.count()).select_from(SavedReply)).one() == 8
        db.dispose()
        url = re.search(r"log in at (http://\S+)/login", text).group(1)  # type: ignore[union-attr]
        credentials = (folder / "credentials.txt").read_text()
        password = re.search(r"password: (\S+)", credentials).group(1)  # type: ignore[union-attr]
        assert password not in text  # the password is in the 0600 file, never in the log
        assert oct((folder / "credentials.txt").stat().st_mode)[-3:] == "600"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/healthz") as resp:
                assert resp.status == 200
            async with http.get(f"{url}/tickets", allow_redirects=False) as resp:
                assert resp.status in (302, 303, 401)  # login required
    finally:
        proc.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(proc.wait(), 60)
    assert code == 0
