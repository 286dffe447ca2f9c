"""Runs this process's Procrastinate worker and runs it again when it stops on its own (a database restart).

Procrastinate stops its worker when one of its side tasks fails: the heartbeat, the periodic
deferrer (which queues ``schedule``, ``retry_stalled`` and the other periodic jobs), the abort poll
or the LISTEN connection. A restart of the PostgreSQL server fails them, though the server is back
seconds later. The worker first finishes (or, after ``[daemon] shutdown_grace``, aborts) the jobs
it runs, then its run ends. The supervisor then logs why, waits (restarts.py: 1 s, doubling up to
30 s) and runs a new worker, which registers under a new id; it records this process's name for
the new id and beats its heartbeat (heartbeat.py). The old id's heartbeat stops, so jobs the old
worker could not mark as finished while the database was away go back to the queue through
``retry_stalled`` once it is ``[workers] stalled_after`` old: none of them runs here any more, so
none runs twice at once, and a send finds its outbox row's lease and looks whether the reply got
out before sending it again. Only a database unreachable at every attempt for two minutes ends
``finished`` without a stop: the process then exits 1 for systemd or the container to restart it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import TYPE_CHECKING

import psycopg
from procrastinate.job_context import JobContext, JobResult
from procrastinate.jobs import Job, Status
from procrastinate.retry import RetryDecision
from procrastinate.worker import Worker
from sqlalchemy.exc import SQLAlchemyError

from socialcrm import __version__
from socialcrm.durations import parse_duration
from socialcrm.errors import DatabaseError
from socialcrm.jobs.heartbeat import Heartbeat
from socialcrm.jobs.restarts import Restarts
from socialcrm.models import utcnow
from socialcrm.services import queue

if TYPE_CHECKING:
    from socialcrm.jobs.worker import QueueWork

logger = logging.getLogger(__name__)
FETCH_INTERVAL = 2.0  # seconds between a worker's looks for jobs that came due (new jobs wake it at once)
HUNG_AFTER_STALLED = 10  # a worker whose event loop has not run for this many times stalled_after is hung
HUNG_AT_LEAST = 60.0  # seconds
REACH_TIMEOUT = 5  # seconds a look whether the database answers may take
REGISTER_WITHIN = 30.0  # seconds a starting worker has to register
PROCRASTINATE_UTILS = "procrastinate.utils"  # logs a stopping worker's failed side tasks again
# The actions of those records, one per side task of Procrastinate's worker (Worker._start_side_tasks).
SIDE_TASKS = ("update_heartbeats", "deferrer", "poll_jobs_to_abort", "listener")
SIDE_TASK_ERRORS = frozenset(f"{task}_error" for task in SIDE_TASKS)


class QueueWorker(Worker):
    """Procrastinate's worker, but a job whose outcome cannot be stored because the database went away says so.

    Procrastinate stores a job's outcome in a task of its own; when that fails, the exception
    leaves the task unretrieved, and asyncio logs it at some later garbage collection as "Task
    exception was never retrieved" with a traceback. The job is then one of those the stopping
    worker could not mark as finished (the module docstring): a warning line says which.
    """

    async def _persist_job_status(
        self,
        job: Job,
        status: Status,
        retry_decision: RetryDecision | None,
        context: JobContext,
        job_result: JobResult | None,
    ) -> None:
        try:
            await super()._persist_job_status(job, status, retry_decision, context, job_result)
        except Exception as err:
            if not lost_database(err):
                raise
            logger.warning(
                "Job %s ended (%s) but the database went away before its outcome was stored (%s): "
                "it goes back to the queue once this worker's heartbeat is stalled",
                job.call_string,
                status.value,
                describe(err),
            )


class Supervisor:
    """One Procrastinate worker at a time for ``work``, with its heartbeat; a new one whenever it stops by itself."""

    def __init__(self, work: QueueWork) -> None:
        self.work = work
        self.worker: Worker | None = None
        self.worker_id: int | None = None
        self.heartbeat: Heartbeat | None = None
        self.finished: asyncio.Task[None] | None = None  # ends when stopped, or when the worker cannot start again
        self._run: asyncio.Task[None] | None = None  # the worker's run in progress
        self._run_since = 0.0
        self._stopping = asyncio.Event()
        self._side_task_failure: str | None = None
        self._side_task_error: BaseException | None = None  # the exception of that failure
        self._lost = False

    async def start(self) -> None:
        """Start the first worker (raising what keeps it from starting), then watch it."""
        await self._start_worker()
        self.finished = asyncio.create_task(self._supervise(), name="queue worker supervisor")

    async def stop(self, grace: float) -> None:
        """Let the worker finish its jobs (up to ``grace`` seconds, then abort them), leave the queue."""
        self._stopping.set()
        if self.finished is not None:
            self._stop_worker()
            try:
                await asyncio.wait_for(asyncio.shield(self.finished), grace + 15)
            except TimeoutError:
                logger.warning("The queue worker did not stop within %.0f s; cancelling it", grace + 15)
                self.finished.cancel()
            except Exception:  # noqa: BLE001 - stopping goes on; the worker's own error is logged here
                logger.exception("The queue worker ended with an error")
        if self.heartbeat is not None:
            self.heartbeat.stop()  # its jobs have ended (the end of the worker's run stops it too)
        if self.worker is not None:
            self.worker.logger.removeFilter(self._note_side_task_failure)
        logging.getLogger(PROCRASTINATE_UTILS).removeFilter(self._quieten_repeat)
        if self.worker_id is not None:
            worker_id = self.worker_id
            try:
                await self.work.runtime.db.run_write(lambda s: queue.forget_worker(s, worker_id))
            except (SQLAlchemyError, DatabaseError) as err:  # giving up: the database is away
                logger.warning("This worker's name stays on the admin page until its heartbeat is stale: %s", err)

    async def _start_worker(self) -> None:
        """Run a new worker (it registers under a new id), record which process it is, beat its heartbeat."""
        work = self.work
        config = work.config
        stalled = config.workers.stalled_seconds
        worker = QueueWorker(
            work.app_open(),
            name=work.name,
            concurrency=config.workers.concurrency,
            shutdown_graceful_timeout=parse_duration(config.daemon.shutdown_grace).total_seconds(),
            delete_jobs="successful",
            additional_context={"work": work},
            install_signal_handlers=False,
            update_heartbeat_interval=stalled / 3,
            stalled_worker_timeout=stalled,
            fetch_job_polling_interval=FETCH_INTERVAL,
        )
        if self._note_side_task_failure not in worker.logger.filters:  # logging keeps one logger per name
            worker.logger.addFilter(self._note_side_task_failure)
        utils_logger = logging.getLogger(PROCRASTINATE_UTILS)
        if self._quieten_repeat not in utils_logger.filters:
            utils_logger.addFilter(self._quieten_repeat)
        self.worker, self._side_task_failure, self._side_task_error, self._lost = worker, None, None, False
        self._run = asyncio.create_task(worker.run(), name="procrastinate worker")  # type: ignore[no-untyped-call]
        self._run_since = time.monotonic()
        try:
            self.worker_id = await self._record_name(worker, self._run)
        except BaseException:
            await self._end_run(worker, self._run)
            raise
        self.heartbeat = Heartbeat(
            work.conninfo,
            self.worker_id,
            interval=stalled / 3,
            hung_after=max(stalled * HUNG_AFTER_STALLED, HUNG_AT_LEAST),
            on_lost=functools.partial(self._taken_for_dead, worker),
        )
        self.heartbeat.start()
        logger.info(
            "Worker %s (id %s) takes jobs from the queue, %d at a time",
            work.name,
            self.worker_id,
            config.workers.concurrency,
        )

    async def _record_name(self, worker: Worker, run: asyncio.Task[None]) -> int:
        """Wait for Procrastinate to register the worker, then store which process it is; its id."""
        deadline = time.monotonic() + REGISTER_WITHIN
        while worker.worker_id is None and not run.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if run.done():
            run.result()  # raises what stopped it
            raise DatabaseError("the queue worker stopped while starting")
        worker_id = worker.worker_id
        if worker_id is None:
            raise DatabaseError(f"the queue worker did not register within {REGISTER_WITHIN:.0f} s")
        work, now = self.work, utcnow()
        await work.runtime.db.run_write(
            lambda s: queue.record_worker(s, worker_id, work.name, work.role, __version__, now=now)
        )
        return worker_id

    async def _end_run(self, worker: Worker, run: asyncio.Task[None]) -> None:
        """Stop a worker that did not start properly and wait for it (cancelling it after 15 s)."""
        worker.stop()  # type: ignore[no-untyped-call]
        try:
            await asyncio.wait_for(asyncio.shield(run), 15)
        except TimeoutError:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
        except Exception:  # noqa: BLE001, S110 - it failed while starting: the caller reports that
            pass

    def _taken_for_dead(self, worker: Worker) -> None:
        """Another worker removed ``worker`` from the queue: take no more jobs under its id (a later one is left be)."""
        if worker is self.worker and self._run is not None and not self._run.done():
            self._lost = True
            self._stop_worker()

    def _stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()  # type: ignore[no-untyped-call]

    def _note_side_task_failure(self, record: logging.LogRecord) -> bool:
        """A filter on the Procrastinate worker's logger: keep why it stops itself.

        Procrastinate logs that failure as an ERROR with a traceback. When the database went away
        (a restart), this process answers it with a new worker, so the record becomes one warning
        line (the traceback goes to DEBUG); any other failure is logged as it was.
        """
        worker = self.worker
        about = getattr(record, "worker", None)  # Procrastinate's extra: the worker's name and id
        ours = worker is not None and isinstance(about, dict) and about.get("worker_id") == worker.worker_id
        if ours and getattr(record, "action", None) == "side_task_failed":
            error = record.exc_info[1] if record.exc_info else None
            why = describe(error) if error is not None else str(getattr(record, "exception", "?")).strip()
            task = getattr(record, "task_name", "?")
            self._side_task_failure = f"its {task} task failed ({why})"
            self._side_task_error = error
            if error is not None and lost_database(error):
                logger.debug("The queue worker's %s task failed", task, exc_info=error)
                _as_warning(record, f"The queue worker's {task} task lost the database ({why}): the worker stops")
        return True

    def _quieten_repeat(self, record: logging.LogRecord) -> bool:
        """A filter on ``procrastinate.utils``, which logs a stopping worker's failed side tasks again as ERRORs.

        A side task's lost database: that of the failure noted above is dropped (said already), another
        one (two tasks can lose it at once) becomes one warning line. Any other error is logged as it was.
        """
        error = record.exc_info[1] if record.exc_info else None
        action = getattr(record, "action", None)
        if error is None or action not in SIDE_TASK_ERRORS or not lost_database(error):
            return True
        if error is self._side_task_error:
            return False
        task = action.removesuffix("_error")
        _as_warning(record, f"The queue worker's {task} task lost the database too ({describe(error)})")
        return True

    async def _supervise(self) -> None:
        """Run the worker again whenever it stops on its own; end when ``stop`` asks, or when giving up."""
        restarts = Restarts()
        while True:
            cause = await self._run_ended()
            if self._stopping.is_set():
                return
            ran_for = time.monotonic() - self._run_since
            reachable = await self._database_answers()
            restarts.stopped(time.monotonic(), ran_for, reachable)
            logger.warning(
                "The queue worker (id %s) stopped on its own after %.0f s: %s%s; a new one starts in %.0f s, and "
                "jobs it could not mark as finished go back to the queue once its heartbeat is %.0f s old",
                self.worker_id,
                ran_for,
                cause,
                "" if reachable else " (the database does not answer)",
                restarts.wait(),
                self.work.config.workers.stalled_seconds,
            )
            if not await self._restart(restarts):
                return

    async def _run_ended(self) -> str:
        """Wait for the worker's run to end and stop its heartbeat; why it ended."""
        assert self._run is not None
        error: Exception | None = None
        try:
            await self._run
        except Exception as err:  # noqa: BLE001 - whatever ended the run, a new worker answers it
            error = err
        finally:
            if self.heartbeat is not None:
                self.heartbeat.stop()
        if self._lost:
            return "another worker took it for dead (its heartbeat had not reached the database)"
        if self._side_task_failure is not None:
            return self._side_task_failure
        if error is not None:
            return describe(error)
        return "it ended without an error"

    async def _restart(self, restarts: Restarts) -> bool:
        """Start a new worker after the wait; False when ``stop`` asked meanwhile, or when giving up."""
        while True:
            if await self._stop_asked_within(restarts.wait()):
                return False
            reachable = await self._database_answers()
            if reachable:
                old = self.worker_id
                try:
                    await self._start_worker()
                except Exception as err:  # noqa: BLE001 - the next attempt follows
                    logger.warning("The queue worker did not start again: %s", err)
                    reachable = await self._database_answers()
                else:
                    if self._stopping.is_set():
                        self._stop_worker()  # asked while it started: a worker's run forgets a stop before it
                    logger.warning("The queue worker runs again, as id %s (it was %s)", self.worker_id, old)
                    return True
            now = time.monotonic()
            restarts.stopped(now, 0.0, reachable)
            if restarts.give_up(now):
                logger.error(
                    "The database has not answered for %.0f s (%d attempts to start the queue worker again): "
                    "giving up, for systemd or the container to start this process again",
                    now - (restarts.unreachable_since or now),
                    restarts.unreachable,
                )
                return False
            logger.warning(
                "The queue worker cannot start yet%s; next attempt in %.0f s",
                "" if reachable else ": the database does not answer",
                restarts.wait(),
            )

    async def _stop_asked_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _database_answers(self) -> bool:
        """Whether a new connection to the database answers a query now."""
        try:
            async with await psycopg.AsyncConnection.connect(
                self.work.conninfo, autocommit=True, connect_timeout=REACH_TIMEOUT
            ) as connection:
                await connection.execute("SELECT 1")
        except (psycopg.Error, OSError):
            return False
        return True


def lost_database(error: BaseException) -> bool:
    """True when ``error``, or what caused it, is PostgreSQL refusing or ending a connection (a restart, an outage)."""
    seen: BaseException | None = error
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, psycopg.OperationalError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _as_warning(record: logging.LogRecord, message: str) -> None:
    """Make ``record`` a one-line warning saying ``message``, without its traceback."""
    record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
    record.msg, record.args = message, None
    record.exc_info, record.exc_text = None, None


def describe(error: BaseException) -> str:
    """An error and what caused it, on one line (Procrastinate's "Database error." names its cause only there)."""
    parts: list[str] = []
    seen: BaseException | None = error
    while seen is not None and len(parts) < 3:
        text = " ".join(str(seen).split())
        parts.append(f"{type(seen).__name__}: {text}" if text else type(seen).__name__)
        seen = seen.__cause__ or seen.__context__
    return ", caused by ".join(parts)
