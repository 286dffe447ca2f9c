"""The outbox worker: posts approved replies through their connector and sends signed webhooks.

Outbox rows are written in the same transaction that approved a draft or fired a rule. The worker
claims a row (status "sending", attempts + 1) in its own transaction before it talks to the outside
world. If the daemon dies mid-send, the row is found in "sending" at the next start: the worker then
asks the connector whether the reply is already there (``find_reply``) before posting again, and
the platform's own idempotency key (where it has one) guards the rest. A retry never posts twice.

Webhook requests carry ``X-SocialCRM-Signature: sha256=<hex HMAC of "<timestamp>.<body>">``,
``X-SocialCRM-Timestamp`` and ``Idempotency-Key`` headers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from sqlmodel import Session, col, select

from connectors import (
    AuthError,
    Backoff,
    Connector,
    ConnectorError,
    ReplyError,
    ReplyLookup,
    ReplyResult,
    ReplyTarget,
    TransientFetchError,
    read_capped,
)
from socialcrm.config import Config
from socialcrm.db import Database
from socialcrm.models import Mention, OutboxItem, ReplyDraft, utcnow
from socialcrm.services import drafts, replies, sources

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
AUTH_RETRY_SECONDS = 3600.0
SEND_TIMEOUT = 60.0


@dataclass
class OutboxRunResult:
    """Counts of one pass over the outbox."""

    sent: int = 0
    manual: int = 0
    failed: int = 0
    retrying: int = 0


@dataclass(frozen=True)
class _Claim:
    item_id: int
    kind: str
    attempts: int
    was_sending: bool
    source: str | None
    draft_id: int | None
    payload: Mapping[str, Any]
    idempotency_key: str


class OutboxWorker:
    """Delivers outbox rows; one pass per call of ``run_once``."""

    def __init__(
        self,
        config: Config,
        db: Database,
        connectors: Mapping[str, Connector],
        http: aiohttp.ClientSession,
        *,
        batch_size: int = 20,
    ) -> None:
        self.config = config
        self.db = db
        self.connectors = connectors
        self.http = http
        self.batch_size = batch_size
        self.backoff = Backoff(base=30.0, cap=3600.0)
        self._lock = asyncio.Lock()

    async def run_once(self) -> OutboxRunResult:
        """Deliver every due row (one pass at a time, even if called concurrently)."""
        async with self._lock:
            result = OutboxRunResult()
            claims = await self.db.run_write(self._claim_due)
            for claim in claims:
                if claim.kind == "reply":
                    await self._deliver_reply(claim, result)
                elif claim.kind == "webhook":
                    await self._deliver_webhook(claim, result)
                else:
                    await self._finish(claim, "failed", error=f"unknown outbox kind {claim.kind!r}")
                    result.failed += 1
            return result

    def _claim_due(self, session: Session) -> list[_Claim]:
        now = utcnow()
        rows = session.exec(
            select(OutboxItem)
            .where(col(OutboxItem.status).in_(("pending", "sending")), OutboxItem.next_attempt_at <= now)
            .order_by(col(OutboxItem.id))
            .limit(self.batch_size)
        ).all()
        claims = []
        for item in rows:
            assert item.id is not None
            claims.append(
                _Claim(
                    item.id,
                    item.kind,
                    item.attempts + 1,
                    item.status == "sending",
                    item.source,
                    item.draft_id,
                    dict(item.payload),
                    item.idempotency_key,
                )
            )
            item.status = "sending"
            item.attempts += 1
            # If we die while sending, the row becomes due again after this lease.
            item.next_attempt_at = now + timedelta(seconds=SEND_TIMEOUT * 2)
            item.updated_at = now
            session.add(item)
        return claims

    async def _deliver_reply(self, claim: _Claim, result: OutboxRunResult) -> None:
        """Post one approved reply through its source's connector, or hand it to a person to post."""
        loaded = await self.db.run_read(lambda s: _reply_context(s, claim.draft_id))
        draft_id = claim.draft_id
        if loaded is None or draft_id is None:
            await self._finish(claim, "failed", error="draft or mention no longer exists")
            result.failed += 1
            return
        draft_text, target, source = loaded
        connector = self.connectors.get(source)
        if connector is None or not connector.reply_policy.can_reply:
            why = "source not configured any more" if connector is None else connector.reply_policy.note
            await self._finish(claim, "manual", error=f"post by hand: {why}")
            result.manual += 1
            return
        try:
            reply = await self._post_once(connector, target, draft_text, claim)
        except ReplyError as err:
            await self._reply_failed(claim, draft_id, str(err), result, permanent=err.permanent)
            return
        except AuthError as err:
            # Credentials are wrong or revoked: retrying soon cannot help. Show it on the source and the
            # draft, and try again in an hour (an admin fixing the credentials restarts the daemon anyway).
            message = str(err)
            await self.db.run_write(lambda s: _auth_failed(s, source, claim.draft_id, message))
            await self._retry(claim, message, AUTH_RETRY_SECONDS, keep_sending=True)
            result.retrying += 1
            return
        except (TimeoutError, TransientFetchError, ConnectorError) as err:
            # Ambiguous: the reply may have gone out. Stay "sending" so the next try checks first.
            retry_after = err.retry_after if isinstance(err, TransientFetchError) else None
            await self._reply_failed(claim, draft_id, str(err) or "timed out", result, retry_after, unclear=True)
            return

        def done(session: Session) -> None:
            drafts.mark_sent(session, draft_id, reply.external_id, reply.url)
            _set_status(session, claim.item_id, "done", result={"external_id": reply.external_id, "url": reply.url})

        await self.db.run_write(done)
        logger.info("Reply for draft %s posted on %s: %s", claim.draft_id, source, reply.url or reply.external_id)
        result.sent += 1

    async def _post_once(self, connector: Connector, target: ReplyTarget, text: str, claim: _Claim) -> ReplyResult:
        """Post the reply; after a try whose outcome is unknown, first ask whether it is already there."""
        if claim.was_sending and isinstance(connector, ReplyLookup):
            found = await connector.find_reply(target, text, claim.idempotency_key)
            if found is not None:
                return found
        return await asyncio.wait_for(connector.reply(target, text, claim.idempotency_key), timeout=SEND_TIMEOUT)

    async def _reply_failed(
        self,
        claim: _Claim,
        draft_id: int,
        message: str,
        result: OutboxRunResult,
        retry_after: float | None = None,
        *,
        permanent: bool = False,
        unclear: bool = False,
    ) -> None:
        """Fail the draft for good (a permanent error, or the last attempt), else try again later."""
        if permanent or claim.attempts >= MAX_ATTEMPTS:
            await self.db.run_write(lambda s: drafts.mark_failed(s, draft_id, message, True))
            await self._finish(claim, "failed", error=message)
            result.failed += 1
        else:
            await self._retry(claim, message, retry_after, keep_sending=unclear)
            result.retrying += 1

    async def _deliver_webhook(self, claim: _Claim, result: OutboxRunResult) -> None:
        name = claim.payload.get("webhook")
        hook = next((w for w in self.config.webhooks if w.name == name), None)
        if hook is None:
            await self._finish(claim, "failed", error=f"webhook {name!r} is not configured")
            result.failed += 1
            return
        body = json.dumps(claim.payload.get("body", {}), ensure_ascii=False, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": claim.idempotency_key}
        headers.update(sign_webhook(body, os.environ.get(hook.secret_env or "", "")))
        try:
            async with self.http.post(hook.url, data=body, headers=headers) as resp:
                await read_capped(resp, "webhook", 64 * 1024)
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, ConnectorError) as err:
            await self._retry_or_fail(claim, f"webhook {name}: {err or 'timed out'}", result)
            return
        if 200 <= status < 300:
            await self._finish(claim, "done", result_data={"status": status})
            result.sent += 1
        elif status in (400, 401, 403, 404, 410, 422):
            await self._finish(claim, "failed", error=f"webhook {name}: HTTP {status}")
            result.failed += 1
        else:
            await self._retry_or_fail(claim, f"webhook {name}: HTTP {status}", result)

    async def _retry_or_fail(self, claim: _Claim, error: str, result: OutboxRunResult) -> None:
        if claim.attempts >= MAX_ATTEMPTS:
            await self._finish(claim, "failed", error=error)
            result.failed += 1
        else:
            await self._retry(claim, error, None)
            result.retrying += 1

    async def _retry(self, claim: _Claim, error: str, retry_after: float | None, keep_sending: bool = False) -> None:
        delay = self.backoff.delay(claim.attempts, retry_after)

        def write(session: Session) -> None:
            item = session.get(OutboxItem, claim.item_id)
            if item is None:
                return
            item.status = "sending" if keep_sending else "pending"
            item.last_error = error[:2000]
            item.next_attempt_at = utcnow() + timedelta(seconds=delay)
            item.updated_at = utcnow()
            session.add(item)

        await self.db.run_write(write)
        logger.warning("Outbox item %s (%s) failed, retrying in %.0fs: %s", claim.item_id, claim.kind, delay, error)

    async def _finish(
        self, claim: _Claim, status: str, *, error: str | None = None, result_data: dict[str, Any] | None = None
    ) -> None:
        await self.db.run_write(lambda s: _set_status(s, claim.item_id, status, error=error, result=result_data))
        if status == "failed":
            logger.error("Outbox item %s (%s) failed for good: %s", claim.item_id, claim.kind, error)


def _set_status(
    session: Session, item_id: int, status: str, *, error: str | None = None, result: dict[str, Any] | None = None
) -> None:
    item = session.get(OutboxItem, item_id)
    if item is None:
        return
    item.status = status
    item.last_error = error[:2000] if error else item.last_error
    item.result = result or item.result
    item.updated_at = utcnow()
    session.add(item)


def _reply_context(session: Session, draft_id: int | None) -> tuple[str, ReplyTarget, str] | None:
    draft = session.get(ReplyDraft, draft_id) if draft_id is not None else None
    mention = session.get(Mention, draft.mention_id) if draft is not None else None
    if draft is None or mention is None:
        return None
    return draft.text, replies.reply_target(mention), mention.source


def _auth_failed(session: Session, source: str, draft_id: int | None, error: str) -> None:
    sources.record_reply_auth_failure(session, source, error, now=utcnow())
    if draft_id is not None:
        drafts.mark_failed(session, draft_id, error, False)


def sign_webhook(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers that let a receiver verify a webhook: HMAC-SHA256 over "<timestamp>.<body>"."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    headers = {"X-SocialCRM-Timestamp": ts}
    if secret:
        digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers["X-SocialCRM-Signature"] = f"sha256={digest}"
    return headers
