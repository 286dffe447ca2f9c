"""A worker's heartbeat on PostgreSQL: a busy worker stays alive, a hung or removed one does not.

The worker's event loop is blocked with ``time.sleep`` here, as a long CPU-bound step on a loaded
machine blocks it; the queue is the real Procrastinate schema and its own stalled-job query.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import psycopg
import pytest
from procrastinate import App, PsycopgConnector, sql
from sqlalchemy import text

from socialcrm.db import Database
from socialcrm.jobs.heartbeat import Heartbeat
from socialcrm.jobs.tasks import register_tasks
from socialcrm.jobs.worker import conninfo
from socialcrm.services.queue import POLL_TASK


@pytest.fixture
async def app(pg_url: str) -> AsyncIterator[App]:
    """Procrastinate on a fresh database, with socialcrm's tasks."""
    procrastinate = App(connector=PsycopgConnector(conninfo=conninfo(pg_url)))
    register_tasks(procrastinate)
    await procrastinate.open_async()
    try:
        yield procrastinate
    finally:
        await procrastinate.close_async()


async def running_job(app: App) -> tuple[int, int]:
    """A registered worker and the poll job it runs: (worker id, job id)."""
    worker_id = await app.job_manager.register_worker()
    await app.configure_task(POLL_TASK, lock="poll:a", queueing_lock="poll:a").defer_async(source="a")
    job = await app.job_manager.fetch_job(queues=["poll"], worker_id=worker_id)
    assert job is not None and job.id is not None
    return worker_id, job.id


def stalled_ids_now(pg_url: str, seconds: float) -> set[int]:
    """Procrastinate's own stalled-job query, run without giving the blocked event loop a turn."""
    with psycopg.connect(conninfo(pg_url)) as conn:
        rows = conn.execute(
            sql.queries["select_stalled_jobs_by_heartbeat"],
            {"seconds_since_heartbeat": seconds, "queue": None, "task_name": None},
        ).fetchall()
    return {int(row[0]) for row in rows}


def heartbeat_age(pg_url: str, worker_id: int) -> float:
    db = Database(pg_url)
    try:
        with db.engine.connect() as conn:
            age = conn.execute(
                text("SELECT extract(epoch FROM NOW() - last_heartbeat) FROM procrastinate_workers WHERE id = :id"),
                {"id": worker_id},
            ).scalar_one()
    finally:
        db.dispose()
    return float(age)


async def test_a_worker_whose_event_loop_is_busy_longer_than_stalled_after_is_not_taken_for_dead(
    app: App, pg_url: str
) -> None:
    worker_id, job_id = await running_job(app)
    beat = Heartbeat(conninfo(pg_url), worker_id, interval=0.2, hung_after=30, on_lost=lambda: None)
    beat.start()
    try:
        time.sleep(2.5)  # the loop is busy: Procrastinate's own heartbeat (on this loop) cannot run
        assert heartbeat_age(pg_url, worker_id) < 1.0
        assert job_id not in stalled_ids_now(pg_url, 1.0)
    finally:
        beat.stop()
    assert beat.beats >= 5


async def test_a_worker_whose_event_loop_hangs_stops_beating_and_its_job_counts_as_stalled(
    app: App, pg_url: str
) -> None:
    worker_id, job_id = await running_job(app)
    beat = Heartbeat(conninfo(pg_url), worker_id, interval=0.1, hung_after=0.5, on_lost=lambda: None)
    beat.start()
    try:
        time.sleep(2.5)  # hung: no mark from the loop for far longer than hung_after
        assert heartbeat_age(pg_url, worker_id) > 1.5
        assert job_id in stalled_ids_now(pg_url, 1.0)
        await asyncio.sleep(0.5)  # the loop runs again: so does the heartbeat
        assert heartbeat_age(pg_url, worker_id) < 0.5
    finally:
        beat.stop()


async def test_a_worker_removed_from_the_queue_is_told_to_stop(app: App, pg_url: str) -> None:
    worker_id, _ = await running_job(app)
    lost = asyncio.Event()
    beat = Heartbeat(conninfo(pg_url), worker_id, interval=0.1, hung_after=30, on_lost=lost.set)
    beat.start()
    try:
        await app.job_manager.unregister_worker(worker_id)  # as another worker's prune of a silent one does
        await asyncio.wait_for(lost.wait(), 5)
    finally:
        beat.stop()
