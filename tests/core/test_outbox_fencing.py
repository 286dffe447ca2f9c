"""Two outbox workers on one database never send the same row: claims and sends are fenced by owner.

On the first release a worker claimed 20 rows for a 120 s lease; when sending took longer, another
worker claimed the tail and both posted the same replies. Now a worker claims one row at a time
and renews its lease (a compare-and-set on its owner token) right before each send.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import update
from sqlmodel import col, select

from connectors import RawPost
from connectors.base import Batch
from connectors.mastodon import MastodonConnector, MastodonOptions
from socialcrm.config import Config, SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.models import OutboxItem, ReplyDraft, utcnow
from socialcrm.outbox import OutboxWorker
from socialcrm.services import drafts
from socialcrm.services import outbox as queue
from tests.core.test_pipeline import RULES, make_pipeline
from tests.replay.accounts import MastodonAccount
from tests.replay_server import ReplayServer

TARGETS = ["117020593378945190", "117020593378945191", "117020593378945192"]


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASTO_TOKEN", "tok")


@pytest.fixture
def config() -> Config:
    return parse_config(RULES)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def source(replay: ReplayServer) -> SourceConfig:
    options = MastodonOptions(base_url=replay.base_url, hashtags=["acme"], access_token_env="MASTO_TOKEN")
    return SourceConfig(name="masto", type="mastodon", options=options)


async def approve_questions(config: Config, db: Database, src: SourceConfig) -> None:
    posts = [
        RawPost(
            source="masto",
            external_id=status_id,
            url=f"https://masto.example/@q{n}/{status_id}",
            author_handle=f"q{n}",
            title=None,
            body=f"How do I descale machine number {n}?",
            published_at=datetime(2026, 11, 1, tzinfo=UTC),
        )
        for n, status_id in enumerate(TARGETS)
    ]
    await make_pipeline(config, db).process(src, Batch(posts=posts, cursor="c"))
    with db.write() as session:
        for draft in session.exec(select(ReplyDraft)).all():
            assert draft.id is not None
            drafts.approve(session, draft.id, user="cm")


async def test_a_second_worker_never_sends_what_the_first_still_sends(
    config: Config, db: Database, replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    account = MastodonAccount(replay.base_url)
    account.install(replay)
    account.faults.hold_seconds = 0.5  # each post is stored at once and answered half a second later
    src = source(replay)
    await approve_questions(config, db, src)
    first = OutboxWorker(config, db, {"masto": MastodonConnector("masto", src.options, http)}, http)  # type: ignore[arg-type]
    second = OutboxWorker(config, db, {"masto": MastodonConnector("masto", src.options, http)}, http)  # type: ignore[arg-type]

    sending = asyncio.create_task(first.run_once())
    await asyncio.wait_for(account.faults.stored.wait(), 10)
    # The first worker is in the middle of its sends; its leases run out (as when sending takes longer
    # than the lease), and a second worker (another daemon, or `poll --once`) runs meanwhile.
    with db.write() as session:
        session.exec(update(OutboxItem).values(next_attempt_at=utcnow() - timedelta(seconds=1)))  # type: ignore[call-overload]
    await second.run_once()
    await sending
    for status_id in TARGETS:
        assert len(account.replies_to(status_id)) == 1, f"the reply to {status_id} went out twice"
    with db.read() as session:
        statuses = {d.status for d in session.exec(select(ReplyDraft))}
        items = {i.status for i in session.exec(select(OutboxItem))}
    assert statuses == {"sent"} and items == {"done"}


async def test_a_worker_whose_row_was_taken_over_during_its_look_up_sends_nothing(
    config: Config, db: Database, replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    account = MastodonAccount(replay.base_url)
    account.install(replay)
    src = source(replay)
    await approve_questions(config, db, src)
    started = utcnow() - timedelta(minutes=1)
    with db.write() as session:  # an earlier try died mid-send; none of its replies got out
        session.exec(update(OutboxItem).values(status="sending", attempts=1, first_attempt_at=started))  # type: ignore[call-overload]
    first = OutboxWorker(config, db, {"masto": MastodonConnector("masto", src.options, http)}, http)  # type: ignore[arg-type]
    second = OutboxWorker(config, db, {"masto": MastodonConnector("masto", src.options, http)}, http)  # type: ignore[arg-type]

    gate = account.faults.hold_next_listing = asyncio.Event()
    looking = asyncio.create_task(first.run_once())
    await asyncio.wait_for(account.faults.listing_read.wait(), 10)
    # The first worker has read the account's posts (no reply there) and stalls before it posts; its
    # lease runs out and a second worker takes the row over, looks, and posts the reply.
    with db.write() as session:
        session.exec(update(OutboxItem).values(next_attempt_at=utcnow() - timedelta(seconds=1)))  # type: ignore[call-overload]
    taken = await second.run_once()
    gate.set()
    late = await looking
    assert taken.sent == 3 and late.taken_over == 1 and late.sent == 0, (taken, late)
    for status_id in TARGETS:
        assert len(account.replies_to(status_id)) == 1, f"the reply to {status_id} went out twice"


def test_claims_and_renewals_are_fenced_by_owner(db: Database) -> None:
    now = utcnow()
    lease = timedelta(seconds=120)
    with db.write() as session:
        session.add(OutboxItem(kind="webhook", idempotency_key="k1", payload={}, next_attempt_at=now))
    with db.write() as session:
        mine = queue.claim_next(session, "worker-a", now=now, lease=lease)
    with db.write() as session:
        assert queue.claim_next(session, "worker-b", now=now, lease=lease) is None  # held by a
    assert mine is not None and mine.attempts == 1 and not mine.was_sending and mine.first_attempt_at == now

    later = now + lease + timedelta(seconds=1)  # a's lease ran out (a hung, or died)
    with db.write() as session:
        theirs = queue.claim_next(session, "worker-b", now=later, lease=lease)
    assert theirs is not None and theirs.was_sending and theirs.attempts == 2
    assert theirs.first_attempt_at == now  # the first attempt's time survives every later claim
    with db.write() as session:
        assert not queue.renew(session, mine, now=later, lease=lease)  # a must not send now
        assert not queue.release(session, mine, "failed", now=later, error="late")
        assert queue.renew(session, theirs, now=later, lease=lease)
        assert queue.release(session, theirs, "done", now=later)
    with db.read() as session:
        item = session.exec(select(OutboxItem)).one()
    assert item.status == "done" and item.lease_owner is None and item.last_error is None


async def test_concurrent_claims_hand_each_row_to_one_worker(db: Database) -> None:
    now = utcnow()
    with db.write() as session:
        for n in range(12):
            session.add(OutboxItem(kind="webhook", idempotency_key=f"k{n}", payload={}, next_attempt_at=now))

    async def worker(name: str) -> list[int]:
        won = []
        while True:
            claim = await db.run_write(lambda s: queue.claim_next(s, name, now=utcnow(), lease=timedelta(seconds=60)))
            if claim is None:
                return won
            won.append(claim.item_id)

    results = await asyncio.gather(*(worker(f"w{n}") for n in range(4)))
    claimed = [item for won in results for item in won]
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 12
    with db.read() as session:
        owners = session.exec(select(OutboxItem.lease_owner).where(col(OutboxItem.status) == "sending")).all()
    assert len(owners) == 12
