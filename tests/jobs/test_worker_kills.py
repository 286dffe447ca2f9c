"""Three workers, 200 sources on 127.0.0.1, kill -9 a worker mid-poll five times: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from socialcrm.db import Database
from socialcrm.models import Decision, Mention, ReplyDraft, SourceState, Ticket
from socialcrm.services.queue import POLL_TASK
from tests.jobs.farm import FeedFarm, Workers, running_jobs_by_pid, wait_for, write_config

FEEDS = 200
ENTRIES = 3
KILLS = 5


async def test_killed_workers_lose_and_double_nothing(tmp_path: Path, pg_url: str) -> None:
    # Each feed answers after 1 s: with 3 workers x 3 jobs the first round of polls takes ~25 s or more,
    # long enough to kill five workers in the middle of it.
    farm = FeedFarm(FEEDS, ENTRIES, delay=1.0)
    await farm.start()
    write_config(tmp_path, pg_url, farm.sources(), concurrency=3, stalled_after="3s")
    workers = Workers(tmp_path)
    db = Database(pg_url)
    try:
        await workers.start(3)
        victims = []
        for _ in range(KILLS):
            # A worker that is polling right now (its jobs are "doing" in the queue).
            assert await wait_for(
                lambda: any(pid in running_jobs_by_pid(db, POLL_TASK) for pid in (p.pid for p in workers.alive())),
                90,
            ), workers.log()[-3000:]
            busy = running_jobs_by_pid(db, POLL_TASK)
            victim = next(p for p in workers.alive() if busy.get(p.pid))
            await workers.kill(victim)
            victims.append((victim.pid, busy[victim.pid]))
            await workers.start(1)  # a replacement, as systemd's Restart= would
            await asyncio.sleep(2.0)

        def mentions() -> int:
            with db.read() as session:
                return session.exec(select(func.count()).select_from(Mention)).one()

        assert await wait_for(lambda: mentions() >= farm.total, 240, every=1.0), (mentions(), workers.log()[-4000:])
        await asyncio.sleep(3.0)  # anything doubled by a late retry would show up now
    finally:
        codes = await workers.stop_all()
        await farm.close()
    log = workers.log()
    assert codes == [0] * len(codes), log[-3000:]
    assert len(victims) == KILLS and all(jobs > 0 for _, jobs in victims)
    # The victims' polls were taken over by the others, not waited out.
    assert log.count("goes back to the queue") >= KILLS, log[-3000:]
    assert "Linking or rules failed" not in log

    with db.read() as session:
        stored = session.exec(select(func.count()).select_from(Mention)).one()
        distinct = session.exec(select(func.count(func.distinct(Mention.source + "|" + Mention.external_id)))).one()
        tickets = session.exec(select(Ticket)).all()
        drafts = session.exec(select(ReplyDraft)).all()
        new_total = session.exec(select(func.sum(SourceState.new_total))).one()
        decided = session.exec(select(func.count(func.distinct(Decision.mention_id)))).one()
    db.dispose()
    assert (stored, distinct, new_total) == (farm.total, farm.total, farm.total)  # 0 lost, 0 doubled
    assert decided == farm.total  # every mention went through the rules, none was left without its actions
    assert len(tickets) == farm.expected("complaint")
    assert len({t.thread_key for t in tickets}) == len(tickets)  # one ticket per thread, none twice
    assert len(drafts) == farm.expected("question")
    assert len({d.mention_id for d in drafts}) == len(drafts)
