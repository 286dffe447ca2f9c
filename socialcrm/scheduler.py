"""APScheduler wiring: one interval job per enabled source, the outbox and housekeeping, with jitter.

The job store is APScheduler's memory store, rebuilt from the config at every start; cursors and
source state live in the database (DESIGN.md). Every job runs through ``JobTracker`` so shutdown
can wait for work in flight instead of cutting a transaction in half.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from socialcrm.db import cause_of, is_unavailable
from socialcrm.models import utcnow

logger = logging.getLogger(__name__)


class JobTracker:
    """Runs coroutines as tracked tasks so shutdown can wait for them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closing = False

    def wrap(self, name: str, factory: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
        """A job that runs ``factory()`` as a tracked task, logging (never raising) its errors.

        A database that cannot be used just now (SQLite's file locked past busy_timeout, a full disk, a
        PostgreSQL restart) is one error line; the job runs again at its next turn, as after any error.
        """

        async def job() -> None:
            if self.closing:
                return
            task = asyncio.ensure_future(factory())
            self._tasks.add(task)
            try:
                await task
            except asyncio.CancelledError:
                logger.warning("Job %s was cancelled at shutdown", name)
            except Exception as err:  # noqa: BLE001 - a job's bug is logged, the scheduler keeps going
                if is_unavailable(err):  # an outage, not a bug: one line, no traceback
                    why = cause_of(err)
                    logger.error("Job %s: the database is unavailable (%s); it runs again at its next turn", name, why)
                else:
                    logger.exception("Job %s failed", name)
            finally:
                self._tasks.discard(task)

        return job

    @property
    def in_flight(self) -> int:
        """How many jobs are running now."""
        return len(self._tasks)

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for running jobs, then cancel what is left."""
        self.closing = True
        if not self._tasks:
            return
        logger.info("Waiting up to %.0fs for %d job(s) in flight", grace, len(self._tasks))
        done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)


class Scheduler:
    """Owns the AsyncIOScheduler and the tracker."""

    def __init__(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.tracker = JobTracker()

    def every(
        self,
        name: str,
        interval: timedelta,
        factory: Callable[[], Awaitable[Any]],
        *,
        first_run_within: float = 5.0,
    ) -> None:
        """Run ``factory()`` every ``interval`` (one at a time; missed runs coalesce), starting soon."""
        seconds = interval.total_seconds()
        jitter = min(seconds * 0.1, 60.0)
        first = utcnow() + timedelta(seconds=random.uniform(0.2, max(0.3, min(first_run_within, seconds))))
        self.scheduler.add_job(
            self.tracker.wrap(name, factory),
            IntervalTrigger(seconds=seconds, jitter=int(jitter) or None, timezone="UTC"),
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(30, int(seconds)),
            next_run_time=first,
        )

    def start(self) -> None:
        """Start running the scheduled jobs."""
        self.scheduler.start()

    async def shutdown(self, grace: float) -> None:
        """Stop starting jobs, then let the running ones finish (or cancel them after ``grace``)."""
        self.tracker.closing = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.tracker.drain(grace)
