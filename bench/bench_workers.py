"""Benchmark: polls per second with 1, 2 and 4 `socialcrm worker` processes on one PostgreSQL database.

Every feed answers after 200 ms, as a slow site does: the sources are I/O-bound, so more workers
should mean more polls at once. Each run gets a fresh database; the sources start paused, the
workers start, and once all of them have registered with the queue every source is resumed at
once. Throughput is measured between 10% and 90% of the sources polled, so starting processes
and the last stragglers do not count. Prints polls/s and mentions/s per worker count, the
speed-up over one worker, the CPU time the worker processes (and their feed-parsing children) spent
per poll, and the load average: the figures depend on what else the machine runs. While each poll
waits 200 ms on the network, its CPU time decides how many polls one core can carry; when the
machine's cores are busy with other work, more workers cannot add throughput.

    .venv/bin/python bench/bench_workers.py [--sources 400] [--entries 5] [--delay 0.2] [--concurrency 4]

Needs PostgreSQL: the server in SOCIALCRM_TEST_DATABASE_URL, else a private one started with
tools/pg_test_server.sh (and stopped at the end); without Debian's postgresql it prints why and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from socialcrm.db import Database  # noqa: E402
from tests.jobs.farm import FeedFarm, Workers, scalar, wait_for, write_config  # noqa: E402


def server_url(folder: Path) -> tuple[str, Path | None]:
    """A PostgreSQL server to use: the configured one, else a private one in ``folder`` (returned to stop it)."""
    url = os.environ.get("SOCIALCRM_TEST_DATABASE_URL")
    if url:
        return url, None
    pg_dir = folder / "pg"
    started = subprocess.run(
        [str(ROOT / "tools" / "pg_test_server.sh")],
        env={**os.environ, "PGTEST_DIR": str(pg_dir), "PGTEST_PORT": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return started.stdout.strip(), pg_dir


def fresh_database(admin_url: str, sources: int) -> str:
    """A new, migrated database whose sources all start paused."""
    name = f"bench_workers_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(admin_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    db.upgrade()
    with db.engine.begin() as conn:
        for n in range(sources):
            conn.execute(
                text("INSERT INTO sourcestate (name, type, state, consecutive_failures, fetched_total, new_total, "
                     "duplicate_total, error_total, updated_at) VALUES (:n, 'feed', 'paused', 0, 0, 0, 0, 0, NOW())"),
                {"n": f"feed-{n:03d}"},
            )  # fmt: skip
    db.dispose()
    return url


def drop_database(admin_url: str, url: str) -> None:
    admin = create_engine(make_url(admin_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: set[int]) -> float:
    """CPU time (user + system) used so far by the processes ``pids`` and all their descendants."""
    total = 0.0
    seen: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total


async def one_run(
    admin_url: str, farm: FeedFarm, workers_count: int, concurrency: int, folder: Path
) -> tuple[float, float]:
    """Polls per second with ``workers_count`` workers, between 10% and 90% of the sources polled,
    and the workers' CPU seconds per poll over the same stretch."""
    url = fresh_database(admin_url, farm.feeds)
    folder.mkdir()
    write_config(folder, url, farm.sources(), concurrency=concurrency, stalled_after="30s")
    workers = Workers(folder)
    db = Database(url)
    try:
        await workers.start(workers_count)
        registered = await wait_for(lambda: scalar(db, "SELECT count(*) FROM workerprocess") == workers_count, 180)
        if not registered:
            raise RuntimeError(f"workers did not start: {workers.log()[-2000:]}")
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE sourcestate SET state = 'new'"))
        polled = "SELECT count(*) FROM sourcestate WHERE last_success_at IS NOT NULL"
        marks = {}
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = scalar(db, polled)
            now = time.monotonic()
            for fraction in (0.1, 0.9):
                if fraction not in marks and done >= fraction * farm.feeds:
                    marks[fraction] = (now, done, cpu_seconds({p.pid for p in workers.started}))
            if 0.9 in marks:
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError(f"not all sources were polled: {workers.log()[-2000:]}")
        (t0, n0, c0), (t1, n1, c1) = marks[0.1], marks[0.9]
        return (n1 - n0) / (t1 - t0), (c1 - c0) / (n1 - n0)
    finally:
        await workers.stop_all()
        db.dispose()
        drop_database(admin_url, url)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=400)
    parser.add_argument("--entries", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds each feed takes to answer")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs each worker runs at once")
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    if not os.environ.get("SOCIALCRM_TEST_DATABASE_URL") and not shutil.which("pg_ctl"):
        if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
            print("bench_workers: skipped, needs PostgreSQL (Debian's postgresql, or SOCIALCRM_TEST_DATABASE_URL)")
            return 0
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        admin_url, pg_dir = server_url(Path(tmp))
        farm = FeedFarm(args.sources, args.entries, delay=args.delay)
        await farm.start()
        load_before = os.getloadavg()[0]
        rates: dict[int, float] = {}
        cpu: dict[int, float] = {}
        try:
            for count in (int(n) for n in args.workers.split(",")):
                run = Path(tmp) / f"run-{count}"
                rates[count], cpu[count] = await one_run(admin_url, farm, count, args.concurrency, run)
        finally:
            await farm.close()
            if pg_dir is not None:
                subprocess.run([str(ROOT / "tools" / "pg_test_server.sh"), "stop", str(pg_dir)], check=False)
        load_after = os.getloadavg()[0]
    print(
        f"{args.sources} feeds x {args.entries} entries, each answering after {args.delay * 1000:.0f} ms; "
        f"{args.concurrency} jobs at once per worker; one PostgreSQL database"
    )
    base = rates[min(rates)]
    print(f"{'workers':>7}  {'polls/s':>8}  {'mentions/s':>10}  {'vs 1 worker':>11}  {'CPU s/poll':>10}")
    for count, rate in rates.items():
        print(f"{count:>7}  {rate:>8.1f}  {rate * args.entries:>10.1f}  {rate / base:>10.2f}x  {cpu[count]:>10.3f}")
    ceiling = args.concurrency / args.delay
    if 1 in rates and 2 in rates:
        met = "met" if rates[2] / rates[1] >= 1.8 else "NOT met"
        print(f"target: 2 workers >= 1.8x the polls/s of 1 worker: {met} ({rates[2] / rates[1]:.2f}x)")
    print(f"network-bound ceiling: {ceiling:.0f} polls/s per worker ({args.concurrency} jobs / {args.delay} s)")
    print(f"load average (1 min): {load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} CPU(s)")
    if max(load_before, load_after) > (os.cpu_count() or 1):
        print(
            "warning: the machine was busier than its CPUs; the speed-ups above measure the CPU other work left "
            "each run, not the queue (CPU s/poll still holds)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
