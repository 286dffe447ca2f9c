"""A scheduled poll while the database is unusable: one clear error line a turn, the page stored at a later turn.

SQLite: a second process holds the file's write lock past busy_timeout (shortened here from 30 s).
PostgreSQL: the test's database is closed and every connection to it cut (tests/database_outage.py).
The outage starts while the page is being fetched, so it hits the page's store, and ends 1.5 s later.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from connectors.base import Batch
from socialcrm.config import Config, SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.models import Mention, SourceState
from socialcrm.poller import Poller
from socialcrm.scheduler import Scheduler
from tests.core.fakes import ScriptedConnector, post
from tests.core.test_pipeline import count, make_pipeline
from tests.database_outage import Outage, short_busy_timeout
from tests.feeds import RULES

OUTAGE_SECONDS = 1.5


class OutageWhileFetching(ScriptedConnector):
    """Serves one page; the first fetch starts the outage before it hands the page over."""

    def __init__(self, outage: Outage) -> None:
        super().__init__("blog", {None: Batch(posts=[post("blog", 1, "Wo bleibt meine Lieferung?")], cursor="c1")})
        self.outage = outage
        self.ended: asyncio.Task[None] | None = None

    async def fetch(self, cursor: str | None) -> Batch:
        if self.ended is None:
            await asyncio.to_thread(self.outage.begin)
            self.ended = asyncio.create_task(self._end_later())
        return await super().fetch(cursor)

    async def _end_later(self) -> None:
        await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.to_thread(self.outage.end)


async def test_a_scheduled_poll_through_a_database_outage(
    db: Database, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    short_busy_timeout(db)
    config: Config = parse_config(RULES)
    source = SourceConfig(name="blog", type="feed", interval="1s")
    outage = Outage(db, database_url)
    connector = OutageWhileFetching(outage)
    poller = Poller(source, connector, make_pipeline(config, db))
    caplog.set_level(logging.INFO)
    scheduler = Scheduler()
    scheduler.every("poll:blog", timedelta(seconds=1), poller.run_once, first_run_within=0.3)
    scheduler.start()
    try:
        for _ in range(200):
            if connector.ended is not None and connector.ended.done() and count(db, Mention) == 1:
                break
            await asyncio.sleep(0.1)
    finally:
        await scheduler.shutdown(10)
        if connector.ended is not None:
            await connector.ended
        outage.end()
    assert count(db, Mention) == 1, caplog.text[-3000:]  # stored at a turn after the outage
    unavailable = [r.getMessage() for r in caplog.records if "the database is unavailable" in r.getMessage()]
    assert unavailable and all(
        m.startswith("Job poll:blog: the database is unavailable (") and m.endswith("it runs again at its next turn")
        for m in unavailable
    ), caplog.text[-3000:]
    assert "OperationalError" in unavailable[0] and "[SQL:" not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.exc_info and r.name.startswith("socialcrm")] == []
    with db.read() as session:
        state = session.get(SourceState, "blog")
    # The database's outage is not held against the source: no error, no backoff, its cursor moved on.
    assert state is not None and (state.state, state.consecutive_failures, state.last_error) == ("ok", 0, None)
    assert state.backoff_until is None and state.cursor == "c1"
