"""Webhook deliveries honour the receiver's Retry-After (issue 11 item 3): a real server on 127.0.0.1 says 429/503."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from sqlmodel import col, select

from socialcrm.config import Config, parse_config
from socialcrm.db import Database
from socialcrm.models import OutboxItem, utcnow
from socialcrm.outbox import OutboxWorker
from socialcrm.services import outbox
from tests.replay_server import Canned, ReplayServer


@pytest.fixture
def config(replay: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("HOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    return parse_config(f'[[webhooks]]\nname = "ops"\nurl = "{replay.url("/hook")}"\nsecret_env = "HOOK_SECRET"\n')


def queue_one(db: Database) -> None:
    with db.write() as session:
        outbox.enqueue_webhook(session, "ops", "notify", "retry-after-1", {"event": "notify"}, now=utcnow())


def stored(db: Database) -> OutboxItem:
    with db.read() as session:
        return session.exec(select(OutboxItem)).one()


async def test_429_with_retry_after_seconds_waits_that_long_then_delivers(
    config: Config, db: Database, replay: ReplayServer
) -> None:
    replay.add("POST", "/hook", Canned(status=429, headers={"Retry-After": "900"}), Canned(status=204))
    queue_one(db)
    async with aiohttp.ClientSession() as http:
        worker = OutboxWorker(config, db, {}, http)
        before = utcnow()
        assert (await worker.run_once()).retrying == 1
        item = stored(db)
        assert item.status == "pending" and "HTTP 429 (Retry-After 900s)" in (item.last_error or "")
        # Not the backoff's 30 s: the receiver asked for 15 minutes.
        assert before + timedelta(seconds=899) <= item.next_attempt_at <= utcnow() + timedelta(seconds=901)
        assert (await worker.run_once()).sent == 0  # nothing is due before then
        assert replay.served("POST", "/hook") == 1
        with db.write() as session:
            row = session.exec(select(OutboxItem)).one()
            row.next_attempt_at = utcnow() - timedelta(seconds=1)  # the 15 minutes have passed
            session.add(row)
        assert (await worker.run_once()).sent == 1
    assert stored(db).status == "done" and replay.served("POST", "/hook") == 2


async def test_503_with_an_http_date_retry_after_is_honoured(
    config: Config, db: Database, replay: ReplayServer
) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    replay.add("POST", "/hook", Canned(status=503, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    queue_one(db)
    async with aiohttp.ClientSession() as http:
        assert (await OutboxWorker(config, db, {}, http).run_once()).retrying == 1
    item = stored(db)
    assert item.status == "pending" and item.attempts == 1
    assert abs((item.next_attempt_at - when).total_seconds()) <= 2


async def test_a_hostile_retry_after_is_capped_and_a_missing_one_means_backoff(
    config: Config, db: Database, replay: ReplayServer
) -> None:
    replay.add("POST", "/hook", Canned(status=429, headers={"Retry-After": "315360000"}), Canned(status=503))
    queue_one(db)
    async with aiohttp.ClientSession() as http:
        worker = OutboxWorker(config, db, {}, http)
        before = utcnow()
        await worker.run_once()
        capped = stored(db).next_attempt_at
        assert before + timedelta(hours=6) - timedelta(seconds=1) <= capped <= utcnow() + timedelta(hours=6)
        with db.write() as session:
            row = session.exec(select(OutboxItem)).one()
            row.next_attempt_at = utcnow() - timedelta(seconds=1)
            session.add(row)
        before = utcnow()
        await worker.run_once()  # 503 without Retry-After: exponential backoff (second attempt: 60 s +- 1/8)
    delay = (stored(db).next_attempt_at - before).total_seconds()
    assert 50 <= delay <= 70


async def test_a_retry_after_holds_the_rest_of_that_receivers_queue_and_no_other(
    db: Database, replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver asked for quiet: its other queued rows wait as long, not tried (and refused) one by one."""
    monkeypatch.setenv("HOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    config = parse_config(
        f'[[webhooks]]\nname = "ops"\nurl = "{replay.url("/hook")}"\nsecret_env = "HOOK_SECRET"\n'
        f'[[webhooks]]\nname = "chat"\nurl = "{replay.url("/chat")}"\nsecret_env = "HOOK_SECRET"\n'
    )
    replay.add("POST", "/hook", Canned(status=429, headers={"Retry-After": "600"}))
    replay.add("POST", "/chat", Canned(status=204), Canned(status=204))
    with db.write() as session:
        for n in range(3):
            outbox.enqueue_webhook(session, "ops", "notify", f"ops-{n}", {"event": "notify"}, now=utcnow())
            if n < 2:
                outbox.enqueue_webhook(session, "chat", "notify", f"chat-{n}", {"event": "notify"}, now=utcnow())
    before = utcnow()
    async with aiohttp.ClientSession() as http:
        result = await OutboxWorker(config, db, {}, http).run_once()
    assert replay.served("POST", "/hook") == 1 and replay.served("POST", "/chat") == 2
    assert result.sent == 2 and result.retrying == 1
    with db.read() as session:
        rows = session.exec(select(OutboxItem).where(col(OutboxItem.idempotency_key).startswith("ops-"))).all()
    assert len(rows) == 3 and all(row.status == "pending" for row in rows)
    assert sorted(row.attempts for row in rows) == [0, 0, 1]  # the held rows lost no attempt
    assert all(row.next_attempt_at >= before + timedelta(seconds=599) for row in rows)
