"""The outbox worker: posts approved replies through their connector, sends signed webhooks and e-mails.

Outbox rows are written in the same transaction that approved a draft or fired a rule. A worker
claims one row at a time (socialcrm/services/outbox.py: a compare-and-set that makes it the row's
lease owner) and renews the lease, fenced by its owner token, right before each step that talks to
the outside world: a worker that no longer holds a row sends nothing, so two daemons on one
database, or ``poll --once`` beside a running daemon, never send the same row. Each step is bounded
by half the lease (``[daemon] outbox_lease``), so a renewed lease outlives the step.

If the daemon dies mid-send, the row's lease runs out and it is claimed again still "sending": the
worker then asks the connector whether the reply is already there (``find_reply``, paging back to
the row's first attempt) before posting again, and the platform's own idempotency key (where it
has one) guards the rest. When the look-up cannot reach back that far, nothing is posted: the draft
fails with a message that asks a person to look (more posts only pile up, so retrying cannot decide).

Webhooks (socialcrm/outbox_webhook.py) and e-mails (socialcrm/outbox_email.py) are delivered in
their own modules, through the same claim, lease fence and settling as replies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import sqlalchemy.exc
from sqlmodel import Session

from connectors import (
    AuthError,
    Backoff,
    Connector,
    ConnectorError,
    ReplyError,
    ReplyLookup,
    ReplyLookupIncompleteError,
    ReplyResult,
    ReplyTarget,
    TransientFetchError,
)
from socialcrm.config import Config
from socialcrm.db import Database
from socialcrm.durations import parse_duration
from socialcrm.models import Mention, ReplyDraft, utcnow
from socialcrm.monitoring import instruments
from socialcrm.outbox_email import deliver_email
from socialcrm.outbox_webhook import deliver_webhook
from socialcrm.services import drafts, replies, sources
from socialcrm.services import outbox as queue
from socialcrm.services.outbox import Claim
from socialcrm.webhooks import sign_webhook

__all__ = ["LeaseLostError", "OutboxRunResult", "OutboxWorker", "sign_webhook", "worker_token"]

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
AUTH_RETRY_SECONDS = 3600.0


@dataclass
class OutboxRunResult:
    """Counts of one pass over the outbox (``taken_over``: rows another worker took before we sent)."""

    sent: int = 0
    manual: int = 0
    failed: int = 0
    retrying: int = 0
    taken_over: int = 0


class LeaseLostError(Exception):
    """Another worker holds the row now: this one must not send it."""


def worker_token() -> str:
    """A name for one worker that no other worker, process or machine shares."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


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
        owner: str | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.connectors = connectors
        self.http = http
        self.batch_size = batch_size
        self.owner = owner or worker_token()
        self.lease = parse_duration(config.daemon.outbox_lease)
        self.step_timeout = self.lease.total_seconds() / 2
        self.backoff = Backoff(base=30.0, cap=3600.0)
        self._lock = asyncio.Lock()
        self._database_down: str | None = None

    async def run_once(self) -> OutboxRunResult:
        """Deliver every due row, claiming one at a time (one pass at a time, even if called concurrently).

        While the database cannot be written (a full disk, a restarting server) the pass stops and
        says so once; rows in flight stay leased and are retried, looking first, when it is back.
        """
        async with self._lock:
            result = OutboxRunResult()
            try:
                await self._pass(result)
            except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as err:
                if self._database_down is None:
                    logger.error("Outbox paused: the database cannot be written (%s); trying again", _first_line(err))
                self._database_down = str(err)
            else:
                if self._database_down is not None:
                    logger.info("Outbox: the database can be written again; delivering")
                self._database_down = None
            return result

    async def _pass(self, result: OutboxRunResult) -> None:
        """Claim and deliver due rows one at a time, at most ``batch_size`` of them."""
        handled: list[int] = []
        for _ in range(self.batch_size):
            claim = await self.db.run_write(self._claim(handled))
            if claim is None:
                break
            handled.append(claim.item_id)
            await self._deliver_held(claim, result)

    async def deliver(self, item_id: int) -> OutboxRunResult:
        """Deliver the one row ``item_id`` if it is due (a send job of a queue worker); nothing otherwise."""
        result = OutboxRunResult()

        def claim(session: Session) -> Claim | None:
            return queue.claim_next(session, self.owner, now=utcnow(), lease=self.lease, only=item_id)

        taken = await self.db.run_write(claim)
        if taken is not None:
            await self._deliver_held(taken, result)
        return result

    async def _deliver_held(self, claim: Claim, result: OutboxRunResult) -> None:
        try:
            await self._deliver(claim, result)
        except LeaseLostError:
            logger.warning(
                "Outbox item %s (%s): another worker took it over before it was sent; left to that worker",
                claim.item_id,
                claim.kind,
            )
            result.taken_over += 1

    def _claim(self, handled: list[int]) -> Callable[[Session], Claim | None]:
        def claim(session: Session) -> Claim | None:
            return queue.claim_next(session, self.owner, now=utcnow(), lease=self.lease, skip=handled)

        return claim

    async def hold(self, claim: Claim) -> None:
        """Renew the lease right before talking to the outside world; raise LeaseLostError if it is gone."""
        await self.write_held(claim, lambda s: queue.renew(s, claim, now=utcnow(), lease=self.lease))

    async def write_held(
        self, claim: Claim, write: Callable[[Session], bool], then: Callable[[], None] | None = None
    ) -> None:
        """Run a write fenced by the lease (it answers whether the row is still held); LeaseLostError if not.

        ``then`` runs right after the write commits, on the same thread, when the row was still held:
        nothing (no event-loop turn, no wait for a free thread) can come between the two.
        """

        def work() -> bool:
            with self.db.write() as session:
                held = write(session)
            if held and then is not None:
                then()
            return held

        if not await asyncio.to_thread(work):
            raise LeaseLostError(claim.item_id)

    async def _deliver(self, claim: Claim, result: OutboxRunResult) -> None:
        """Deliver one held row, counting its outcome for the metrics (LeaseLostError passes through)."""
        before = dataclasses.astuple(result)
        started = time.perf_counter()
        try:
            await self._deliver_kind(claim, result)
        except LeaseLostError:
            instruments.observe_delivery(claim.kind, "taken_over", time.perf_counter() - started)
            raise
        changed = [
            f.name
            for f, old, new in zip(dataclasses.fields(result), before, dataclasses.astuple(result), strict=True)
            if old != new
        ]
        outcome = changed[0] if changed else "taken_over"  # its lease was lost before the outcome was stored
        instruments.observe_delivery(claim.kind, outcome, time.perf_counter() - started)

    async def _deliver_kind(self, claim: Claim, result: OutboxRunResult) -> None:
        if claim.kind == "reply":
            await self._deliver_reply(claim, result)
        elif claim.kind == "webhook":
            await deliver_webhook(self, claim, result)
        elif claim.kind == "email":
            await deliver_email(self, claim, result)
        else:
            await self.finish(claim, "failed", error=f"unknown outbox kind {claim.kind!r}")
            result.failed += 1

    async def _deliver_reply(self, claim: Claim, result: OutboxRunResult) -> None:
        """Post one approved reply through its source's connector, or hand it to a person to post."""
        loaded = await self.db.run_read(lambda s: _reply_context(s, claim.draft_id))
        draft_id = claim.draft_id
        if loaded is None or draft_id is None:
            await self.finish(claim, "failed", error="draft or mention no longer exists")
            result.failed += 1
            return
        draft_text, target, source = loaded
        connector = self.connectors.get(source)
        if connector is None or not connector.reply_policy.can_reply:
            why = "source not configured any more" if connector is None else connector.reply_policy.note
            await self.finish(claim, "manual", error=f"post by hand: {why}")
            result.manual += 1
            return
        try:
            reply = await self._post_once(connector, target, draft_text, claim)
        except ReplyLookupIncompleteError as err:
            await self._undecided(claim, draft_id, target, err, result)
            return
        except ReplyError as err:
            await self._reply_failed(claim, draft_id, str(err), result, permanent=err.permanent)
            return
        except AuthError as err:
            # Credentials are wrong or revoked: retrying soon cannot help. Show it on the source and the
            # draft, and try again in an hour (an admin fixing the credentials restarts the daemon anyway).
            message = str(err)
            await self.db.run_write(lambda s: _auth_failed(s, source, claim.draft_id, message))
            await self.retry(claim, message, AUTH_RETRY_SECONDS, keep_sending=True)
            result.retrying += 1
            return
        except (TimeoutError, TransientFetchError, ConnectorError) as err:
            # Ambiguous: the reply may have gone out. Stay "sending" so the next try checks first.
            retry_after = err.retry_after if isinstance(err, TransientFetchError) else None
            await self._reply_failed(claim, draft_id, str(err) or "timed out", result, retry_after, unclear=True)
            return

        def done(session: Session) -> None:
            # The reply is out, whoever holds the row by now: record it, so no worker sends it again.
            drafts.mark_sent(session, draft_id, reply.external_id, reply.url)
            outcome = {"external_id": reply.external_id, "url": reply.url}
            queue.mark_delivered(session, claim.item_id, now=utcnow(), result=outcome)

        await self.db.run_write(done)
        logger.info("Reply for draft %s posted on %s: %s", claim.draft_id, source, reply.url or reply.external_id)
        result.sent += 1

    async def _post_once(self, connector: Connector, target: ReplyTarget, text: str, claim: Claim) -> ReplyResult:
        """Post the reply; after a try whose outcome is unknown, first look back for it."""
        if claim.was_sending and isinstance(connector, ReplyLookup):
            await self.hold(claim)
            found = await asyncio.wait_for(_find(connector, target, text, claim), timeout=self.step_timeout)
            if found is not None:
                return found
        await self.hold(claim)
        return await asyncio.wait_for(connector.reply(target, text, claim.idempotency_key), timeout=self.step_timeout)

    async def _undecided(
        self,
        claim: Claim,
        draft_id: int,
        target: ReplyTarget,
        err: ReplyLookupIncompleteError,
        result: OutboxRunResult,
    ) -> None:
        """The look-up could not decide: post nothing and ask a person (a later look would not decide either)."""
        message = (
            "Not posted: an earlier try may already have posted this reply, and the check could not tell "
            f"({err.message}). Look at the account's replies to {target.url}: if the reply is there, mark the "
            "draft as posted; if not, send it again."
        )
        settled = await self._settle(
            claim,
            "failed",
            error=message,
            result_data={"outcome_unknown": True, "lookup": "undecided"},
            draft_update=lambda s: drafts.mark_failed(s, draft_id, message, True),
        )
        if settled:
            logger.error("Outbox item %s (draft %s) needs a person: %s", claim.item_id, draft_id, message)
            result.failed += 1

    async def _reply_failed(
        self,
        claim: Claim,
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
            settled = await self._settle(
                claim,
                "failed",
                error=message,
                result_data={"outcome_unknown": True} if unclear else None,
                draft_update=lambda s: drafts.mark_failed(s, draft_id, message, True),
            )
            if settled:
                logger.error("Outbox item %s (%s) failed for good: %s", claim.item_id, claim.kind, message)
                result.failed += 1
        else:
            await self.retry(claim, message, retry_after, keep_sending=unclear)
            result.retrying += 1

    async def retry_or_fail(
        self, claim: Claim, error: str, result: OutboxRunResult, retry_after: float | None = None
    ) -> None:
        """Try the row again later (when ``retry_after`` says, else by backoff), or fail it after the last attempt."""
        if claim.attempts >= MAX_ATTEMPTS:
            await self.finish(claim, "failed", error=error)
            result.failed += 1
        else:
            await self.retry(claim, error, retry_after)
            result.retrying += 1

    async def retry(self, claim: Claim, error: str, retry_after: float | None, keep_sending: bool = False) -> None:
        """Release the row to be tried again later (still "sending" when the last try's outcome is unknown)."""
        delay = self.backoff.delay(claim.attempts, retry_after)
        status = "sending" if keep_sending else "pending"
        if await self._settle(claim, status, error=error, retry_in=delay):
            logger.warning("Outbox item %s (%s) failed, retrying in %.0fs: %s", claim.item_id, claim.kind, delay, error)

    async def finish(
        self, claim: Claim, status: str, *, error: str | None = None, result_data: dict[str, Any] | None = None
    ) -> None:
        """Release the row in its final ``status`` if this worker still holds it."""
        settled = await self._settle(claim, status, error=error, result_data=result_data)
        if settled and status == "failed":
            logger.error("Outbox item %s (%s) failed for good: %s", claim.item_id, claim.kind, error)

    async def _settle(
        self,
        claim: Claim,
        status: str,
        *,
        error: str | None = None,
        result_data: Mapping[str, Any] | None = None,
        retry_in: float | None = None,
        draft_update: Callable[[Session], object] | None = None,
    ) -> bool:
        """Release the row in ``status`` (and update its draft) if this worker still holds it."""

        def write(session: Session) -> bool:
            now = utcnow()
            next_at = now + timedelta(seconds=retry_in) if retry_in is not None else None
            released = queue.release(
                session, claim, status, now=now, error=error, result=result_data, next_attempt_at=next_at
            )
            if released and draft_update is not None:
                draft_update(session)
            return released

        settled = await self.db.run_write(write)
        if not settled:
            logger.warning(
                "Outbox item %s: another worker holds it now; its outcome is left to that worker", claim.item_id
            )
        return settled


async def _find(connector: ReplyLookup, target: ReplyTarget, text: str, claim: Claim) -> ReplyResult | None:
    """Ask the connector for an earlier reply, back to the row's first attempt where it understands that."""
    if _takes_since(connector):
        return await connector.find_reply(target, text, claim.idempotency_key, since=claim.first_attempt_at)
    # A connector written for the first release's contract: it looks at its latest posts only.
    legacy: Callable[..., Any] = connector.find_reply
    found: ReplyResult | None = await legacy(target, text, claim.idempotency_key)
    return found


def _first_line(err: BaseException) -> str:
    """The first line of a database error (SQLAlchemy appends SQL and a link)."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


_SINCE_SUPPORT: dict[type[Any], bool] = {}


def _takes_since(connector: ReplyLookup) -> bool:
    """Whether the connector's ``find_reply`` accepts ``since`` (connectors written before it do not)."""
    kind = type(connector)
    if kind not in _SINCE_SUPPORT:
        try:
            parameters = list(inspect.signature(connector.find_reply).parameters.values())
        except (TypeError, ValueError):
            parameters = []
        _SINCE_SUPPORT[kind] = any(p.name == "since" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    return _SINCE_SUPPORT[kind]


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
