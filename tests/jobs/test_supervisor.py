"""A queue worker whose database stays away: it gives up after a while, and a stop meanwhile ends it at once."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator

import psycopg
import pytest
from procrastinate.job_context import JobContext
from procrastinate.jobs import Job, Status

from socialcrm.config import parse_config
from socialcrm.db import Database
from socialcrm.jobs import restarts, worker
from socialcrm.jobs.supervisor import QueueWorker
from socialcrm.jobs.worker import QueueWork
from socialcrm.runtime import Runtime
from tests.core.fakes import FakeClassifier
from tests.database_outage import cut

CONFIG = '[workers]\nstalled_after = "3s"\n[daemon]\nshutdown_grace = "1s"\n'


@pytest.fixture
async def started(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[QueueWork]:
    """A started QueueWork on a fresh database (its queries wait 2 s at most for a connection), reopened after."""
    monkeypatch.setattr(worker, "POOL_TIMEOUT", 2.0)
    monkeypatch.setattr(restarts, "FIRST_WAIT", 0.2)
    db = Database(pg_url)
    runtime = await Runtime.open(parse_config(CONFIG), db=db, classifier=FakeClassifier())
    work = QueueWork(runtime, "worker")
    await work.start()
    try:
        yield work
    finally:
        await asyncio.to_thread(cut, pg_url, False)
        await work.stop(0)
        await runtime.close()


async def stopped_on_its_own(caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(300):
        if "stopped on its own" in caplog.text:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(caplog.text[-3000:])


async def test_a_worker_gives_up_when_the_database_stays_away(
    started: QueueWork, pg_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restarts, "GIVE_UP_AFTER", 1.0)
    monkeypatch.setattr(restarts, "GIVE_UP_ATTEMPTS", 3)
    caplog.set_level(logging.WARNING, logger="socialcrm.jobs.supervisor")
    await asyncio.to_thread(cut, pg_url, True)
    assert started.finished is not None
    await asyncio.wait_for(asyncio.shield(started.finished), 60)  # ended without a stop: the daemon exits 1
    assert "giving up" in caplog.text
    assert caplog.text.count("the database does not answer") >= 3
    assert "runs again" not in caplog.text
    await asyncio.wait_for(started.stop(0), 30)  # the database still away: stopping still ends


async def test_a_stop_while_the_database_is_away_ends_the_worker_at_once(
    started: QueueWork, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="socialcrm.jobs.supervisor")
    await asyncio.to_thread(cut, pg_url, True)
    await stopped_on_its_own(caplog)
    await asyncio.wait_for(started.stop(0), 10)
    assert started.finished is not None and started.finished.done()
    assert "giving up" not in caplog.text and "runs again" not in caplog.text


async def test_a_database_restart_logs_warnings_not_procrastinates_tracebacks(
    started: QueueWork, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await asyncio.to_thread(cut, pg_url, True)
    try:
        await stopped_on_its_own(caplog)
    finally:
        await asyncio.to_thread(cut, pg_url, False)
    for _ in range(300):
        if "runs again" in caplog.text:
            break
        await asyncio.sleep(0.1)
    side_task = [r for r in caplog.records if getattr(r, "action", None) == "side_task_failed"]
    assert side_task, caplog.text[-3000:]  # Procrastinate's worker did stop for a failed side task
    # Said once, as a warning without a traceback; the supervisor's own warning follows.
    assert [(r.levelno, r.exc_info) for r in side_task] == [(logging.WARNING, None)]
    assert re.fullmatch(r"The queue worker's \w+ task lost the database \(.+\): the worker stops", side_task[0].message)
    # Procrastinate's errors but for jobs that failed (the database went away under them): none.
    errors = [r for r in caplog.records if r.name.startswith("procrastinate") and r.levelno >= logging.ERROR]
    assert [r.message for r in errors if getattr(r, "action", None) != "job_error"] == []
    assert "runs again" in caplog.text


def test_a_side_task_failing_for_another_reason_keeps_its_error(started: QueueWork) -> None:
    supervisor = started.supervisor
    assert supervisor is not None and supervisor.worker is not None
    worker = {"worker_id": supervisor.worker.worker_id}

    def record(error: BaseException) -> logging.LogRecord:
        made = logging.LogRecord("procrastinate.worker.w", logging.ERROR, __file__, 1, "Side task failed", None, None)
        made.__dict__.update(worker=worker, action="side_task_failed", task_name="listener")
        try:
            raise error
        except BaseException as raised:  # noqa: BLE001 - a real traceback on the record
            made.exc_info = (type(raised), raised, raised.__traceback__)
        return made

    bug = record(ValueError("a bug in a side task"))
    assert supervisor._note_side_task_failure(bug) and bug.levelno == logging.ERROR and bug.exc_info
    assert supervisor._quieten_repeat(record(ValueError("its repeat")))  # kept: not a lost database
    outage = record(psycopg.OperationalError("terminating connection due to administrator command"))
    assert supervisor._note_side_task_failure(outage) and outage.levelno == logging.WARNING and not outage.exc_info

    def repeat(error: BaseException, task: str = "listener") -> logging.LogRecord:
        made = logging.LogRecord("procrastinate.utils", logging.ERROR, __file__, 1, f"{task} error", None, None)
        made.__dict__.update(action=f"{task}_error")
        made.exc_info = (type(error), error, error.__traceback__)
        return made

    assert outage.exc_info is None and supervisor._side_task_error is not None
    assert not supervisor._quieten_repeat(repeat(supervisor._side_task_error))  # said already: dropped
    other = repeat(psycopg.OperationalError("server closed the connection"), "update_heartbeats")
    assert supervisor._quieten_repeat(other) and other.levelno == logging.WARNING and not other.exc_info
    kept = repeat(ValueError("a bug"), "deferrer")
    assert supervisor._quieten_repeat(kept) and kept.levelno == logging.ERROR and kept.exc_info


async def test_a_job_whose_outcome_cannot_be_stored_says_so_in_a_warning(
    started: QueueWork, pg_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor = started.supervisor
    assert supervisor is not None and isinstance(supervisor.worker, QueueWorker)
    worker = supervisor.worker
    job = Job(id=10**9, queue="poll", lock=None, queueing_lock=None, task_name="socialcrm:poll", task_kwargs={})
    context = JobContext(app=worker.app, job=job, start_timestamp=time.time(), abort_reason=lambda: None)
    caplog.set_level(logging.WARNING, logger="socialcrm.jobs.supervisor")
    await asyncio.to_thread(cut, pg_url, True)
    # The job ran; storing its outcome finds no database. Procrastinate's task for that raised, and
    # asyncio logged "Task exception was never retrieved" with a traceback once it was collected.
    await worker._persist_job_status(job, Status.SUCCEEDED, None, context, None)
    assert re.search(r"Job socialcrm:poll\[\d+\]\(\) ended \(succeeded\) but the database went away", caplog.text)

    async def bug(**_: object) -> None:
        raise ValueError("not the database")

    monkeypatch.setattr(worker.app.job_manager, "finish_job", bug)
    with pytest.raises(ValueError, match="not the database"):  # anything else is left to Procrastinate
        await worker._persist_job_status(job, Status.SUCCEEDED, None, context, None)


async def test_a_poll_while_the_database_is_away_is_one_warning_line(
    pg_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job says why in one line, without the traceback whose SQL parameters may hold posts; the
    source is polled again when due (the scheduler still finds it due)."""
    monkeypatch.setattr(worker, "POOL_TIMEOUT", 2.0)
    source = '[[sources]]\nname = "blog"\ntype = "feed"\nurl = "http://127.0.0.1:9/feed.xml"\n'
    runtime = await Runtime.open(parse_config(CONFIG + source), db=Database(pg_url), classifier=FakeClassifier())
    work = QueueWork(runtime, "worker")
    caplog.set_level(logging.DEBUG)
    try:
        await asyncio.to_thread(cut, pg_url, True)
        outcome = await work.poll("blog")
    finally:
        await asyncio.to_thread(cut, pg_url, False)
        await runtime.close()
    assert outcome == "database unavailable: polled again when due"
    assert "Poll of blog: the database is unavailable (OperationalError: " in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.exc_info]
    assert "[SQL:" not in caplog.text
