"""The outbox: approved replies go out exactly once, read-only platforms end as manual, webhooks are signed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import ClassVar

import aiohttp
import pytest
from sqlmodel import select

from connectors.base import Batch, ReplyPolicy, ReplyResult, ReplyTarget, TransientFetchError
from socialcrm.config import Config, SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.models import OutboxItem, ReplyDraft, utcnow
from socialcrm.outbox import OutboxWorker, sign_webhook
from socialcrm.services import drafts
from tests.core.fakes import ScriptedConnector, post
from tests.core.test_pipeline import RULES, make_pipeline
from tests.replay_server import Canned, ReplayServer


@pytest.fixture
def config(replay: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("HOOK_SECRET", "s3cret-for-tests")
    return parse_config(
        RULES + f'\n[[webhooks]]\nname = "ops"\nurl = "{replay.base_url}/hook"\nsecret_env = "HOOK_SECRET"\n'
    )


async def drafted(config: Config, db: Database) -> int:
    """Store a question mention through the real pipeline; return its draft's id."""
    pipeline = make_pipeline(config, db)
    source = SourceConfig(name="forum", type="feed")
    await pipeline.process(source, Batch(posts=[post("forum", 1, "How do I descale it?", author="larry")], cursor="c"))
    with db.read() as session:
        draft = session.exec(select(ReplyDraft)).one()
    assert draft.id is not None
    return draft.id


async def test_approved_reply_is_posted_once(config: Config, db: Database) -> None:
    draft_id = await drafted(config, db)
    connector = ScriptedConnector("forum")
    async with aiohttp.ClientSession() as http:
        worker = OutboxWorker(config, db, {"forum": connector}, http)
        assert (await worker.run_once()).sent == 0  # nothing approved yet: nothing goes out
        with db.write() as session:
            drafts.approve(session, draft_id, user="cm")
        result = await worker.run_once()
        again = await worker.run_once()
    assert result.sent == 1 and again.sent == 0
    assert connector.replies == [("forum-1", "Hi larry, thanks for your question!", f"reply:{draft_id}")]
    with db.read() as session:
        draft = session.get(ReplyDraft, draft_id)
    assert draft is not None and draft.status == "sent" and draft.external_reply_url == "https://example.com/r/1"


async def test_read_only_platform_ends_as_manual(config: Config, db: Database) -> None:
    draft_id = await drafted(config, db)

    class ReadOnly(ScriptedConnector):
        reply_policy: ClassVar[ReplyPolicy] = ReplyPolicy(can_reply=False, note="no write API")

    connector = ReadOnly("forum")
    with db.write() as session:
        drafts.approve(session, draft_id, user="cm")
    async with aiohttp.ClientSession() as http:
        result = await OutboxWorker(config, db, {"forum": connector}, http).run_once()
    assert result.manual == 1 and connector.replies == []
    with db.read() as session:
        item = session.exec(select(OutboxItem)).one()
        draft = session.get(ReplyDraft, draft_id)
    assert item.status == "manual" and "no write API" in (item.last_error or "")
    assert draft is not None and draft.status == "approved"  # waits for "copy, open the post, mark as posted"


async def test_timeout_then_retry_checks_first_and_never_posts_twice(config: Config, db: Database) -> None:
    draft_id = await drafted(config, db)

    class TimesOutAfterPosting(ScriptedConnector):
        """The platform stores the reply but our request times out: the classic double-post trap."""

        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.posted: dict[str, ReplyResult] = {}
            self.find_calls = 0

        async def reply(self, target: ReplyTarget, text: str, idempotency_key: str) -> ReplyResult:
            result = await super().reply(target, text, idempotency_key)
            self.posted[idempotency_key] = result
            if len(self.replies) == 1:
                raise TransientFetchError(self.name, "timed out waiting for the response")
            return result

        async def find_reply(self, target: ReplyTarget, text: str, idempotency_key: str) -> ReplyResult | None:
            self.find_calls += 1
            return self.posted.get(idempotency_key)

    connector = TimesOutAfterPosting("forum")
    with db.write() as session:
        drafts.approve(session, draft_id, user="cm")
    async with aiohttp.ClientSession() as http:
        worker = OutboxWorker(config, db, {"forum": connector}, http)
        first = await worker.run_once()
        assert first.retrying == 1
        with db.write() as session:  # let the retry be due now
            item = session.exec(select(OutboxItem)).one()
            assert item.status == "sending"
            item.next_attempt_at = utcnow() - timedelta(seconds=1)
            session.add(item)
        second = await worker.run_once()
    assert second.sent == 1
    assert len(connector.replies) == 1 and connector.find_calls == 1
    with db.read() as session:
        assert session.get(ReplyDraft, draft_id).status == "sent"  # type: ignore[union-attr]


async def test_webhook_is_signed_and_retried_on_5xx(config: Config, db: Database, replay: ReplayServer) -> None:
    replay.add("POST", "/hook", Canned(status=503), Canned(status=204))
    with db.write() as session:
        session.add(
            OutboxItem(
                kind="webhook", idempotency_key="notify:1", payload={"webhook": "ops", "body": {"mention_id": 1}}
            )
        )
    async with aiohttp.ClientSession() as http:
        worker = OutboxWorker(config, db, {}, http)
        first = await worker.run_once()
        with db.write() as session:
            item = session.exec(select(OutboxItem)).one()
            item.next_attempt_at = utcnow() - timedelta(seconds=1)
            session.add(item)
        second = await worker.run_once()
    assert first.retrying == 1 and second.sent == 1
    seen = [r for r in replay.requests if r.path == "/hook"]
    assert len(seen) == 2
    request = seen[-1]
    ts = request.headers["X-SocialCRM-Timestamp"]
    expected = hmac.new(b"s3cret-for-tests", ts.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-SocialCRM-Signature"] == f"sha256={expected}"
    assert request.headers["Idempotency-Key"] == "notify:1"
    assert request.json() == {"mention_id": 1}


async def test_webhook_gone_fails_for_good(config: Config, db: Database, replay: ReplayServer) -> None:
    replay.add("POST", "/hook", Canned(status=410))
    with db.write() as session:
        session.add(OutboxItem(kind="webhook", idempotency_key="notify:2", payload={"webhook": "ops", "body": {}}))
    async with aiohttp.ClientSession() as http:
        result = await OutboxWorker(config, db, {}, http).run_once()
    assert result.failed == 1
    with db.read() as session:
        assert session.exec(select(OutboxItem)).one().status == "failed"


def test_signature_without_secret_has_only_a_timestamp() -> None:
    assert set(sign_webhook(b"{}", "", timestamp=1)) == {"X-SocialCRM-Timestamp"}


async def test_auth_failure_on_reply_pauses_the_source_and_keeps_the_draft(config: Config, db: Database) -> None:
    from connectors.base import AuthError
    from socialcrm.models import SourceState

    draft_id = await drafted(config, db)

    class Revoked(ScriptedConnector):
        async def reply(self, target: ReplyTarget, text: str, idempotency_key: str) -> ReplyResult:
            raise AuthError(self.name, "HTTP 401: token revoked")

    with db.write() as session:
        drafts.approve(session, draft_id, user="cm")
    async with aiohttp.ClientSession() as http:
        result = await OutboxWorker(config, db, {"forum": Revoked("forum")}, http).run_once()
    assert result.retrying == 1
    with db.read() as session:
        state = session.get(SourceState, "forum")
        draft = session.get(ReplyDraft, draft_id)
        item = session.exec(select(OutboxItem)).one()
    assert state is not None and state.state == "auth_failed" and "token revoked" in (state.last_error or "")
    assert draft is not None and draft.status == "approved" and "token revoked" in (draft.error or "")
    assert item.next_attempt_at - utcnow() > timedelta(minutes=50)
