"""The job queue on PostgreSQL with the real Procrastinate: what the scheduler queues, what people see, stalled jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from procrastinate.jobs import Status
from sqlalchemy import text
from sqlmodel import select

from socialcrm.config import parse_config
from socialcrm.db import Database
from socialcrm.jobs.tasks import RETRY_MENTIONS_TASK, SCHEDULE_TASK
from socialcrm.jobs.worker import QueueWork
from socialcrm.models import MentionRetry, SourceState, utcnow
from socialcrm.runtime import Runtime
from socialcrm.services import outbox, queue, retries
from tests.core.fakes import FakeClassifier
from tests.rules.factories import mention

CONFIG = """
[workers]
stalled_after = "6s"
[[sources]]
name = "due"
type = "feed"
url = "http://127.0.0.1:9/due.xml"
[[sources]]
name = "later"
type = "feed"
url = "http://127.0.0.1:9/later.xml"
interval = "15m"
[[sources]]
name = "paused"
type = "feed"
url = "http://127.0.0.1:9/paused.xml"
"""


@pytest.fixture
async def work(pg_url: str) -> AsyncIterator[QueueWork]:
    """A QueueWork connected to the queue of a fresh database, running no jobs itself."""
    db = Database(pg_url)
    runtime = await Runtime.open(parse_config(CONFIG), db=db, classifier=FakeClassifier())
    queue_work = QueueWork(runtime, "worker")
    await queue_work.open()
    try:
        yield queue_work
    finally:
        await queue_work.stop(0)
        await runtime.close()


def jobs(db: Database) -> list[tuple[str, str, str | None, str | None, object]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT task_name, status::text, lock, queueing_lock, scheduled_at FROM procrastinate_jobs ORDER BY id"
            )
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def status(db: Database) -> queue.QueueStatus:
    with db.read() as session:
        return queue.queue_status(session, 6.0)


async def test_schedule_queues_each_due_poll_and_send_once(work: QueueWork) -> None:
    db = work.runtime.db
    now = utcnow()
    with db.write() as session:
        session.add(SourceState(name="later", type="feed", state="ok", last_poll_at=now - timedelta(minutes=1)))
        session.add(SourceState(name="paused", type="feed", state="paused"))
        item = outbox.enqueue(session, "webhook", "hook:1", {"webhook": "ops", "body": {}}, now=now)
        item_id = item.id

    assert await work.schedule() == "queued 2 poll(s), 1 send(s)"
    assert await work.schedule() == "queued 0 poll(s), 0 send(s)"  # each has its job waiting already

    queued = jobs(db)
    assert [(task, state, lock, qlock) for task, state, lock, qlock, _ in queued] == [
        (queue.POLL_TASK, "todo", "poll:due", "poll:due"),
        (queue.POLL_TASK, "todo", "poll:later", "poll:later"),
        (queue.SEND_TASK, "todo", f"outbox:{item_id}", f"outbox:{item_id}"),
    ]
    due_at, later_at, send_at = (row[4] for row in queued)
    assert due_at is None and send_at is None
    assert now + timedelta(minutes=14) <= later_at <= now + timedelta(minutes=15, seconds=61)  # type: ignore[operator]

    seen = status(db)
    assert (seen.waiting, seen.scheduled, seen.running, seen.stalled) == (2, 1, 0, 0)
    assert seen.waiting_by_queue == {"poll": 1, "send": 1}
    assert seen.sources["due"].state == "waiting" and seen.sources["later"].state == "scheduled"
    assert "paused" not in seen.sources


async def test_a_dead_workers_poll_shows_as_stalled_then_goes_back_to_the_queue(work: QueueWork) -> None:
    db = work.runtime.db
    await work.schedule()
    manager = work._app().job_manager
    dead = await manager.register_worker()
    with db.write() as session:
        queue.record_worker(session, dead, "host-a:4242", "worker", "test", now=utcnow())
    job = await manager.fetch_job(queues=["poll"], worker_id=dead)
    assert job is not None and job.task_kwargs == {"source": "due"}

    running = status(db)
    assert running.sources["due"].state == "running" and running.sources["due"].worker == "host-a:4242"
    assert [(w.name, w.alive, w.running) for w in running.workers] == [("host-a:4242", True, 1)]

    with db.engine.begin() as conn:  # the worker is killed: its heartbeat stops
        conn.execute(
            text("UPDATE procrastinate_workers SET last_heartbeat = NOW() - interval '1 minute' WHERE id = :id"),
            {"id": dead},
        )
    stalled = status(db)
    assert stalled.stalled == 1 and stalled.sources["due"].state == "stalled"
    assert [(w.name, w.alive) for w in stalled.workers] == [("host-a:4242", False)]

    assert await work.retry_stalled() == "retried 1 job(s), dropped 0 already queued again, forgot 1 worker(s)"
    after = status(db)
    assert after.sources["due"].state == "waiting" and after.stalled == 0 and after.workers == []
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM workerprocess")).scalar() == 0


async def test_a_dead_workers_send_ends_when_the_same_send_waits_again_so_the_row_still_leaves(
    work: QueueWork,
) -> None:
    # A worker dies while it runs an outbox row's send job; meanwhile a second send job for the same row
    # was queued (two schedulers at once used to do that). The dead job cannot go back beside the waiting
    # one (one waiting job per row), and while it stays "doing" it holds the row's lock: the waiting job
    # could never start and the reply would never leave.
    db = work.runtime.db
    with db.write() as session:
        item_id = outbox.enqueue(session, "webhook", "hook:1", {"webhook": "ops", "body": {}}, now=utcnow()).id
    assert await work.schedule() == "queued 3 poll(s), 1 send(s)"
    manager = work._app().job_manager
    dead = await manager.register_worker()
    first = await manager.fetch_job(queues=["send"], worker_id=dead)
    assert first is not None and first.task_kwargs == {"item_id": item_id}
    lock = queue.send_lock(item_id)
    again = work._app().configure_task(queue.SEND_TASK, lock=lock, queueing_lock=lock, task_kwargs={"item_id": item_id})
    await again.defer_async()
    alive = await manager.register_worker()
    assert await manager.fetch_job(queues=["send"], worker_id=alive) is None  # the lock is held by the dead one

    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE procrastinate_workers SET last_heartbeat = NOW() - interval '1 minute' WHERE id = :id"),
            {"id": dead},
        )
    assert await work.retry_stalled() == "retried 0 job(s), dropped 1 already queued again, forgot 1 worker(s)"
    assert [(task, state) for task, state, *_ in jobs(db) if task == queue.SEND_TASK] == [
        (queue.SEND_TASK, "aborted"),
        (queue.SEND_TASK, "todo"),
    ]
    waiting = await manager.fetch_job(queues=["send"], worker_id=alive)
    assert waiting is not None and waiting.task_kwargs == {"item_id": item_id}


async def test_two_schedulers_never_run_at_once(work: QueueWork) -> None:
    # A scheduler slower than its 5 s must not meet the next one: both would find the same rows unqueued.
    manager = work._app().job_manager
    worker = await manager.register_worker()
    for timestamp in (1, 2):
        await work._app().tasks[SCHEDULE_TASK].defer_async(timestamp=timestamp)
        if timestamp == 1:
            running = await manager.fetch_job(queues=["maintenance"], worker_id=worker)
            assert running is not None and running.task_name == SCHEDULE_TASK
    assert await manager.fetch_job(queues=["maintenance"], worker_id=worker) is None
    await manager.finish_job(running, Status.SUCCEEDED, delete_job=True)
    following = await manager.fetch_job(queues=["maintenance"], worker_id=worker)
    assert following is not None and following.task_name == SCHEDULE_TASK


async def test_run_polls_every_enabled_source_at_start_even_one_whose_next_poll_waits_for_later(
    work: QueueWork,
) -> None:
    # `socialcrm run` has always polled every source when it starts; on PostgreSQL a poll queued for later
    # (the source was polled a minute before the restart) gives way to one now.
    db = work.runtime.db
    with db.write() as session:
        session.add(SourceState(name="later", type="feed", state="ok", last_poll_at=utcnow() - timedelta(minutes=1)))
    assert await work.schedule() == "queued 3 poll(s), 0 send(s)"
    assert [row[4] is None for row in jobs(db)] == [True, False, True]  # due now, later, never-polled "paused"

    assert await work.poll_everything_now() == "queued 1 poll(s)"
    polls = [(lock, scheduled_at) for task, _, lock, _, scheduled_at in jobs(db) if task == queue.POLL_TASK]
    assert sorted(lock for lock, _ in polls) == ["poll:due", "poll:later", "poll:paused"]
    assert all(at is None for _, at in polls)
    assert await work.poll_everything_now() == "queued 0 poll(s)"  # each has one waiting to run now

    # A poll that runs already is not followed by a second one.
    manager = work._app().job_manager
    running = await manager.fetch_job(queues=["poll"], worker_id=await manager.register_worker())
    assert running is not None
    await manager.cancel_job_by_id_async(
        next(j for j in await manager.list_jobs_async(status="todo")).id, delete_job=True
    )
    assert await work.poll_everything_now() == "queued 1 poll(s)"  # the cancelled one's source only
    assert status(db).sources[running.task_kwargs["source"]].state == "running"


async def test_workers_retry_a_mention_whose_linking_failed_once_its_retry_is_due(work: QueueWork) -> None:
    """On PostgreSQL the workers, not only ``socialcrm run`` on SQLite, take up mentions waiting for a retry."""
    assert work.app is not None
    assert RETRY_MENTIONS_TASK in work.app.tasks
    assert any(p.task.name == RETRY_MENTIONS_TASK for p in work.app.periodic_registry.periodic_tasks.values())
    db = work.runtime.db
    long_ago = utcnow() - timedelta(days=1)
    with db.write() as session:
        stored = mention(session, "Where is my order?", source="due")
        retries.record_failure(session, stored, "linking failed: database gone", now=long_ago)
        later = mention(session, "Not yet, please", source="due")
        retries.record_failure(session, later, "linking failed: database gone", now=utcnow())
        waiting_id = later.id
    assert await work.retry_mentions() == "retried 1 mention(s), 0 failed again"
    with db.read() as session:
        assert [r.mention_id for r in session.exec(select(MentionRetry)).all()] == [waiting_id]
