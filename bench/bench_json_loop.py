"""Benchmark: how long a large JSON answer stalls the event loop (the depth check and decoding).

Serves a JSON list of about ``--mib`` MiB from an aiohttp server on 127.0.0.1, fetches it with
``connectors._http.request_json`` while a ticker task measures how late the loop wakes it, and
prints the longest stall and the fetch time, per run and as the median. The first release
checked and decoded on the loop: about 0.9 s of stall per 10 MiB. The check now runs in a worker
thread in short steps; ``json.loads`` itself is one C call holding the GIL, so the longest stall
left is about its time (printed alone for comparison).

    .venv/bin/python bench/bench_json_loop.py [--mib 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import aiohttp
from aiohttp import web

from connectors._http import json_depth_ok, request_json


def payload(mib: float) -> bytes:
    item = {"id": "117020593378945190", "content": "<p>" + "Kaffee [gut] {sehr} " * 12 + "</p>", "tags": [1, 2]}
    one = len(json.dumps(item)) + 2
    return json.dumps([item] * int(mib * 1024 * 1024 / one)).encode()


async def one_run(url: str) -> tuple[float, float]:
    worst = 0.0
    running = True

    async def ticker() -> None:
        nonlocal worst
        while running:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before - 0.001)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        await request_json(http, "bench", url)
        took = time.perf_counter() - started
    running = False
    await tick
    return worst, took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    body = payload(args.mib)
    started = time.perf_counter()
    json_depth_ok(body)
    print(f"depth check alone: {time.perf_counter() - started:.3f} s for {len(body) / 2**20:.1f} MiB")
    started = time.perf_counter()
    json.loads(body)
    # One C call that holds the GIL: even in a worker thread the loop waits this long once.
    print(f"json.loads alone: {time.perf_counter() - started:.3f} s")

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/big.json", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stalls, times = [], []
    try:
        for run in range(args.runs):
            stall, took = await one_run(f"http://127.0.0.1:{port}/big.json")
            stalls.append(stall)
            times.append(took)
            print(f"run {run + 1}: longest event-loop stall {stall:.3f} s, fetch and decode {took:.2f} s")
    finally:
        await runner.cleanup()
    print(f"median: longest stall {statistics.median(stalls):.3f} s, fetch {statistics.median(times):.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
