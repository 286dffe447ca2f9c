"""Source-state writes of many pollers share transactions, and one failing write costs only its own caller."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlmodel import Session, select

from connectors.base import Batch
from socialcrm.config import SourceConfig, parse_config
from socialcrm.db import Database, GroupedWrites
from socialcrm.models import Mention, SourceState
from socialcrm.pipeline import Pipeline
from socialcrm.poller import Poller
from socialcrm.rules.loader import compile_rules
from socialcrm.services import sources as states
from tests.core.fakes import FakeClassifier, ScriptedConnector, post

SOURCES = 30


@contextmanager
def state_reads(db: Database) -> Iterator[list[str]]:
    """The SELECTs of the sourcestate table sent while the block runs."""
    reads: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "sourcestate" in statement.lower():
            reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield reads
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _state(session: Session, name: str) -> SourceState:
    state = session.get(SourceState, name)
    assert state is not None
    return state


async def test_concurrent_writes_share_a_transaction_and_each_gets_its_own_result(db: Database) -> None:
    writes = GroupedWrites(db)
    sources = [SourceConfig(name=f"feed-{i}", type="feed", interval="15m") for i in range(SOURCES)]

    def touch(source: SourceConfig, cursor: str) -> Callable[[Session], str]:
        def write(session: Session) -> str:
            state = states.source_state(session, source)
            state.cursor = cursor
            session.add(state)
            return f"{source.name}:{cursor}"

        return write

    results = await asyncio.gather(*(writes.write(touch(s, f"c{i}")) for i, s in enumerate(sources)))

    assert results == [f"feed-{i}:c{i}" for i in range(SOURCES)]
    assert writes.transactions == 1  # all asked before the first transaction began
    with db.read() as session:
        assert {s.name: s.cursor for s in session.exec(select(SourceState))} == {
            f"feed-{i}": f"c{i}" for i in range(SOURCES)
        }


async def test_a_failing_write_fails_only_its_caller_and_the_others_are_committed(db: Database) -> None:
    writes = GroupedWrites(db)
    good = [SourceConfig(name=f"feed-{i}", type="feed", interval="15m") for i in range(3)]

    def record(source: SourceConfig) -> Callable[[Session], str]:
        def write(session: Session) -> str:
            state = states.source_state(session, source)
            state.cursor = "done"
            session.add(state)
            session.flush()
            return source.name

        return write

    def broken(_session: Session) -> str:
        raise ValueError("a bug in one write")

    outcomes = await asyncio.gather(
        writes.write(record(good[0])),
        writes.write(broken),
        writes.write(record(good[1])),
        writes.write(record(good[2])),
        return_exceptions=True,
    )

    assert outcomes[0] == "feed-0" and outcomes[2] == "feed-1" and outcomes[3] == "feed-2"
    assert isinstance(outcomes[1], ValueError)
    assert writes.transactions == 1 + 4  # the group, then each write alone
    with db.read() as session:
        assert [_state(session, s.name).cursor for s in good] == ["done", "done", "done"]


async def test_a_poll_of_unchanged_sources_records_every_state_in_a_few_transactions(db: Database) -> None:
    config = parse_config("")
    pipeline = Pipeline(config, db, FakeClassifier(), compile_rules([], {}, webhooks=set()))
    sources = [SourceConfig(name=f"feed-{i}", type="feed", interval="15m") for i in range(SOURCES)]
    first = {
        s.name: ScriptedConnector(s.name, {None: Batch(posts=[post(s.name, 1, "Hallo Welt")], cursor="etag-1")})
        for s in sources
    }
    await asyncio.gather(*(Poller(s, first[s.name], pipeline).run_once(force=True) for s in sources))
    before = pipeline.state_writes.transactions

    unchanged = {s.name: ScriptedConnector(s.name) for s in sources}  # every cursor answers "nothing new"
    with state_reads(db) as reads:
        results = await asyncio.gather(*(Poller(s, unchanged[s.name], pipeline).run_once(force=True) for s in sources))

    assert [r.error for r in results] == [None] * SOURCES
    assert all(c.cursors_seen == ["etag-1"] for c in unchanged.values())
    # The snapshot of every source and the record of every empty page: a few shared transactions, not 2 x 30.
    assert pipeline.state_writes.transactions - before <= 4
    assert len(reads) <= 4  # the states of a group are read in one query, not one per source
    with db.read() as session:
        states = {s.name: _state(session, s.name) for s in sources}
        assert {name: (state.cursor, state.state, state.fetched_total) for name, state in states.items()} == {
            s.name: ("etag-1", "ok", 1) for s in sources
        }
        assert all(state.last_poll_at is not None for state in states.values())
        assert len(session.exec(select(Mention)).all()) == SOURCES


async def test_a_first_poll_reads_the_new_states_once_per_group_not_per_source(db: Database) -> None:
    config = parse_config("")
    pipeline = Pipeline(config, db, FakeClassifier(), compile_rules([], {}, webhooks=set()))
    sources = [SourceConfig(name=f"feed-{i}", type="feed", interval="15m") for i in range(SOURCES)]
    pages = {
        s.name: ScriptedConnector(s.name, {None: Batch(posts=[post(s.name, 1, "Hallo Welt")], cursor="etag-1")})
        for s in sources
    }
    with state_reads(db) as reads:
        results = await asyncio.gather(*(Poller(s, pages[s.name], pipeline).run_once(force=True) for s in sources))

    assert [(r.error, r.new) for r in results] == [(None, 1)] * SOURCES
    # The group's one read finds no state: each is inserted, not asked for again before or after; each
    # stored page then updates its source's row without reading it.
    assert len(reads) <= 4
    with db.read() as session:
        states = {s.name: _state(session, s.name) for s in sources}
        assert {
            name: (state.cursor, state.state, state.fetched_total, state.new_total, state.consecutive_failures)
            for name, state in states.items()
        } == {s.name: ("etag-1", "ok", 1, 1, 0) for s in sources}
        assert all(state.last_success_at is not None for state in states.values())


async def test_a_page_with_only_known_posts_still_advances_the_cursor(db: Database) -> None:
    config = parse_config("")
    pipeline = Pipeline(config, db, FakeClassifier(), compile_rules([], {}, webhooks=set()))
    source = SourceConfig(name="blog", type="feed", interval="15m")
    page = [post("blog", 1, "Beitrag")]
    await pipeline.process(source, Batch(posts=page, cursor="c1"))

    again = await pipeline.process(source, Batch(posts=page, cursor="c2"))

    assert (again.new, again.duplicates) == (0, 1)
    with db.read() as session:
        state = _state(session, "blog")
        assert (state.cursor, state.fetched_total, state.new_total, state.duplicate_total) == ("c2", 2, 1, 1)
