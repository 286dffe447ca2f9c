"""One process's share of the queued work on PostgreSQL: a Procrastinate worker and what its jobs do.

``socialcrm worker`` runs one ``QueueWork`` (and no web app); ``socialcrm run`` on PostgreSQL runs one
beside the web app. Any number of them, on any machines, share the queue in the database. Each job
runs the same code as the single-process daemon: ``Poller.run_once`` for a poll,
``OutboxWorker.deliver`` for a send, ``run_housekeeping`` for housekeeping.

A worker sends a heartbeat every third of ``[workers] stalled_after``, from a thread and a database
connection of its own (socialcrm/jobs/heartbeat.py), so a worker whose event loop is busy for a while
on a loaded machine still counts as alive. When one dies (kill -9, a lost machine) or its event loop
hangs for ten times ``stalled_after`` (at least a minute), its heartbeat stops and the
``retry_stalled`` job of another worker puts its running jobs back into the queue: a poll simply runs
again (stored pages and their cursors are kept, duplicates are dropped by the (source, external_id)
key); a send finds its outbox row still "sending" and first looks whether the reply got out.
When the database restarts, Procrastinate's worker stops itself; socialcrm/jobs/supervisor.py runs a
new one a few seconds later, and the process exits 1 only if the database stays away for minutes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import datetime, timedelta

from procrastinate import App, PsycopgConnector, exceptions
from procrastinate.jobs import Job, JobDeferrer, Status
from procrastinate.manager import JobManager
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import make_url
from sqlmodel import Session

from socialcrm.config import Config
from socialcrm.db import cause_of, is_unavailable
from socialcrm.durations import parse_duration
from socialcrm.errors import DatabaseError
from socialcrm.jobs.schedule import plan_polls
from socialcrm.jobs.schema import schema_problem
from socialcrm.jobs.supervisor import Supervisor
from socialcrm.jobs.tasks import register_tasks
from socialcrm.models import utcnow
from socialcrm.runtime import Runtime
from socialcrm.services import alerts, digests, queue, sources
from socialcrm.services.housekeeping import run_housekeeping

logger = logging.getLogger(__name__)
TICK = timedelta(seconds=5)  # how often `schedule` runs (tasks.EVERY_5_SECONDS)
FINISHED_JOBS_KEPT_HOURS = 7 * 24
DEFER_BATCH = 500  # jobs the scheduler adds in one statement
POOL_TIMEOUT = 30.0  # seconds a query of the queue waits for a connection (psycopg_pool's default)


def conninfo(url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def process_name() -> str:
    """How workers are told apart in `socialcrm sources` and the admin page: host:pid."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}"


class QueueWork:
    """Runs jobs from the queue in this process until stopped."""

    def __init__(self, runtime: Runtime, role: str) -> None:
        self.runtime = runtime
        self.role = role
        self.name = process_name()
        self._insights_at: datetime | None = None  # when this process last looked for alerts and digests
        self.app: App | None = None
        self.supervisor: Supervisor | None = None  # runs the Procrastinate worker (``start``)
        self.finished: asyncio.Task[None] | None = None  # ends when stopped, or when the worker cannot start again
        self._pool: AsyncConnectionPool | None = None

    @property
    def config(self) -> Config:
        """The config in force (a reload replaces the runtime's)."""
        return self.runtime.config

    async def start(self) -> None:
        """Open the queue and start fetching jobs; a worker that stops on its own runs again (supervisor.py)."""
        await self.open()
        self.supervisor = Supervisor(self)
        await self.supervisor.start()
        self.finished = self.supervisor.finished

    @property
    def conninfo(self) -> str:
        """The libpq connection string of this process's database."""
        return conninfo(self.runtime.db.url)

    def app_open(self) -> App:
        """The Procrastinate app (``open`` made it)."""
        return self._app()

    async def open(self) -> None:
        """Check the queue's schema and connect to it (what deferring jobs needs; ``start`` also runs them)."""
        db = self.runtime.db
        problem = await db.run_read(lambda s: schema_problem(s.connection()))
        if problem is not None:
            raise DatabaseError(problem)
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            # Procrastinate logs every job start and end at INFO: a line per tick. Our jobs log what matters.
            logging.getLogger("procrastinate").setLevel(logging.WARNING)
        workers = self.config.workers
        self._pool = AsyncConnectionPool(
            conninfo(db.url),
            min_size=1,
            max_size=4 + workers.concurrency // 4,
            open=False,
            name="socialcrm-queue",
            check=AsyncConnectionPool.check_connection,
            timeout=POOL_TIMEOUT,
        )
        await self._pool.open(wait=True, timeout=30)
        self.app = App(connector=PsycopgConnector())
        register_tasks(self.app)
        await self.app.open_async(self._pool)

    async def stop(self, grace: float) -> None:
        """Finish the jobs in flight (up to ``grace`` seconds, then abort them), leave the queue."""
        if self.supervisor is not None:
            await self.supervisor.stop(grace)
        if self.app is not None:
            await self.app.close_async()
        if self._pool is not None:
            await self._pool.close()

    # -- what the jobs do (socialcrm/jobs/tasks.py) ------------------------------------------------

    async def poll(self, name: str) -> str:
        """Poll one source once, as the single-process daemon would."""
        source = next((s for s in self.config.sources if s.name == name), None)
        if source is None or not source.enabled:
            logger.warning("Poll of %s skipped: not an enabled source in this worker's config", name)
            return "not an enabled source here"
        poller = self.runtime.poller(source)
        if poller is None:
            return f"cannot start: {self.runtime.broken.get(name, 'not built')}"
        try:
            result = await poller.run_once()
        except Exception as err:
            if not is_unavailable(err):
                raise
            # One line, not Procrastinate's traceback of a failed job (its SQL parameters may hold posts).
            logger.warning(
                "Poll of %s: the database is unavailable (%s); it is polled again when due", name, cause_of(err)
            )
            return "database unavailable: polled again when due"
        if result.skipped_reason:
            return f"skipped: {result.skipped_reason}"
        if result.error:
            return f"failed: {result.error}"
        return f"{result.fetched} fetched, {result.new} new"

    async def send(self, item_id: int) -> str:
        """Deliver one outbox row."""
        result = await self.runtime.outbox.deliver(item_id)
        done = {"sent": result.sent, "manual": result.manual, "failed": result.failed, "retrying": result.retrying}
        return ", ".join(f"{k} {v}" for k, v in done.items() if v) or "not due (sent, or held by another worker)"

    async def schedule(self) -> str:
        """Queue a poll for every source that is due and a send for every outbox row that is due."""
        app = self._app()
        now = utcnow()

        def read(session: Session) -> tuple[dict[str, sources.PollTiming], set[str], list[tuple[int, datetime]]]:
            pending_sends = queue.pending_sends(session)
            due = queue.due_outbox_items(session, now + TICK, pending_sends)
            return sources.poll_timings(session), queue.pending_polls(session), due

        states, pending, due_items = await self.runtime.db.run_read(read)
        poll_jobs = []
        for plan in plan_polls(self.config.sources, states, pending, now):
            lock = queue.poll_lock(plan.source)
            poll_jobs.append(
                app.configure_task(
                    queue.POLL_TASK,
                    lock=lock,
                    queueing_lock=lock,
                    schedule_at=plan.at,
                    task_kwargs={"source": plan.source},
                ).job
            )
        send_jobs = []
        for item_id, due in due_items:
            lock = queue.send_lock(item_id)
            at = due if due > now else None
            send_jobs.append(
                app.configure_task(
                    queue.SEND_TASK, lock=lock, queueing_lock=lock, schedule_at=at, task_kwargs={"item_id": item_id}
                ).job
            )
        polls = await _defer_all(app.job_manager, poll_jobs)
        sends = await _defer_all(app.job_manager, send_jobs)
        return f"queued {polls} poll(s), {sends} send(s)"

    async def poll_everything_now(self) -> str:
        """Queue a poll of every enabled source to run now, unless one runs or waits to run now already.

        A poll waiting for a later time gives way: it is cancelled and one for now takes its place.
        """
        app = self._app()
        manager = app.job_manager
        pending, later = await self.runtime.db.run_read(lambda s: (queue.pending_polls(s), queue.later_polls(s)))
        queued = 0
        for source in self.config.sources:
            if not source.enabled or (source.name in pending and source.name not in later):
                continue
            lock = queue.poll_lock(source.name)
            deferrer = app.configure_task(
                queue.POLL_TASK, lock=lock, queueing_lock=lock, task_kwargs={"source": source.name}
            )
            for _ in range(3):
                job_id = later.get(source.name)
                if job_id is not None and not await manager.cancel_job_by_id_async(job_id, delete_job=True):
                    break  # it started meanwhile
                if await _defer(deferrer):
                    queued += 1
                    break
                # The scheduler queued one for later in between: that one gives way too.
                later = await self.runtime.db.run_read(queue.later_polls)
        return f"queued {queued} poll(s)"

    async def retry_stalled(self) -> str:
        """Put the running jobs of workers without a heartbeat back into the queue, and forget those workers."""
        manager = self._app().job_manager
        stalled_after = self.config.workers.stalled_seconds
        retried = dropped = 0
        for job in await manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
            try:
                await manager.retry_job(job)
            except exceptions.UniqueViolation as err:
                if err.queueing_lock is None:
                    raise
                # The same work already waits in a job of its own (the same poll, the same outbox row): this
                # one cannot go back beside it, and kept "doing" it would hold the lock that one waits for.
                if await _drop_stalled(manager, job):
                    dropped += 1
                continue
            except exceptions.ProcrastinateException as err:
                logger.debug("Stalled job %s could not be retried (finished meanwhile?): %s", job.id, err)
                continue
            retried += 1
            logger.warning(
                "Job %s goes back to the queue: its worker sent no heartbeat for %.0f s", job.call_string, stalled_after
            )
        pruned = await manager.prune_stalled_workers(stalled_after)
        await self.runtime.db.run_write(queue.forget_gone_workers)
        return f"retried {retried} job(s), dropped {dropped} already queued again, forgot {len(pruned)} worker(s)"

    async def insights(self) -> str:
        """Queue spike alerts and weekly digests (every ``[alerts] check_every``); the outbox sends them."""
        config = self.config
        now = utcnow()
        every = parse_duration(config.alerts.check_every)
        if self._insights_at is not None and now - self._insights_at < every:
            return "not due"
        self._insights_at = now
        queued = await self.runtime.db.run_write(lambda s: alerts.check(s, config, now))
        letters = await self.runtime.db.run_write(lambda s: digests.check(s, config, now))
        return f"queued {len(queued)} alert(s), {len(letters)} digest(s)"

    async def retry_mentions(self) -> str:
        """Process again the stored mentions whose linking or rules failed and whose retry is due."""
        processed = await self.runtime.retry_failed()
        return f"retried {len(processed.done) + len(processed.failed)} mention(s), {len(processed.failed)} failed again"

    async def housekeeping(self) -> str:
        """Retention and expired sessions; finished jobs older than a week leave the queue."""
        config = self.config
        done = await self.runtime.db.run_write(lambda s: run_housekeeping(s, config))
        await self._app().job_manager.delete_old_jobs(
            nb_hours=FINISHED_JOBS_KEPT_HOURS, include_failed=True, include_cancelled=True, include_aborted=True
        )
        return ", ".join(f"{k}={v}" for k, v in done.items()) or "nothing to do"

    def _app(self) -> App:
        assert self.app is not None, "the queue is not open"
        return self.app


async def _drop_stalled(manager: JobManager, job: Job) -> bool:
    """End a dead worker's job whose work waits in another job already (kept a week as "aborted")."""
    try:
        await manager.finish_job(job, Status.ABORTED, delete_job=False)
    except exceptions.ProcrastinateException as err:
        logger.debug("Stalled job %s could not be ended (finished meanwhile?): %s", job.id, err)
        return False
    logger.warning(
        "Job %s of a worker without a heartbeat ends here: the same job waits in the queue already", job.call_string
    )
    return True


async def _defer_all(manager: JobManager, jobs: list[Job]) -> int:
    """Defer ``jobs``, hundreds in one statement; return how many were added.

    A batch fails whole when one of its jobs meets a queueing lock (the same poll or send was queued
    since the scheduler looked, by `socialcrm run` polling everything at its start): that batch is then
    deferred job by job, and only the one already waiting is left out.
    """
    added = 0
    for start in range(0, len(jobs), DEFER_BATCH):
        chunk = jobs[start : start + DEFER_BATCH]
        try:
            await manager.batch_defer_jobs_async(chunk)
        except exceptions.AlreadyEnqueued:
            for job in chunk:
                try:
                    await manager.defer_job_async(job)
                except exceptions.AlreadyEnqueued:
                    continue
                added += 1
        else:
            added += len(chunk)
    return added


async def _defer(deferrer: JobDeferrer) -> int:
    """Defer a configured job; 0 when its queueing lock says one is already waiting."""
    try:
        await deferrer.defer_async()
    except exceptions.AlreadyEnqueued:
        return 0
    return 1
