"""Socialcrm's Procrastinate tasks: what a job does, its queue, lock and priority, and the periodic ones.

* ``poll_source(source)``: one poll of one source. Lock and queueing lock ``poll:<source>``: a source
  is never polled by two workers at once, and at most one further poll of it waits.
* ``send_outbox_item(item_id)``: deliver one outbox row (a reply or a webhook). Lock and queueing lock
  ``outbox:<id>``; the row's own lease (socialcrm/outbox.py) stays underneath as the last guard.
* ``schedule`` (every 5 s): adds the poll jobs that are due and a send job for every due outbox row.
* ``retry_stalled`` (every 5 s): jobs of workers whose heartbeat stopped go back to the queue.
* ``housekeeping`` (hourly): retention, and finished jobs older than a week are removed.
* ``retry_mentions`` (every minute): stored mentions whose linking or rules failed and whose retry is due
  are processed again (``services.retries``), as ``socialcrm run`` does on SQLite. Its lock keeps two
  workers from processing the same mention at once.
* ``insights`` (every 5 s, working at most every ``[alerts] check_every``): spike alerts and weekly digests are queued.

Periodic jobs are deferred by every worker, but Procrastinate stores one job per task and time
(``procrastinate_periodic_defers``), so each runs once across all workers; a queueing lock keeps
a second one from piling up behind a slow one. ``schedule`` also holds a lock: two schedulers at once
(one slower than its 5 s) could both find a row without its send job and queue two. ``retry_stalled``
holds none: it is what frees the locks of a dead worker's jobs, its own included. The bodies live in
``QueueWork`` (worker.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from procrastinate import App, JobContext

from socialcrm.services.queue import POLL_TASK, SEND_TASK

if TYPE_CHECKING:
    from socialcrm.jobs.worker import QueueWork

SCHEDULE_TASK = "socialcrm:schedule"
RETRY_STALLED_TASK = "socialcrm:retry_stalled"
HOUSEKEEPING_TASK = "socialcrm:housekeeping"
INSIGHTS_TASK = "socialcrm:insights"
RETRY_MENTIONS_TASK = "socialcrm:retry_mentions"
EVERY_MINUTE = "* * * * *"
EVERY_5_SECONDS = "* * * * * */5"  # croniter: a sixth field holds the seconds
HOURLY = "23 * * * *"


def _work(context: JobContext) -> QueueWork:
    work: QueueWork = context.additional_context["work"]
    return work


def register_tasks(app: App) -> None:
    """Add socialcrm's tasks and periodic tasks to ``app``."""

    @app.task(name=POLL_TASK, queue="poll", pass_context=True)
    async def poll_source(context: JobContext, source: str) -> str:
        return await _work(context).poll(source)

    @app.task(name=SEND_TASK, queue="send", priority=5, pass_context=True)
    async def send_outbox_item(context: JobContext, item_id: int) -> str:
        return await _work(context).send(item_id)

    @app.periodic(cron=EVERY_5_SECONDS)
    @app.task(
        name=SCHEDULE_TASK,
        queue="maintenance",
        priority=10,
        lock="schedule",
        queueing_lock="schedule",
        pass_context=True,
    )
    async def schedule(context: JobContext, timestamp: int) -> str:
        return await _work(context).schedule()

    @app.periodic(cron=EVERY_5_SECONDS)
    @app.task(
        name=RETRY_STALLED_TASK, queue="maintenance", priority=10, queueing_lock="retry_stalled", pass_context=True
    )
    async def retry_stalled(context: JobContext, timestamp: int) -> str:
        return await _work(context).retry_stalled()

    @app.periodic(cron=EVERY_5_SECONDS)
    @app.task(name=INSIGHTS_TASK, queue="maintenance", priority=1, queueing_lock="insights", pass_context=True)
    async def insights(context: JobContext, timestamp: int) -> str:
        return await _work(context).insights()

    @app.periodic(cron=EVERY_MINUTE)
    @app.task(
        name=RETRY_MENTIONS_TASK,
        queue="maintenance",
        lock="retry_mentions",
        queueing_lock="retry_mentions",
        pass_context=True,
    )
    async def retry_mentions(context: JobContext, timestamp: int) -> str:
        return await _work(context).retry_mentions()

    @app.periodic(cron=HOURLY)
    @app.task(name=HOUSEKEEPING_TASK, queue="maintenance", queueing_lock="housekeeping", pass_context=True)
    async def housekeeping(context: JobContext, timestamp: int) -> str:
        return await _work(context).housekeeping()
