"""A queue worker whose database stays away: it gives up after a while, and a stop meanwhile ends it at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from socialcrm.config import parse_config
from socialcrm.db import Database
from socialcrm.jobs import restarts, worker
from socialcrm.jobs.worker import QueueWork
from socialcrm.runtime import Runtime
from tests.core.fakes import FakeClassifier
from tests.database_outage import cut

CONFIG = '[workers]\nstalled_after = "3s"\n[daemon]\nshutdown_grace = "1s"\n'


@pytest.fixture
async def started(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[QueueWork]:
    """A started QueueWork on a fresh database (its queries wait 2 s at most for a connection), reopened after."""
    monkeypatch.setattr(worker, "POOL_TIMEOUT", 2.0)
    monkeypatch.setattr(restarts, "FIRST_WAIT", 0.2)
    db = Database(pg_url)
    runtime = await Runtime.open(parse_config(CONFIG), db=db, classifier=FakeClassifier())
    work = QueueWork(runtime, "worker")
    await work.start()
    try:
        yield work
    finally:
        await asyncio.to_thread(cut, pg_url, False)
        await work.stop(0)
        await runtime.close()


async def stopped_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(300):
        if "stopped on its own" in caplog.text:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(caplog.text[-3000:])


async def test_a_worker_gives_up_when_the_database_stays_away(
    started: QueueWork, pg_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restarts, "GIVE_UP_AFTER", 1.0)
    monkeypatch.setattr(restarts, "GIVE_UP_ATTEMPTS", 3)
    caplog.set_level(logging.WARNING, logger="socialcrm.jobs.supervisor")
    await asyncio.to_thread(cut, pg_url, True)
    assert started.finished is not None
    await asyncio.wait_for(asyncio.shield(started.finished), 60)  # ended without a stop: the daemon exits 1
    assert "giving up" in caplog.text
    assert caplog.text.count("the database does not answer") >= 3
    assert "runs again" not in caplog.text
    await asyncio.wait_for(started.stop(0), 30)  # the database still away: stopping still ends


async def test_a_stop_while_the_database_is_away_ends_the_worker_at_once(
    started: QueueWork, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="socialcrm.jobs.supervisor")
    await asyncio.to_thread(cut, pg_url, True)
    await stopped_on_its_own(caplog)
    await asyncio.wait_for(started.stop(0), 10)
    assert started.finished is not None and started.finished.done()
    assert "giving up" not in caplog.text and "runs again" not in caplog.text
