"""A real ``socialcrm worker`` retries a mention whose linking failed: once it goes through, it is linked once.

The fault is the database's own: a trigger refuses the first inserts of an identity (so the batch and
then the one-by-one try of the fresh mention fail, and it waits as a ``MentionRetry``), counting with a
sequence, which a rollback does not undo. The retry job is deferred as its every-minute schedule would.
In the second test the worker is killed -9 while the retry is inside the database (the trigger sleeps):
the retry's transaction dies with it, and the replacement worker links the mention, once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from procrastinate import App, PsycopgConnector, exceptions
from sqlalchemy import func, text
from sqlmodel import select

from socialcrm.db import Database
from socialcrm.jobs.tasks import RETRY_MENTIONS_TASK
from socialcrm.jobs.worker import conninfo
from socialcrm.models import Customer, Decision, Identity, Mention, MentionRetry, Ticket
from tests.jobs.farm import FeedFarm, Workers, running_jobs_by_pid, wait_for, write_config

REFUSED = 2  # identity inserts refused: the batch's, then the one-by-one try's


def refuse_linking(db: Database, *, then_sleep: float = 0.0) -> None:
    """Refuse the first ``REFUSED`` identity inserts; the one after sleeps ``then_sleep`` seconds first."""
    with db.engine.begin() as conn:
        conn.execute(text("CREATE SEQUENCE identity_tries"))
        conn.execute(
            text(
                f"""
CREATE FUNCTION refuse_first_identities() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE try bigint := nextval('identity_tries');
BEGIN
  IF try <= {REFUSED} THEN
    RAISE EXCEPTION 'identity refused by the test (try %)', try;
  END IF;
  IF try = {REFUSED + 1} THEN
    PERFORM pg_sleep({then_sleep});
  END IF;
  RETURN NEW;
END $$"""
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER refuse_first_identities BEFORE INSERT ON identity "
                "FOR EACH ROW EXECUTE FUNCTION refuse_first_identities()"
            )
        )
        # A backend whose client was killed notices within 100 ms, also inside pg_sleep, and rolls back.
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        conn.execute(text(f'ALTER DATABASE "{database}" SET client_connection_check_interval = 100'))


def identity_tries(db: Database) -> int:
    """How many identity inserts were tried so far."""
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT last_value FROM identity_tries")).scalar_one())


async def defer_retry(pg_url: str) -> None:
    """Queue the retry job now, as its every-minute schedule does (unless one waits already)."""
    app = App(connector=PsycopgConnector(conninfo=conninfo(pg_url)))
    async with app.open_async():
        deferrer = app.configure_task(RETRY_MENTIONS_TASK, lock="retry_mentions", queueing_lock="retry_mentions")
        try:
            await deferrer.defer_async(timestamp=int(time.time()))
        except exceptions.AlreadyEnqueued:
            pass


def waiting(db: Database) -> list[MentionRetry]:
    """The mentions waiting for a retry."""
    with db.read() as session:
        return list(session.exec(select(MentionRetry)).all())


def make_due(db: Database) -> None:
    """Let the minute until the first retry pass."""
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE mentionretry SET next_attempt_at = now() - interval '1 second'"))


async def stored_and_waiting(farm: FeedFarm, workers: Workers, db: Database) -> Mention:
    """Start a worker; wait until it stored the one post and its linking failed."""
    await workers.start(1)
    assert await wait_for(lambda: len(waiting(db)) == 1, 120), workers.log()[-3000:]
    [retry] = waiting(db)
    assert retry.attempts == 1 and "identity refused by the test" in retry.error
    with db.read() as session:
        mention = session.get(Mention, retry.mention_id)
        assert mention is not None and mention.customer_id is None
        return mention


def assert_linked_once(db: Database, mention_id: int) -> None:
    """Linked to one new prospect through one identity, its rules applied once, nothing left waiting."""
    with db.read() as session:
        mention = session.get(Mention, mention_id)
        assert mention is not None and mention.customer_id is not None and mention.link_method == "prospect"
        identities = session.exec(select(Identity)).all()
        assert [(i.customer_id, i.handle) for i in identities] == [(mention.customer_id, mention.author)]
        assert session.exec(select(func.count()).select_from(Customer)).one() == 1
        assert session.exec(select(func.count()).select_from(Ticket)).one() == 1  # the complaint's, once
        decided = session.exec(select(Decision.rule, Decision.fired).where(Decision.mention_id == mention_id)).all()
        assert sorted(decided) == [("complaint-ticket", True), ("question-reply", False)]  # each rule once
        assert session.exec(select(MentionRetry)).all() == []


async def test_a_worker_links_a_mention_whose_linking_failed_once_its_retry_is_due(tmp_path: Path, pg_url: str) -> None:
    db = Database(pg_url)
    refuse_linking(db)
    farm = FeedFarm(1, 1)  # feed 0, entry 0: a complaint
    await farm.start()
    write_config(tmp_path, pg_url, farm.sources(), concurrency=2)
    workers = Workers(tmp_path)
    try:
        mention = await stored_and_waiting(farm, workers, db)
        assert identity_tries(db) == REFUSED
        make_due(db)
        await defer_retry(pg_url)
        assert await wait_for(lambda: not waiting(db), 60), workers.log()[-3000:]
        await asyncio.sleep(1.0)  # a second link or ticket would show up now
    finally:
        codes = await workers.stop_all()
        await farm.close()
    assert codes == [0], workers.log()[-3000:]
    assert_linked_once(db, mention.id)
    assert identity_tries(db) == REFUSED + 1
    assert "Retried 1 mention(s): 1 went through, 0 failed again" in workers.log()
    db.dispose()


async def test_a_worker_killed_mid_retry_leaves_the_mention_to_the_next_which_links_it_once(
    tmp_path: Path, pg_url: str
) -> None:
    db = Database(pg_url)
    refuse_linking(db, then_sleep=20.0)
    farm = FeedFarm(1, 1)
    await farm.start()
    write_config(tmp_path, pg_url, farm.sources(), concurrency=2, stalled_after="3s")
    workers = Workers(tmp_path)
    try:
        mention = await stored_and_waiting(farm, workers, db)
        make_due(db)
        await defer_retry(pg_url)
        # The retry is inside the trigger's sleep: its identity insert is begun, nothing is committed.
        assert await wait_for(lambda: identity_tries(db) == REFUSED + 1, 60), workers.log()[-3000:]
        assert await wait_for(lambda: bool(running_jobs_by_pid(db, RETRY_MENTIONS_TASK)), 10)
        [victim] = workers.alive()
        await workers.kill(victim)
        [retry] = waiting(db)
        assert retry.attempts == 1, "the killed retry neither succeeded nor counted as a failure"
        await workers.start(1)  # the replacement, as systemd's Restart= would
        # The dead worker's job goes back to the queue once its heartbeat is missed; the next run links it.
        assert await wait_for(lambda: not waiting(db), 90), workers.log()[-3000:]
        await asyncio.sleep(1.0)
    finally:
        codes = await workers.stop_all()
        await farm.close()
    assert codes == [0], workers.log()[-3000:]
    assert_linked_once(db, mention.id)
    assert identity_tries(db) == REFUSED + 2
    db.dispose()
