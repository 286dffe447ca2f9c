"""A worker whose database goes away for seconds (a PostgreSQL restart) takes jobs again and sends nothing twice.

The test's own database is closed to new connections and every connection to it is cut, the
worker's LISTEN connection, its pool, its heartbeat and its engine included, for two seconds: what
a server restart does to a worker, without restarting the server other tests share. Procrastinate
then stops its worker; the process must run a new one (socialcrm/jobs/supervisor.py) instead of
exiting. The webhook in flight at the cut is answered only after it (the receiver holds it), so
its outcome is stored once the database is back: it, and every other, must arrive exactly once.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from socialcrm.db import Database
from socialcrm.models import Mention, OutboxItem
from tests.database_outage import cut
from tests.jobs.farm import FeedFarm, Workers, wait_for, write_config

FEEDS = 12
ENTRIES = 3
CUT_SECONDS = 2.0
HELD_SECONDS = 8.0  # the receiver holds the webhook in flight at the cut this long: well past the cut, under load too


async def test_a_worker_takes_jobs_again_after_its_database_went_away(tmp_path: Path, pg_url: str) -> None:
    farm = FeedFarm(FEEDS, ENTRIES, hook_delay=HELD_SECONDS)
    await farm.start()
    # One job at a time: the webhook held by the receiver is the only job running when the cut comes.
    config = write_config(
        tmp_path, pg_url, farm.sources(), concurrency=1, stalled_after="3s", extra=farm.webhook_rules()
    )
    # The stopping worker waits this long for the held webhook to end (and stores its outcome) before aborting it.
    config.write_text(config.read_text().replace('shutdown_grace = "10s"', 'shutdown_grace = "30s"'))
    assert 'shutdown_grace = "30s"' in config.read_text()
    workers = Workers(tmp_path)
    db = Database(pg_url)
    loop = asyncio.get_running_loop()

    def count(model: type, *where: object) -> int:
        try:
            with db.read() as session:
                return int(session.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - the connection may be one the cut ended; the next look gets a new one
            db.dispose()
            return -1

    try:
        await workers.start(1)
        # A webhook is on its way to the receiver, which holds it: cut the database now.
        assert await wait_for(lambda: farm.hooks_in_flight > 0, 90, every=0.05), workers.log()[-3000:]
        cut_at = loop.time()
        await asyncio.to_thread(cut, pg_url, True)
        try:
            await asyncio.sleep(CUT_SECONDS)
        finally:
            await asyncio.to_thread(cut, pg_url, False)
        back_at = loop.time()
        farm.hook_delay = 0.2

        def settled() -> bool:
            open_rows = count(OutboxItem, OutboxItem.status.in_(("pending", "sending")))  # type: ignore[attr-defined]
            return count(Mention) == farm.total and count(OutboxItem) > 0 and open_rows == 0

        assert await wait_for(settled, 120, every=0.5), workers.log()[-4000:]
        await asyncio.sleep(2.0)  # a late repeat would show up now
    finally:
        codes = await workers.stop_all()
        await farm.close()
    log = workers.log()
    assert codes == [0], log[-3000:]  # it lived through the cut and stopped cleanly when asked
    # The cut did stop Procrastinate's worker (else this test proves nothing), and a new one took over.
    # The warning names the side task whose failure stopped it, and the error's cause.
    assert re.search(r"stopped on its own after \d+ s: its \w+ task failed \(\w+: .+\)", log), log[-3000:]
    assert "The queue worker runs again" in log, log[-3000:]

    with db.read() as session:
        stored = session.exec(select(func.count()).select_from(Mention)).one()
        distinct = session.exec(select(func.count(func.distinct(Mention.source + "|" + Mention.external_id)))).one()
        hooks = session.exec(select(OutboxItem).where(OutboxItem.kind == "webhook")).all()
    db.dispose()
    assert (stored, distinct) == (farm.total, farm.total)
    assert len(hooks) == farm.expected("complaint") and {h.status for h in hooks} == {"done"}
    # Sent before the cut, answered after it: these outcomes were stored once the database was back.
    across = [d for d in farm.deliveries if d.arrived <= cut_at and d.answered >= back_at]
    assert across, "no webhook was in flight across the cut"
    assert [d for d in farm.deliveries if d.arrived > back_at], "no webhook was sent after the cut"
    times = Counter(d.key for d in farm.deliveries)
    assert set(times) == {h.idempotency_key for h in hooks}
    assert [key for key, n in times.items() if n > 1] == []  # nothing sent twice
