"""Pages of new posts stored several to one write transaction (group commit), each page's outcome to its caller.

Stored one transaction a page, pages of sources that share authors queue for the same person locks
(``db.lock_across_processes``), and each pays the fixed cost of a store while holding them: its
reads of customers, keys and tickets, its bulk inserts, its commit, a round trip each on
PostgreSQL. ``StoreGroups.store(page)`` queues the page instead; while ``writers`` groups are being
stored, the pages that arrive meanwhile gather, and the next group stores them together: one set of
statements, one set of locks, one commit. Under light load a group is one page, as before.

A group that fails is stored again page by page, each in its own transaction, so a page's error
(a ``BatchFailed`` mention, a bug) reaches only its own caller and the other pages are stored as
they would have been alone; a page alone that fails with ``BatchFailed`` is stored one mention at a
time (``one_by_one``). A deadlock with another process's transaction stores the group again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from socialcrm.db import Database, must_restart_transaction
from socialcrm.services.ingest import BatchFailed

logger = logging.getLogger(__name__)
Page = TypeVar("Page")
Result = TypeVar("Result")
RESTART_TRIES = 3
# The most pages one transaction stores: enough to pay the fixed cost once for many, few enough that
# a group's transaction (and the locks it holds) stays short.
MOST_PAGES = 8

StoreFn = Callable[[Session, list[Page], bool], list[Result]]


class StoreGroups(Generic[Page, Result]):
    """Stores queued pages in groups: ``store_pages(session, pages, one_by_one)`` writes a group, in order.

    ``writers``: how many groups may be stored at once (their transactions overlap on PostgreSQL;
    SQLite has one writer). ``describe(page)`` names a page in log lines. Meant for one event loop at a
    time (a new loop starts a new queue).
    """

    def __init__(
        self,
        db: Database,
        store_pages: StoreFn[Page, Result],
        describe: Callable[[Page], str],
        *,
        writers: int,
        synchronous_commit: bool = True,
    ) -> None:
        self.db = db
        self.store_pages = store_pages
        self.describe = describe
        self.writers = writers
        self.synchronous_commit = synchronous_commit  # see ``Database.write``
        self._waiting: list[tuple[Page, asyncio.Future[Result]]] = []
        self._running = 0  # groups being stored (their runner tasks are held in ``_runners``)
        self._runners: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks
        self._loop: asyncio.AbstractEventLoop | None = None
        self.groups = 0  # transactions that stored a group of pages (for tests and benchmarks)

    async def store(self, page: Page) -> Result:
        """Store ``page`` (with the pages queued meanwhile) and return its outcome, or raise its error."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._waiting, self._running, self._runners = loop, [], 0, set()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((page, future))
        if self._running < self.writers:
            self._running += 1  # counted down by the runner itself, before it ends (a done callback runs later)
            runner = loop.create_task(self._run(loop))
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)
        return await future

    async def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        group: list[tuple[Page, asyncio.Future[Result]]] = []
        try:
            while self._waiting:
                # A caller that gave up (its poll was cancelled) before its page's turn: the page is not stored.
                waiting = [(page, future) for page, future in self._waiting if not future.done()]
                group, self._waiting = waiting[:MOST_PAGES], waiting[MOST_PAGES:]
                if not group:
                    continue
                try:
                    results = await self._store([page for page, _ in group])
                except Exception as err:  # noqa: BLE001 - each page is stored alone below, its error to its caller
                    if len(group) == 1:
                        _settle(group[0][1], error=err)
                    else:
                        logger.info("Storing %d pages together failed (%s); storing each alone", len(group), err)
                        for page, future in group:
                            await self._store_alone(page, future)
                else:
                    for (_, future), result in zip(group, results, strict=True):
                        _settle(future, result=result)
                group = []
        except asyncio.CancelledError:
            # The loop is closing: what was not stored yet is dropped with its callers, never stored later.
            for _, future in group + self._waiting:
                future.cancel()
            self._waiting = []
            raise
        finally:
            if self._loop is loop:
                self._running -= 1

    async def _store_alone(self, page: Page, future: asyncio.Future[Result]) -> None:
        try:
            result = await self._store([page])
        except Exception as err:  # noqa: BLE001 - handed to the caller who asked
            _settle(future, error=err)
        else:
            _settle(future, result=result[0])

    def _call(self, session: Session, *, pages: list[Page], one_by_one: bool) -> list[Result]:
        return self.store_pages(session, pages, one_by_one)

    async def _store(self, pages: list[Page]) -> list[Result]:
        """Store the pages in one transaction; a deadlock stores them again, a lone page's BatchFailed one by one."""
        one_by_one, restarts = False, 0
        while True:
            try:
                self.groups += 1
                # Safe beside any other writer (person locks, insert-or-get, a deadlock stores it again):
                # on PostgreSQL, several groups are stored at once (Database.write).
                return await self.db.run_write(
                    functools.partial(self._call, pages=pages, one_by_one=one_by_one),
                    concurrent=True,
                    synchronous_commit=self.synchronous_commit,
                )
            except BatchFailed:
                if len(pages) > 1:
                    raise  # each page is stored alone (``_run``)
                # Rolled back as a whole: stored again, each mention in its own savepoint (never raises this).
                one_by_one = True
            except OperationalError as err:
                # A deadlock with another worker's transaction (on rows the person locks do not cover):
                # PostgreSQL rolled this one back; the pages are stored again from the start.
                restarts += 1
                if not must_restart_transaction(err) or restarts == RESTART_TRIES:
                    raise
                logger.warning(
                    "%s: storing a page collided with another worker; trying again",
                    ", ".join(self.describe(page) for page in pages),
                )


def _settle(future: asyncio.Future[Result], *, result: Result | None = None, error: Exception | None = None) -> None:
    """Hand the caller its outcome, unless it gave up waiting."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
