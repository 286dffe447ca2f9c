"""Runs one source once: fetch pages, hand them to the pipeline, and keep the source's health.

This is the one place that catches every exception of a connector: a failing source records
its error, backs off (Retry-After wins, else exponential with jitter) and never stops the others.
An authentication failure pauses the source ("auth_failed") instead of retrying in a loop; it is
tried again when the daemon restarts or someone runs ``socialcrm sources resume NAME``. Logs are
edge-triggered: once when a source goes down, once when it recovers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from classifiers.base import ClassifierError
from connectors import AuthError, Backoff, Connector, ConnectorError, TransientFetchError
from socialcrm.config import SourceConfig
from socialcrm.db import is_unavailable
from socialcrm.logs import log_source
from socialcrm.models import utcnow
from socialcrm.monitoring import instruments
from socialcrm.pipeline import Pipeline, PollCounts
from socialcrm.secret_mask import mask_secrets
from socialcrm.services import sources
from socialcrm.storable import storable_batch

if TYPE_CHECKING:
    from socialcrm.models import SourceState

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class PollResult(PollCounts):
    """The summary ``socialcrm poll`` prints per source: the counts of every page, and what stopped it."""

    source: str
    pages: int = 0
    skipped_reason: str | None = None
    error: str | None = None
    not_modified: bool = False

    @property
    def outcome(self) -> str:
        """In a word, for metrics: skipped, failed, not_modified (nothing new on the server) or ok."""
        if self.skipped_reason is not None:
            return "skipped"
        if self.error is not None:
            return "failed"
        return "not_modified" if self.not_modified and not self.fetched else "ok"


class Poller:
    """Polls one configured source with its connector."""

    def __init__(
        self,
        source: SourceConfig,
        connector: Connector,
        pipeline: Pipeline,
        *,
        max_pages: int = 10,
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.source = source
        self.connector = connector
        self.pipeline = pipeline
        self.db = pipeline.db
        self.max_pages = max_pages
        self.backoff = backoff or Backoff(base=max(30.0, source.interval_delta.total_seconds() / 4), cap=6 * 3600.0)
        self._now: Callable[[], datetime] = clock or utcnow

    async def run_once(self, *, force: bool = False) -> PollResult:
        """Fetch until the connector has no more pages (bounded), storing each page as it comes."""
        started = time.perf_counter()
        with log_source(self.source.name):
            result = await self._poll(force)
        instruments.observe_poll(self.source.name, self.source.type, result.outcome, time.perf_counter() - started)
        return result

    async def _poll(self, force: bool) -> PollResult:
        result = PollResult(source=self.source.name)
        # Read (or created) together with the states other pollers ask for meanwhile: one transaction.
        state = await self.pipeline.state_writes.write(lambda s: sources.snapshot(s, self.source), key=self.source.name)
        result.skipped_reason = None if force else self._skip_reason(state)
        if result.skipped_reason is not None:
            return result
        try:
            await self._fetch_pages(state.cursor, result)
        except AuthError as err:
            await self._failed(result, str(err), auth=True)
        except TransientFetchError as err:
            await self._failed(result, str(err), retry_after=err.retry_after)
        except ConnectorError as err:
            await self._failed(result, str(err))
        except ClassifierError:
            raise  # the model could not load: not this source's fault, and every source needs it
        except Exception as err:  # noqa: BLE001 - a bug in one connector must not stop the daemon
            if is_unavailable(err):
                raise  # the database's outage, not the source's failure: the job logs it, the next turn stores the page
            logger.exception("%s: unexpected error while polling", self.source.name)
            await self._failed(result, f"{type(err).__name__}: {err}")
        else:
            if state.state not in sources.HEALTHY:
                logger.info("%s recovered", self.source.name)
        if result.new:
            logger.info(
                "%s: %d fetched, %d new, %d ticket(s) opened, %d reply draft(s)",
                self.source.name,
                result.fetched,
                result.new,
                result.tickets,
                result.drafts,
            )
        return result

    def _skip_reason(self, state: SourceState) -> str | None:
        """Why this source is not polled now (paused, stopped by an auth failure, backing off), or None."""
        if state.state == "paused":
            return "paused by an admin"
        if state.state == "auth_failed":
            return mask_secrets(f"authentication failed: {state.last_error}", self.source.secret_values())
        if state.backoff_until and state.backoff_until > self._now():
            return f"backing off until {state.backoff_until.isoformat()}"
        return None

    async def _fetch_pages(self, cursor: str | None, result: PollResult) -> None:
        """Fetch and store page after page (at most ``max_pages``), adding each page's counts to ``result``."""
        for _ in range(self.max_pages):
            # Where connector output enters the core: nothing unstorable gets past this line.
            batch = storable_batch(await self.connector.fetch(cursor))
            started = time.perf_counter()
            stored = await self.pipeline.process(self.source, batch)
            instruments.observe_batch(stored.new, stored.duplicates, stored.errors, time.perf_counter() - started)
            result.add(stored)
            result.pages += 1
            result.not_modified = batch.not_modified
            for problem in batch.problems:
                logger.warning("%s: %s", self.source.name, problem)
            cursor = batch.cursor
            if not batch.has_more:
                break

    async def _failed(
        self,
        result: PollResult,
        error: str,
        *,
        auth: bool = False,
        retry_after: float | None = None,
    ) -> None:
        # A server may echo a credential in its error body: mask before anything keeps or shows it.
        message = mask_secrets(error, self.source.secret_values())[: sources.MAX_ERROR_CHARS]
        await self._record_failure(message, auth=auth, retry_after=retry_after)
        result.error = message
        result.errors += 1

    async def _record_failure(self, message: str, *, auth: bool = False, retry_after: float | None = None) -> None:
        now = self._now()
        backoff = self.backoff

        def write(session: Session) -> sources.StateChange:
            if auth:
                return sources.record_auth_failure(session, self.source, message, now=now)
            return sources.record_failure(
                session,
                self.source,
                message,
                now=now,
                delay_after=lambda failures: backoff.delay(failures, retry_after),
            )

        change = await self.db.run_write(write)
        if change.went_down:
            if auth:
                logger.error("%s: authentication failed, source paused until fixed: %s", self.source.name, message)
            else:
                logger.warning("%s: fetch failed, backing off: %s", self.source.name, message)
        else:
            logger.debug("%s: still failing: %s", self.source.name, message)
