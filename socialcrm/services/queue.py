"""The job queue on PostgreSQL as people and the scheduler see it: what waits, what runs where, what stalled.

Procrastinate keeps jobs in ``procrastinate_jobs`` and each worker's heartbeat in
``procrastinate_workers``; ``workerprocess`` names the process (host:pid) behind a worker id. This
module reads them (with the database's own clock, the one heartbeats are written with) and keeps
the names of worker processes. On
SQLite there is no queue, since one process does all the work; ``queue_status`` then says so.
``queue_status`` is the one summary that the command line, the admin page and metrics share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlmodel import Session, col, select

from socialcrm.models import OutboxItem, WorkerProcess

POLL_TASK = "socialcrm:poll_source"
SEND_TASK = "socialcrm:send_outbox_item"
QUEUES = ("poll", "send", "maintenance")
JobState = Literal["running", "waiting", "scheduled", "stalled"]


def poll_lock(source: str) -> str:
    """The lock (and queueing lock) of a source's poll jobs: one runs at a time, at most one waits."""
    return f"poll:{source}"


def send_lock(item_id: int) -> str:
    """The lock (and queueing lock) of one outbox row's send jobs."""
    return f"outbox:{item_id}"


@dataclass(frozen=True)
class WorkerInfo:
    """One worker process Procrastinate knows, with what it runs now."""

    id: int
    name: str
    role: str
    started_at: datetime | None
    last_heartbeat: datetime
    alive: bool
    running: int


@dataclass(frozen=True)
class SourceJob:
    """The poll job of one source that is waiting, running or stalled, and the worker that holds it."""

    source: str
    state: JobState
    worker: str | None
    at: datetime | None  # when it started (running, stalled) or is due (waiting, scheduled)


@dataclass(frozen=True)
class QueueStatus:
    """How much work waits and runs, on which workers, and what stalled (a dead worker's jobs)."""

    available: bool
    waiting: int = 0  # due now, not started
    scheduled: int = 0  # due later
    running: int = 0
    stalled: int = 0
    failed: int = 0  # kept for a week, then removed by housekeeping
    waiting_by_queue: dict[str, int] = field(default_factory=dict)
    workers: list[WorkerInfo] = field(default_factory=list)
    sources: dict[str, SourceJob] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for people: depth, running jobs on how many live workers, stalled and failed jobs."""
        if not self.available:
            return "No job queue: on SQLite one process (socialcrm run) does all the work."
        alive = sum(1 for w in self.workers if w.alive)
        return (
            f"Queue: {self.waiting} waiting, {self.scheduled} scheduled, {self.running} running "
            f"on {alive} live worker(s), {self.stalled} stalled, {self.failed} failed"
        )


def has_queue(session: Session) -> bool:
    """True on PostgreSQL once the migrations created Procrastinate's tables."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    return _rows(session, "SELECT to_regclass('procrastinate_jobs') IS NOT NULL")[0][0] is True


def queue_status(session: Session, stalled_after: float) -> QueueStatus:
    """The queue now: depth per state and queue, live and dead workers, and every source's poll job."""
    if not has_queue(session):
        return QueueStatus(available=False)
    params = {"stalled": stalled_after}
    waiting_by_queue: dict[str, int] = {}
    counts = {"waiting": 0, "scheduled": 0, "running": 0, "failed": 0}
    for queue, state, number in _rows(
        session,
        """
        SELECT queue_name,
               CASE WHEN status = 'doing' THEN 'running'
                    WHEN status = 'failed' THEN 'failed'
                    WHEN scheduled_at IS NOT NULL AND scheduled_at > NOW() THEN 'scheduled'
                    ELSE 'waiting' END AS state,
               count(*)
          FROM procrastinate_jobs
         WHERE status IN ('todo', 'doing', 'failed')
         GROUP BY 1, 2
        """,
    ):
        counts[state] += number
        if state == "waiting":
            waiting_by_queue[queue] = waiting_by_queue.get(queue, 0) + number
    workers = [
        WorkerInfo(
            id=worker_id,
            name=name or f"worker {worker_id}",
            role=role or "?",
            started_at=started_at,
            last_heartbeat=heartbeat,
            alive=alive,
            running=running,
        )
        for worker_id, name, role, started_at, heartbeat, alive, running in _rows(
            session,
            """
            SELECT w.id, p.name, p.role, p.started_at, w.last_heartbeat,
                   w.last_heartbeat >= NOW() - make_interval(secs => :stalled),
                   (SELECT count(*) FROM procrastinate_jobs j WHERE j.worker_id = w.id AND j.status = 'doing')
              FROM procrastinate_workers w LEFT JOIN workerprocess p ON p.id = w.id
             ORDER BY w.id
            """,
            params,
        )
    ]
    sources = {}
    stalled = 0
    # Every running job (to count the stalled ones) and every poll job (to show it on its source).
    now = _db_now(session)
    for source, status, due, started, worker, alive in _rows(
        session,
        """
        SELECT j.args->>'source', j.status, j.scheduled_at,
               (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'started'),
               COALESCE(p.name, 'worker ' || j.worker_id),
               w.last_heartbeat >= NOW() - make_interval(secs => :stalled)
          FROM procrastinate_jobs j
          LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
          LEFT JOIN workerprocess p ON p.id = j.worker_id
         WHERE j.status = 'doing' OR (j.status = 'todo' AND j.task_name = :poll)
        """,
        {**params, "poll": POLL_TASK},
    ):
        if status == "doing" and not alive:
            stalled += 1
        if source is None:
            continue
        if status == "doing":
            sources[source] = SourceJob(source, "running" if alive else "stalled", worker, started)
        elif source not in sources:  # a poll that runs shows, not the next one waiting behind it
            scheduled = isinstance(due, datetime) and due > now
            sources[source] = SourceJob(source, "scheduled" if scheduled else "waiting", None, due)
    return QueueStatus(
        available=True,
        waiting=counts["waiting"],
        scheduled=counts["scheduled"],
        running=counts["running"],
        stalled=stalled,
        failed=counts["failed"],
        waiting_by_queue=waiting_by_queue,
        workers=workers,
        sources=sources,
    )


def _db_now(session: Session) -> datetime:
    value = _rows(session, "SELECT NOW()")[0][0]
    assert isinstance(value, datetime)
    return value


def _rows(session: Session, sql: str, params: Mapping[str, object] | None = None) -> list[tuple[Any, ...]]:
    result = session.connection().execute(text(sql), params or {})
    return [tuple(row) for row in result]


def pending_polls(session: Session) -> set[str]:
    """Sources with a poll job waiting or running (the scheduler adds none for them)."""
    rows = _rows(
        session,
        "SELECT args->>'source' FROM procrastinate_jobs WHERE task_name = :task AND status IN ('todo', 'doing')",
        {"task": POLL_TASK},
    )
    return {str(source) for (source,) in rows if source is not None}


def later_polls(session: Session) -> dict[str, int]:
    """The poll jobs that wait for a later time: job id by source."""
    rows = _rows(
        session,
        "SELECT args->>'source', id FROM procrastinate_jobs "
        "WHERE task_name = :task AND status = 'todo' AND scheduled_at > NOW()",
        {"task": POLL_TASK},
    )
    return {str(source): int(job_id) for source, job_id in rows if source is not None}


def pending_sends(session: Session) -> set[int]:
    """Outbox rows with a send job waiting or running."""
    rows = _rows(
        session,
        "SELECT (args->>'item_id')::bigint FROM procrastinate_jobs "
        "WHERE task_name = :task AND status IN ('todo', 'doing')",
        {"task": SEND_TASK},
    )
    return {int(item) for (item,) in rows if isinstance(item, int)}


def due_outbox_items(
    session: Session, until: datetime, skip: Iterable[int], limit: int = 500
) -> list[tuple[int, datetime]]:
    """Outbox rows to send by ``until`` (oldest due first) that have no send job yet: (id, due time)."""
    skipped = set(skip)
    rows = session.exec(
        select(OutboxItem.id, OutboxItem.next_attempt_at)
        .where(col(OutboxItem.status).in_(("pending", "sending")), OutboxItem.next_attempt_at <= until)
        .order_by(col(OutboxItem.next_attempt_at), col(OutboxItem.id))
        .limit(limit + len(skipped))
    ).all()
    return [(item_id, due) for item_id, due in rows if item_id is not None and item_id not in skipped][:limit]


def record_worker(session: Session, worker_id: int, name: str, role: str, version: str, *, now: datetime) -> None:
    """Remember which process (host:pid) Procrastinate's worker ``worker_id`` is."""
    session.merge(WorkerProcess(id=worker_id, name=name[:128], role=role, version=version[:32], started_at=now))


def forget_worker(session: Session, worker_id: int) -> None:
    """A worker left the queue."""
    worker = session.get(WorkerProcess, worker_id)
    if worker is not None:
        session.delete(worker)


def forget_gone_workers(session: Session) -> None:
    """Drop the names of workers Procrastinate no longer knows (stopped, or pruned without a heartbeat)."""
    session.connection().execute(
        text("DELETE FROM workerprocess WHERE id NOT IN (SELECT id FROM procrastinate_workers)")
    )
