"""Group commit of pages (socialcrm/store_groups.py): pages that arrive while others are stored go together.

The queue is tested with a store function of our own (a seam) on a real database, both backends: which
pages share a transaction, what each caller gets back, and how a failing group falls back page by
page. That a group stores what its pages stored one after the other would: tests/core/test_batch_store.py.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlmodel import Session

from socialcrm.db import Database
from socialcrm.services.ingest import BatchFailed
from socialcrm.store_groups import MOST_PAGES, StoreGroups


class Recorder:
    """A store function: records each transaction's pages; the first waits until ``release`` is set."""

    def __init__(self, failing: set[int] = frozenset(), batch_failing: set[int] = frozenset()) -> None:
        self.calls: list[tuple[list[int], bool]] = []
        self.release = threading.Event()
        self.failing = failing
        self.batch_failing = batch_failing

    def __call__(self, session: Session, pages: list[int], one_by_one: bool) -> list[str]:
        self.calls.append((list(pages), one_by_one))
        if len(self.calls) == 1:
            assert self.release.wait(10), "the test never let the first group go"
        session.connection()  # a real transaction
        if self.failing & set(pages):
            raise RuntimeError(f"page {sorted(self.failing & set(pages))[0]} is broken")
        if self.batch_failing & set(pages) and not one_by_one:
            raise BatchFailed("one mention failed")
        return [f"stored {page}" + (" one by one" if one_by_one else "") for page in pages]


async def queue_behind_first(groups: StoreGroups[int, str], recorder: Recorder, pages: list[int]) -> list[Any]:
    """Store ``pages[0]``, then the others while it is being stored; return each caller's outcome."""
    first = asyncio.create_task(groups.store(pages[0]))
    while not recorder.calls:
        await asyncio.sleep(0.01)
    rest = [asyncio.create_task(groups.store(page)) for page in pages[1:]]
    await asyncio.sleep(0.05)
    recorder.release.set()
    return await asyncio.gather(first, *rest, return_exceptions=True)


async def test_pages_arriving_while_a_group_is_stored_are_stored_together(db: Database) -> None:
    recorder = Recorder()
    groups = StoreGroups(db, recorder, str, writers=1)
    outcomes = await queue_behind_first(groups, recorder, [1, 2, 3, 4])
    assert outcomes == ["stored 1", "stored 2", "stored 3", "stored 4"]
    assert recorder.calls == [([1], False), ([2, 3, 4], False)]
    assert groups.groups == 2


async def test_a_group_holds_at_most_so_many_pages(db: Database) -> None:
    recorder = Recorder()
    groups = StoreGroups(db, recorder, str, writers=1)
    pages = list(range(MOST_PAGES + 3))
    outcomes = await queue_behind_first(groups, recorder, pages)
    assert outcomes == [f"stored {page}" for page in pages]
    assert [len(p) for p, _ in recorder.calls] == [1, MOST_PAGES, 2]


async def test_a_failing_group_is_stored_page_by_page_and_only_the_bad_page_fails(db: Database) -> None:
    recorder = Recorder(failing={3}, batch_failing={4})
    groups = StoreGroups(db, recorder, str, writers=1)
    outcomes = await queue_behind_first(groups, recorder, [1, 2, 3, 4, 5])
    assert outcomes[:2] == ["stored 1", "stored 2"] and outcomes[4] == "stored 5"
    assert isinstance(outcomes[2], RuntimeError) and "page 3" in str(outcomes[2])
    assert outcomes[3] == "stored 4 one by one"  # alone, its batch failed: one mention at a time
    assert recorder.calls == [
        ([1], False),
        ([2, 3, 4, 5], False),  # the group fails (page 3): rolled back, each page alone
        ([2], False),
        ([3], False),
        ([4], False),
        ([4], True),
        ([5], False),
    ]


async def test_a_page_whose_caller_gave_up_before_its_turn_is_not_stored(db: Database) -> None:
    recorder = Recorder()
    groups = StoreGroups(db, recorder, str, writers=1)
    first = asyncio.create_task(groups.store(1))
    while not recorder.calls:
        await asyncio.sleep(0.01)
    given_up, kept = asyncio.create_task(groups.store(2)), asyncio.create_task(groups.store(3))
    await asyncio.sleep(0.05)
    given_up.cancel()
    recorder.release.set()
    assert await first == "stored 1" and await kept == "stored 3"
    with pytest.raises(asyncio.CancelledError):
        await given_up
    assert recorder.calls == [([1], False), ([3], False)]


async def test_several_groups_are_stored_at_once_where_the_database_allows(db: Database) -> None:
    """On PostgreSQL two groups' transactions overlap (one holds the person locks, the other stores its
    mentions meanwhile); the pages that wait behind both go together."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: the pipeline stores one group at a time there")
    recorder = Recorder()
    groups = StoreGroups(db, recorder, str, writers=2)
    first = asyncio.create_task(groups.store(1))
    while not recorder.calls:
        await asyncio.sleep(0.01)
    second = asyncio.create_task(groups.store(2))
    while len(recorder.calls) < 2:
        await asyncio.sleep(0.01)
    rest = [asyncio.create_task(groups.store(page)) for page in (3, 4)]
    await second  # stored while the first still waits
    recorder.release.set()
    assert await asyncio.gather(first, *rest) == ["stored 1", "stored 3", "stored 4"]
    assert sorted(p for p, _ in recorder.calls) == [[1], [2], [3, 4]]
