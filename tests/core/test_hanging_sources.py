"""A hanging source costs only itself: sources on one host do not queue behind each other's connections.

On the first release all sources shared one pool of 4 connections per host: six hanging feeds on
one host delayed the healthy feeds there from 8 s to 35 s, ten made one time out falsely. Large
JSON bodies are checked and decoded off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import connectors._http as http_module
from connectors._http import request_json
from socialcrm.config import parse_config
from socialcrm.runtime import Runtime
from tests.replay_server import Canned, ReplayServer

HANGING = 10
HEALTHY = 3
HANGING_TIMEOUT = 8.0  # the hanging feeds give up after this long ...
HEALTHY_TIMEOUT = 3.0  # ... the healthy ones would falsely time out waiting for a shared connection


def feed(n: int) -> bytes:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    items = "".join(
        f"<item><title>Feed {n} entry {i}</title><link>https://h.example/{n}/{i}</link>"
        f'<guid isPermaLink="false">{n}-{i}</guid><pubDate>{format_datetime(start + timedelta(minutes=i))}</pubDate>'
        f"<description>Text {i}</description></item>"
        for i in range(5)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>F{n}</title>'
        f"<link>https://h.example/{n}</link><description>d</description>{items}</channel></rss>"
    ).encode()


def config_text(base: str, database_url: str) -> str:
    lines = [f'[database]\nurl = "{database_url}"\n[classifier]\nkind = "lexicon"']
    names = [f"hang-{i}" for i in range(HANGING)] + [f"ok-{i}" for i in range(HEALTHY)]
    for name in names:
        timeout = HANGING_TIMEOUT if name.startswith("hang-") else HEALTHY_TIMEOUT
        lines.append(f'[[sources]]\nname = "{name}"\ntype = "feed"\nurl = "{base}/{name}.xml"\ntimeout = {timeout}')
    return "\n".join(lines) + "\n"


@pytest.fixture
async def hanging(replay: ReplayServer) -> AsyncIterator[ReplayServer]:
    """Ten feeds that never answer and three healthy ones, all on the replay server's one host."""
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.wait_for(release.wait(), 60)
        return web.Response(status=503)

    for i in range(HANGING):
        replay.add_handler("GET", f"/hang-{i}.xml", hang)
    for i in range(HEALTHY):
        replay.add("GET", f"/ok-{i}.xml", Canned(200, feed(i), {"Content-Type": "application/rss+xml"}))
    try:
        yield replay
    finally:
        release.set()


async def test_hanging_feeds_on_one_host_do_not_stall_the_healthy_ones(hanging: ReplayServer, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    config = parse_config(config_text(hanging.base_url, url))
    runtime = await Runtime.open(config)
    try:
        stuck = asyncio.create_task(runtime.poll_once([f"hang-{i}" for i in range(HANGING)]))
        # Every hanging feed holds a connection to the host before the healthy feeds are polled.
        for _ in range(60):
            if sum(1 for r in hanging.requests if r.path.startswith("/hang-")) >= HANGING:
                break
            await asyncio.sleep(0.05)
        seen_hanging = sum(1 for r in hanging.requests if r.path.startswith("/hang-"))
        healthy = {r.source: r for r in await runtime.poll_once([f"ok-{i}" for i in range(HEALTHY)])}
        stalled = {r.source: r for r in await stuck}
    finally:
        await runtime.close()
    for name, result in healthy.items():
        assert result.error is None and result.new == 5, (name, result.error)
    assert seen_hanging == HANGING  # each hanging source had connections of its own to hang on
    for name, result in stalled.items():
        assert result.error and "no complete answer" in result.error, (name, result.error)


async def test_a_large_json_body_is_decoded_off_the_event_loop(
    replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    real = http_module.loads_json

    def recording(data: bytes, source: str, what: str = "response") -> Any:
        threads.append(threading.current_thread().name)
        return real(data, source, what)

    monkeypatch.setattr(http_module, "loads_json", recording)
    big = json.dumps([{"id": i, "text": "x" * 200} for i in range(5000)]).encode()  # about 1 MiB
    replay.add_json("GET", "/small", {"ok": True})
    replay.add("GET", "/big", Canned(200, big, {"Content-Type": "application/json"}))
    async with aiohttp.ClientSession() as http:
        small = await request_json(http, "src", replay.url("/small"))
        large = await request_json(http, "src", replay.url("/big"))
    assert small.data == {"ok": True} and len(large.data) == 5000
    loop_thread = threading.current_thread().name
    assert threads[0] == loop_thread  # a small body is not worth a thread hop
    assert threads[1] != loop_thread
