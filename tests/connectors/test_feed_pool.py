"""The parser process pool: time caps kill a worker and replace it, memory caps hold, early start, shutdown."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from connectors import feed_parse, feed_pool
from connectors.base import MalformedResponseError
from connectors.feed import shutdown_parser_pool
from connectors.feed_pool import ParserPool, ParserPoolError, get_parser_pool
from tests.connectors.test_feed_helpers import feed_bytes, http, make_feed, serve
from tests.replay_server import ReplayServer

__all__ = ["http"]


def job(relative: str = "real-world/guardian.rss") -> dict[str, Any]:
    return {
        "body": feed_bytes(relative),
        "content_type": None,
        "max_entries": 200,
    }


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
async def pool() -> AsyncIterator[ParserPool]:
    own = ParserPool(size=1)
    try:
        yield own
    finally:
        own.close()


async def test_a_parse_over_its_time_cap_is_killed_and_the_worker_replaced(pool: ParserPool) -> None:
    first = await pool.run(job("real-world/heise.atom"), timeout=10)
    assert first["ok"] and len(first["entries"]) == 15
    (pid,) = pool.pids()
    with pytest.raises(ParserPoolError, match=r"parsing took longer than 0.001 s; the parser process was stopped"):
        await pool.run(job(), timeout=0.001)
    assert pool.pids() == [] and not is_running(pid)
    again = await pool.run(job(), timeout=10)
    assert again["ok"] and len(again["entries"]) == 55
    assert pool.pids() != [pid]


async def test_a_worker_over_its_memory_cap_fails_cleanly() -> None:
    tiny = ParserPool(size=1, memory_limit_mb=1)  # 1 MiB above what the idle worker uses
    try:
        result = await tiny.run(job(), timeout=10)
        assert not result["ok"] and result["error"] == "the parser ran out of memory (memory cap reached)"
        assert tiny.pids() == []  # a worker that hit its cap is replaced, never reused
    finally:
        tiny.close()


async def test_waiting_jobs_share_the_workers_and_a_cancelled_waiter_loses_nothing(pool: ParserPool) -> None:
    running = [asyncio.create_task(pool.run(job("real-world/heise.atom"), timeout=10)) for _ in range(6)]
    await asyncio.sleep(0)
    running[2].cancel()
    done = await asyncio.gather(*running, return_exceptions=True)
    assert isinstance(done[2], asyncio.CancelledError)
    finished = [r for i, r in enumerate(done) if i != 2]
    assert all(isinstance(r, dict) and r["ok"] and len(r["entries"]) == 15 for r in finished)
    assert len(pool.pids()) == 1


async def test_close_stops_every_worker(pool: ParserPool) -> None:
    await pool.run(job("real-world/heise.atom"), timeout=10)
    pids = pool.pids()
    pool.close()
    assert pids and not any(is_running(pid) for pid in pids)
    with pytest.raises(ParserPoolError, match="shut down"):
        await pool.run(job(), timeout=10)


async def test_connector_reports_a_parse_timeout_and_recovers(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    url = serve(replay, "/feed", "real-world/guardian.rss")
    with pytest.raises(MalformedResponseError, match="parsing took longer than 0.001 s"):
        await make_feed(http, url, parse_timeout=0.001).fetch(None)
    assert len((await make_feed(http, url).fetch(None)).posts) == 55


async def test_shutdown_parser_pool_stops_the_shared_workers(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    url = serve(replay, "/feed", "real-world/heise.atom")
    await make_feed(http, url).fetch(None)
    pids = get_parser_pool().pids()
    shutdown_parser_pool()
    assert pids and not any(is_running(pid) for pid in pids)
    assert len((await make_feed(http, url).fetch(None)).posts) == 15  # a new pool starts on demand


async def test_start_runs_every_worker_ahead_of_the_first_parse_which_then_waits_for_them() -> None:
    two = ParserPool(size=2)
    try:
        starting = asyncio.create_task(two.start())
        await asyncio.sleep(0)  # both workers are counted as starting: a parse now waits for one of them
        first = await two.run(job("real-world/heise.atom"), timeout=10)
        await starting
        started = two.pids()
        assert first["ok"] and len(started) == 2
        more = await asyncio.gather(*(two.run(job("real-world/heise.atom"), timeout=10) for _ in range(4)))
        assert all(r["ok"] and len(r["entries"]) == 15 for r in more)
        await two.start()  # nothing missing: nothing starts
        assert two.pids() == started
    finally:
        two.close()
    assert not any(is_running(pid) for pid in started)


async def test_a_worker_that_cannot_start_ahead_is_left_to_the_first_parse(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    one = ParserPool(size=1)
    try:
        with monkeypatch.context() as patched:
            patched.setattr(feed_pool, "_worker_command", lambda _limit: (["/nonexistent/python"], {}))
            await one.start()
        assert one.pids() == []
        assert "did not start ahead of the first parse" in caplog.text
        result = await one.run(job("real-world/heise.atom"), timeout=10)  # the slot is free again
        assert result["ok"] and len(one.pids()) == 1
    finally:
        one.close()


def entry_facts(argument: str, entries: list[tuple[str | None, str, str | None]]) -> list[tuple[Any, ...]]:
    """An entry hook for the test below: where it ran, and what it was given."""
    return [(argument, os.getpid(), title, len(text), language) for title, text, language in entries]


def failing_hook(argument: str, entries: list[tuple[str | None, str, str | None]]) -> list[Any]:
    raise ValueError(argument)


async def test_an_entry_hook_runs_in_the_parser_process_on_every_entry(pool: ParserPool) -> None:
    plain = await pool.run(job("real-world/heise.atom"), timeout=10)
    hooked = await pool.run(
        {**job("real-world/heise.atom"), "entry_hook": (f"{__name__}:entry_facts", "tag")}, timeout=10
    )
    (pid,) = pool.pids()
    assert pid != os.getpid()
    assert [e.get("prepared") for e in plain["entries"]] == [None] * 15
    assert [e.pop("prepared") for e in hooked["entries"]] == [
        ("tag", pid, e["title"], len(e["text"]), e["language"]) for e in plain["entries"]
    ]
    assert hooked["entries"] == plain["entries"]  # otherwise the same parse


@pytest.mark.parametrize("hook", ["failing_hook", "no_such_hook"])
async def test_a_failing_entry_hook_leaves_the_parse_as_it_was(pool: ParserPool, hook: str) -> None:
    hooked = await pool.run({**job(), "entry_hook": (f"{__name__}:{hook}", "tag")}, timeout=10)
    assert hooked["ok"] and len(hooked["entries"]) == 55
    assert all("prepared" not in e for e in hooked["entries"])
    again = await pool.run(job(), timeout=10)  # the same worker goes on serving
    assert again["ok"] and len(again["entries"]) == 55


def slow_hook(argument: float, entries: list[tuple[str | None, str, str | None]]) -> list[int]:
    time.sleep(argument)
    return [len(text) for _title, text, _language in entries]


def test_an_entry_hook_stops_at_its_deadline_and_leaves_the_rest_to_the_core() -> None:
    entries = [{"title": None, "text": "x" * i, "language": None} for i in range(150)]
    feed_parse._run_hook((f"{__name__}:slow_hook", 0.05), entries, deadline=time.perf_counter() + 0.01)
    assert [e.get("prepared") for e in entries] == [*range(feed_parse.HOOK_CHUNK), *[None] * 86]
    late = [{"title": None, "text": "x", "language": None}]
    feed_parse._run_hook((f"{__name__}:slow_hook", 0.0), late, deadline=time.perf_counter() - 1)
    assert late[0].get("prepared") is None
