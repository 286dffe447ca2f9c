"""Runs one source once: fetch pages, hand them to the pipeline, and keep the source's health.

This is the one place that catches every exception of a connector: a failing source records
its error, backs off (Retry-After wins, else exponential with jitter) and never stops the others.
An authentication failure pauses the source ("auth_failed") instead of retrying in a loop; it is
tried again when the daemon restarts or someone runs ``socialcrm sources resume NAME``. Logs are
edge-triggered: once when a source goes down, once when it recovers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from connectors import AuthError, Backoff, Connector, ConnectorError, TransientFetchError
from socialcrm.config import SourceConfig
from socialcrm.logs import log_source
from socialcrm.models import utcnow
from socialcrm.pipeline import Pipeline, PollCounts
from socialcrm.services import sources

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class PollResult(PollCounts):
    """The summary ``socialcrm poll`` prints per source: the counts of every page, and what stopped it."""

    source: str
    pages: int = 0
    skipped_reason: str | None = None
    error: str | None = None
    not_modified: bool = False


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
        with log_source(self.source.name):
            return await self._poll(force)

    async def _poll(self, force: bool) -> PollResult:
        result = PollResult(source=self.source.name)
        state = await self.db.run_write(lambda s: sources.snapshot(s, self.source))
        now = self._now()
        if not force:
            if state.state == "paused":
                result.skipped_reason = "paused by an admin"
                return result
            if state.state == "auth_failed":
                result.skipped_reason = f"authentication failed: {state.last_error}"
                return result
            if state.backoff_until and state.backoff_until > now:
                result.skipped_reason = f"backing off until {state.backoff_until.isoformat()}"
                return result
        cursor = state.cursor
        try:
            for _ in range(self.max_pages):
                batch = await self.connector.fetch(cursor)
                result.add(await self.pipeline.process(self.source, batch))
                result.pages += 1
                result.not_modified = batch.not_modified
                for problem in batch.problems:
                    logger.warning("%s: %s", self.source.name, problem)
                cursor = batch.cursor
                if not batch.has_more:
                    break
        except AuthError as err:
            await self._record_failure(err, auth=True)
            result.error = str(err)
            result.errors += 1
        except TransientFetchError as err:
            await self._record_failure(err, retry_after=err.retry_after)
            result.error = str(err)
            result.errors += 1
        except ConnectorError as err:
            await self._record_failure(err)
            result.error = str(err)
            result.errors += 1
        except Exception as err:  # noqa: BLE001 - a bug in one connector must not stop the daemon
            logger.exception("%s: unexpected error while polling", self.source.name)
            await self._record_failure(err)
            result.error = f"{type(err).__name__}: {err}"
            result.errors += 1
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

    async def _record_failure(
        self, err: BaseException, *, auth: bool = False, retry_after: float | None = None
    ) -> None:
        now = self._now()
        message = str(err)[:2000]
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
