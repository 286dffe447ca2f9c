"""Benchmark: poll 1,000 feeds of 50 entries from a local server, once all changed, once all unchanged (304).

Prints wall time and mentions stored per second for each pass. The feed server runs in a child
process on 127.0.0.1..127.0.0.N (several loopback addresses, so the client's per-host connection
limit behaves as it would with many real sites). The pipeline is the daemon's own (Runtime.poll_once).

    .venv/bin/python bench/bench_feeds.py [--feeds 1000] [--entries 50] [--classifier lexicon|default]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXTS = [
    "Meine Lieferung ist seit Tagen überfällig, sehr ärgerlich. Bestellung {n}.",
    "Wie kann ich die Maschine entkalken? Danke für Tipps.",
    "Toller Service, schnelle Antwort, ich bin begeistert!",
    "The delivery never arrived and support does not answer. Disappointed.",
    "How do I reset the grinder settings?",
    "Great coffee, lovely crema, would recommend to anyone.",
    "Neutraler Bericht über die Messe in Köln, viele Aussteller.",
    "Release notes for version {n} are out today.",
]
HOSTS = 50


def make_feed(feed: int, entries: int) -> bytes:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    items = []
    for i in range(entries):
        text = TEXTS[(feed + i) % len(TEXTS)].format(n=feed * 1000 + i)
        when = format_datetime(now + timedelta(minutes=feed + i))
        items.append(
            f"<item><title>Post {feed}-{i}</title><link>https://site{feed}.example/p/{i}</link>"
            f'<guid isPermaLink="false">site{feed}-post-{i}</guid><pubDate>{when}</pubDate>'
            f"<dc:creator>author{i % 17}</dc:creator><description>{text}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>Feed {feed}</title><link>https://site{feed}.example/</link><description>bench</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def serve(feeds: int, entries: int, port: int, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    bodies = {i: make_feed(i, entries) for i in range(feeds)}
    etag = '"bench-v1"'

    async def handler(request: web.Request) -> web.Response:
        number = int(request.match_info["n"])
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=bodies[number], content_type="application/rss+xml", headers={"ETag": etag})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}.xml", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in range(HOSTS):
            await web.TCPSite(runner, f"127.0.0.{host + 1}", port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def write_config(folder: Path, feeds: int, port: int, classifier: str) -> Path:
    lines = [
        "[database]",
        f'url = "sqlite:///{folder / "bench.db"}"',
        "[web]",
        "enabled = false",
        "[classifier]",
        f'kind = "{classifier}"',
        "batch_size = 64",
        "[daemon]",
        "max_pages_per_poll = 1",
    ]
    for i in range(feeds):
        lines += [
            "[[sources]]",
            f'name = "feed-{i:04d}"',
            'type = "feed"',
            f'url = "http://127.0.0.{i % HOSTS + 1}:{port}/feed/{i}.xml"',
            'interval = "1h"',
        ]
    lines += [
        "[[rules]]",
        'name = "complaint-ticket"',
        "order = 10",
        "[rules.when]",
        'sentiment = ["negative"]',
        "query = '(lieferung OR delivery OR \"never arrived\")'",
        "[[rules.then]]",
        'action = "open_ticket"',
        'team = "service"',
        'priority = "high"',
        "[[rules]]",
        'name = "question-reply"',
        "order = 20",
        "[rules.when]",
        "query = 'wie OR how'",
        "[[rules.then]]",
        'action = "draft_reply"',
        'template = "question"',
        "[templates.question]",
        'de = "Hallo {{ author }}, danke!"',
        'en = "Hi {{ author }}, thanks!"',
    ]
    path = folder / "bench.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def run_pass(config_path: Path) -> tuple[float, int, int]:
    from socialcrm.config import load_config
    from socialcrm.runtime import Runtime

    config = load_config(config_path)
    runtime = await Runtime.open(config)
    try:
        start = time.perf_counter()
        results = await runtime.poll_once(force=True)
        elapsed = time.perf_counter() - start
    finally:
        await runtime.close()
    return elapsed, sum(r.new for r in results), sum(1 for r in results if r.error)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--classifier", default="lexicon")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "18765")))
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(args.feeds, args.entries, args.port, ready), daemon=True)
    server.start()
    ready.wait(60)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config_path = write_config(Path(tmp), args.feeds, args.port, args.classifier)
            print(f"bench_feeds: {args.feeds} feeds x {args.entries} entries, classifier={args.classifier}")
            for label in ("all changed", "all unchanged (304)"):
                elapsed, new, errors = asyncio.run(run_pass(config_path))
                rate = new / elapsed if elapsed else 0.0
                print(
                    f"  {label:<22} wall {elapsed:7.2f} s   stored {new:6d} mentions"
                    f"   {rate:8.1f} mentions/s   errors {errors}"
                )
    finally:
        server.terminate()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
