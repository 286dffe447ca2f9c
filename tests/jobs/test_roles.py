"""run, worker and web as processes: who polls, who serves, and what `socialcrm sources` shows of them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from socialcrm.cli import main
from socialcrm.db import Database
from tests.jobs.farm import FeedFarm, scalar, wait_for, write_config


async def start(folder: Path, command: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
    log = open(folder / f"{command}.log", "ab")  # noqa: SIM115 - the process owns it
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "socialcrm", "--config", str(folder / "socialcrm.toml"), command,
            cwd=folder, env=env, stdout=log, stderr=log,
        )  # fmt: skip
    finally:
        log.close()


async def stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), 60)


def web_url(log: Path) -> str | None:
    found = re.search(r"log in at (http://\S+)/login", log.read_text(errors="replace"))
    return found.group(1) if found else None


def test_worker_on_sqlite_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "socialcrm.toml").write_text('[database]\nurl = "sqlite:///crm.db"\n[classifier]\nkind = "lexicon"\n')
    assert main(["--config", str(tmp_path / "socialcrm.toml"), "worker"]) == 2
    err = capsys.readouterr().err
    assert "needs a PostgreSQL database" in err and "socialcrm run" in err
    assert not (tmp_path / "crm.db").exists()  # refused before anything was opened


async def test_run_on_postgres_polls_through_the_queue_and_serves_the_web_app(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    farm = FeedFarm(3, 4, delay=3.0)
    await farm.start()
    config = write_config(tmp_path, pg_url, farm.sources(), concurrency=2)
    config.write_text(config.read_text().replace("enabled = false", "enabled = true"))
    db = Database(pg_url)
    proc = await start(tmp_path, "run")
    try:
        assert await wait_for(lambda: web_url(tmp_path / "run.log") is not None, 90), (tmp_path / "run.log").read_text()
        async with aiohttp.ClientSession() as http, http.get(f"{web_url(tmp_path / 'run.log')}/healthz") as resp:
            assert resp.status == 200
        # While the slow feeds answer, `socialcrm sources` names this process as the one polling.
        polling = "SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing' AND task_name LIKE '%poll%'"
        assert await wait_for(lambda: scalar(db, polling) > 0, 60)
        assert main(["--config", str(config), "sources"]) == 0
        shown = capsys.readouterr().out
        assert re.search(rf"polling on \S+:{proc.pid} since", shown), shown
        assert re.search(rf"worker \S+:{proc.pid} \(run\): \d job\(s\) running, alive", shown), shown
        assert await wait_for(lambda: scalar(db, "SELECT count(*) FROM mention") == farm.total, 60)
    finally:
        code = await stop(proc)
        await farm.close()
    assert code == 0, (tmp_path / "run.log").read_text()
    assert scalar(db, "SELECT count(*) FROM workerprocess") == 0  # it said goodbye
    db.dispose()


async def test_web_alone_serves_and_polls_nothing(tmp_path: Path, pg_url: str) -> None:
    farm = FeedFarm(2, 2)
    await farm.start()
    write_config(tmp_path, pg_url, farm.sources(), concurrency=2)
    proc = await start(tmp_path, "web")
    db = Database(pg_url)
    try:
        assert await wait_for(lambda: web_url(tmp_path / "web.log") is not None, 90), (tmp_path / "web.log").read_text()
        async with aiohttp.ClientSession() as http, http.get(f"{web_url(tmp_path / 'web.log')}/login") as resp:
            assert resp.status == 200
        await asyncio.sleep(6)  # more than a scheduler tick
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar() == 0
        assert farm.requests == 0
    finally:
        code = await stop(proc)
        await farm.close()
        db.dispose()
    assert code == 0
