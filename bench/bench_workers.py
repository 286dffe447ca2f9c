"""Benchmark: polls per second with 1, 2 and 4 `socialcrm worker` processes on one PostgreSQL database.

Every feed answers after 200 ms, as a slow site does: the sources are I/O-bound, so one worker is
bounded by its job slots (``--concurrency`` polls at once, each waiting on the network), and a second
worker should double the polls per second while the machine has CPU to spare. Target (issue 14):
2 workers >= 1.8x the polls/s of 1 worker.

Each worker count gets a fresh database and its own processes. The sources start paused; once every
worker has registered with the queue they are resumed and each is polled once (warm-up: imports,
connections, the feed-parsing children, the first batches). Then every feed moves on to posts none
of them held before and every source's next poll is made due at once: that second poll round is
measured, between 10% and 90% of the sources polled in it, so every poll stores new mentions and
the queue never runs dry inside the window.

Measured in rounds (``--rounds N``, 3 by default; bench/rounds.py says why and how): each round runs
every worker count back to back (1, 2, 4 workers in rounds 1 and 3; 4, 2, 1 in round 2), so a
round's speed-ups compare runs made a minute or two apart, at the same host speed, and neither count always
runs first. Every round's figures are printed, then each worker count's median (polls/s with its
min-max); the target is judged on the median of the per-round speed-ups of 2 workers over 1 (the
ratio of the median polls/s printed beside it). On this host one run gave 2.03x and another, within
the hour, 1.75x: a single round is a sample, not a figure.

Printed per worker count: polls/s and mentions/s (counted from the database), the speed-up over one
worker beside the target, the CPU seconds per poll of the workers (with their feed-parsing
children), of the PostgreSQL server (when it runs on this machine) and of this process (the feed
server and the bench's own sampling), how long a poll took (Little's law: polls in flight / polls
per second), how many job slots were busy and how many CPU cores all of it kept busy. The load
average before and after shows what else the machine ran.

    nice -n 10 .venv/bin/python bench/bench_workers.py [--sources 200] [--entries 5] [--delay 0.2]
        [--concurrency 4] [--workers 1,2,4] [--rounds 3]

Needs PostgreSQL: the server in SOCIALCRM_TEST_DATABASE_URL, else a private one started with
tools/pg_test_server.sh (and stopped at the end); without Debian's postgresql it prints why and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pstats
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.proc_cpu import cpu_seconds, stat_fields  # noqa: E402
from bench.rounds import (  # noqa: E402
    add_rounds_option,
    load,
    ratio_of_medians,
    ratios,
    round_order,
    rounds_from,
    spread,
)
from connectors import usable_cpus  # noqa: E402
from socialcrm.db import Database  # noqa: E402
from socialcrm.services.queue import POLL_TASK  # noqa: E402
from tests.jobs.farm import FeedFarm, Workers, scalar, wait_for, write_config  # noqa: E402


def server_url(folder: Path) -> tuple[str, Path | None]:
    """A PostgreSQL server to use: the configured one, else a private one in ``folder`` (returned to stop it)."""
    url = os.environ.get("SOCIALCRM_TEST_DATABASE_URL")
    if url:
        return url, None
    pg_dir = folder / "pg"
    folder.chmod(0o755)  # run as root, the script starts the server as the postgres user, who must reach it
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


TARGET = 1.8  # issue 14: 2 workers >= 1.8x the polls/s of 1 worker
SAMPLE_EVERY = 0.1  # seconds between the bench's looks at the database


def own_cpu() -> float:
    """CPU time of this process: the feed server and the bench's sampling."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def postmaster_pid(url: str) -> int | None:
    """The PostgreSQL server's main process when it runs on this machine and /proc shows it, else None."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            try:
                parent = int(stat_fields(backend)[1])
                stat_fields(parent)
            except (OSError, IndexError, ValueError):
                return None
            return parent
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Mark:
    """What the bench saw at one moment of the measured round."""

    at: float
    polled: int
    mentions: int
    workers_cpu: float
    server_cpu: float
    bench_cpu: float


@dataclass(frozen=True)
class RunFigures:
    """One worker count's figures over the measured window."""

    workers: int
    slots: int
    polls: int
    seconds: float
    mentions: int
    workers_cpu: float
    server_cpu: float | None
    bench_cpu: float
    in_flight: float
    load: float = 0.0  # the 1-minute load average when the run started

    @property
    def polls_per_s(self) -> float:
        return self.polls / self.seconds

    @property
    def latency(self) -> float:
        """Mean seconds per poll job, from Little's law."""
        return self.in_flight / self.polls_per_s

    @property
    def cores_busy(self) -> float:
        """CPU seconds per second of workers, server and bench together."""
        return (self.workers_cpu + (self.server_cpu or 0.0) + self.bench_cpu) / self.seconds


PROGRESS = (
    "SELECT (SELECT count(*) FROM sourcestate WHERE last_success_at > :since), "
    "(SELECT coalesce(sum(new_total), 0) FROM sourcestate), "
    "(SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing' AND task_name = :task)"
)


async def warm_up(db: Database, feeds: int, workers: Workers) -> datetime:
    """Resume every source and wait until each was polled once and has its next poll queued (for an
    interval later); return when the last poll succeeded."""
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE sourcestate SET state = 'new'"))
    polled = "SELECT count(*) FROM sourcestate WHERE last_success_at IS NOT NULL"
    queued = f"SELECT count(*) FROM procrastinate_jobs WHERE task_name = '{POLL_TASK}' AND status = 'todo'"
    if not await wait_for(lambda: scalar(db, polled) == feeds and scalar(db, queued) == feeds, 600, every=0.5):
        raise RuntimeError(f"warm-up: not every source was polled: {workers.log()[-2000:]}")
    with db.engine.connect() as conn:
        last: datetime = conn.execute(text("SELECT max(last_success_at) FROM sourcestate")).scalar_one()
    return last


def queue_round(db: Database) -> None:
    """Every source's next poll, queued for an interval later, becomes due now, all in one statement.

    Each source has exactly one such job (warm_up waits for it), so the scheduler, which only adds a
    poll for a source without one, adds none meanwhile: no race with it. Idle workers find the jobs
    at their next look for due ones (every 2 s), before the measured window begins.
    """
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE procrastinate_jobs SET scheduled_at = NULL WHERE task_name = :task AND status = 'todo'"),
            {"task": POLL_TASK},
        )


async def measure_round(
    db: Database, farm: FeedFarm, since: datetime, workers: Workers, pg_pid: int | None
) -> tuple[Mark, Mark, float]:
    """Sample the measured round until 90% of the sources were polled; the marks at 10% and 90% and the
    mean number of polls in flight between them."""
    marks: dict[float, Mark] = {}
    in_flight: list[int] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            polled, mentions, doing = conn.execute(text(PROGRESS), {"since": since, "task": POLL_TASK}).one()
        now = time.monotonic()
        if 0.1 in marks:
            in_flight.append(int(doing))
        for fraction in (0.1, 0.9):
            if fraction not in marks and polled >= fraction * farm.feeds:
                worker_cpu = cpu_seconds({p.pid for p in workers.started})
                server_cpu = cpu_seconds({pg_pid}, reaped=True) if pg_pid else 0.0
                marks[fraction] = Mark(now, int(polled), int(mentions), worker_cpu, server_cpu, own_cpu())
        if 0.9 in marks:
            return marks[0.1], marks[0.9], sum(in_flight) / max(len(in_flight), 1)
        await asyncio.sleep(SAMPLE_EVERY)
    raise RuntimeError(f"the measured round did not finish within 600 s: {workers.log()[-2000:]}")


async def one_run(admin_url: str, farm: FeedFarm, workers_count: int, concurrency: int, folder: Path) -> RunFigures:
    """Start ``workers_count`` workers on a fresh database, warm up, then measure one round of polls."""
    at = load()
    url = fresh_database(admin_url, farm.feeds)
    pg_pid = postmaster_pid(url)
    folder.mkdir()
    write_config(folder, url, farm.sources(), concurrency=concurrency, stalled_after="30s")
    workers = Workers(folder)
    db = Database(url)
    try:
        await workers.start(workers_count)
        registered = await wait_for(lambda: scalar(db, "SELECT count(*) FROM workerprocess") == workers_count, 180)
        if not registered:
            raise RuntimeError(f"workers did not start: {workers.log()[-2000:]}")
        since = await warm_up(db, farm.feeds, workers)
        farm.next_round()
        queue_round(db)
        first, last, in_flight = await measure_round(db, farm, since, workers, pg_pid)
        return RunFigures(
            workers=workers_count,
            slots=workers_count * concurrency,
            polls=last.polled - first.polled,
            seconds=last.at - first.at,
            mentions=last.mentions - first.mentions,
            workers_cpu=last.workers_cpu - first.workers_cpu,
            server_cpu=last.server_cpu - first.server_cpu if pg_pid else None,
            bench_cpu=last.bench_cpu - first.bench_cpu,
            in_flight=in_flight,
            load=at,
        )
    finally:
        codes = await workers.stop_all()
        if any(codes):
            print(f"  workers exited with codes {codes} (logs in {folder}): {workers.log()[-1000:]}", flush=True)
        db.dispose()
        drop_database(admin_url, url)


def profile_workers(folder: Path) -> None:
    """Workers started from now on profile themselves with yappi into ``folder`` (bench/yappi_hook)."""
    import yappi  # noqa: F401 - fail here, not in every worker, when the 'profile' extra is missing

    folder.mkdir(parents=True, exist_ok=True)
    hook = str(ROOT / "bench" / "yappi_hook")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (hook, os.environ.get("PYTHONPATH", "")) if p)
    os.environ["BENCH_YAPPI_OUT"] = str(folder)


def print_profile(folder: Path, top: int = 25) -> None:
    """The functions of socialcrm and Procrastinate that cost the workers most CPU, per worker count."""
    for run in sorted(folder.glob("run-*")):
        files = sorted(str(f) for f in run.glob("process-*.pstat"))
        if not files:
            continue
        print(f"\n== profile of {run.name} ({len(files)} processes, CPU clock, warm-up included): {run}")
        pstats.Stats(*files).sort_stats("cumulative").print_stats(r"socialcrm|procrastinate|connectors", top)


COLUMNS = (
    f"{'workers':>7}  {'polls/s':>7}  {'mentions/s':>10}  {'vs 1':>6}  {'CPU s/poll: workers':>19}  "
    f"{'postgres':>8}  {'feeds+bench':>11}  {'s/poll':>6}  {'slots busy':>10}  {'cores busy':>10}"
)


def _row(r: RunFigures, speedup: float, server: float | None, cores: int) -> str:
    """One worker count's figures as a table row (``server``: PostgreSQL CPU s per poll, None when not seen)."""
    shown = f"{server:.4f}" if server is not None else "n/a"
    return (
        f"{r.workers:>7}  {r.polls_per_s:>7.1f}  {r.mentions / r.seconds:>10.1f}  {speedup:>5.2f}x  "
        f"{r.workers_cpu / r.polls:>19.4f}  {shown:>8}  {r.bench_cpu / r.polls:>11.4f}  {r.latency:>6.3f}  "
        f"{r.in_flight:>4.1f} of {r.slots:<3}  {r.cores_busy:>4.2f} of {cores}"
    )


def _speedup(run: RunFigures, one: RunFigures | None) -> float:
    """``run``'s polls/s over those of the 1-worker run of the same round."""
    return run.polls_per_s / one.polls_per_s if one is not None and one.polls_per_s else 0.0


def median_run(runs: list[RunFigures]) -> RunFigures:
    """The run with the median polls/s (the lower middle one for an even number): a run as measured, all its
    figures from the same moment, to show what bounded it."""
    ranked = sorted(runs, key=lambda r: r.polls_per_s)
    return ranked[(len(ranked) - 1) // 2]


def report(args: argparse.Namespace, rounds: list[list[RunFigures]], loads: tuple[float, float]) -> None:
    """Print every round's figures, then each worker count's medians, the target judged on the median of the
    per-round speed-ups, and what bounded one worker."""
    cores = usable_cpus()  # affinity and cgroup limits: what "cores busy" can reach
    print(
        f"{args.sources} feeds x {args.entries} new entries per poll round, "
        f"each answering after {args.delay * 1000:.0f} ms; "
        f"{args.concurrency} jobs at once per worker; one PostgreSQL database; warm-up poll round excluded; "
        f"{len(rounds)} round(s), each running every worker count back to back (order flips every round)"
    )
    print(f"{'round':>5}  {'load':>5}  {COLUMNS}")
    for n, runs in enumerate(rounds, 1):
        one = next((r for r in runs if r.workers == 1), None)
        for r in runs:  # in the order they ran
            server = r.server_cpu / r.polls if r.server_cpu is not None else None
            print(f"{n:>5}  {r.load:>5.2f}  {_row(r, _speedup(r, one), server, cores)}")
    counts = [r.workers for r in rounds[0]]
    by_count = {c: [r for runs in rounds for r in runs if r.workers == c] for c in sorted(counts)}
    ones = by_count.get(1)
    print(f"median (min-max) over {len(rounds)} round(s); vs 1: the median of each round's speed-up over its 1 worker:")
    print(
        f"{'workers':>7}  {'polls/s':>18}  {'vs 1':>17}  {'CPU s/poll: workers':>19}  {'postgres':>8}  "
        f"{'feeds+bench':>11}  {'s/poll':>6}  {'slots busy':>10}  {'cores busy':>10}"
    )
    for count, runs in by_count.items():
        servers = [r.server_cpu / r.polls for r in runs if r.server_cpu is not None]
        speedups = ratios([r.polls_per_s for r in runs], [o.polls_per_s for o in ones]) if ones else None
        print(
            f"{count:>7}  {spread(r.polls_per_s for r in runs).show('.1f'):>18}  "
            f"{speedups.show('.2f', 'x') if speedups else '-':>17}  "
            f"{spread(r.workers_cpu / r.polls for r in runs).median:>19.4f}  "
            f"{f'{spread(servers).median:.4f}' if servers else 'n/a':>8}  "
            f"{spread(r.bench_cpu / r.polls for r in runs).median:>11.4f}  "
            f"{spread(r.latency for r in runs).median:>6.3f}  "
            f"{spread(r.in_flight for r in runs).median:>4.1f} of {runs[0].slots:<3}  "
            f"{spread(r.cores_busy for r in runs).median:>4.2f} of {cores}"
        )
    if ones and 2 in by_count:
        twos = [r.polls_per_s for r in by_count[2]]
        speedup = ratios(twos, [r.polls_per_s for r in ones])
        verdict = "met" if speedup.median >= TARGET else "NOT met"
        print(
            f"target: 2 workers >= {TARGET}x the polls/s of 1 worker; measured {speedup.show('.2f', 'x')}"
            f" (median of the per-round speed-ups, min-max): {verdict}"
        )
        of_medians = ratio_of_medians(twos, [r.polls_per_s for r in ones])
        print(f"  (each round's 1 and 2 workers ran back to back; the ratio of the median polls/s: {of_medians:.2f}x)")
    one = median_run(ones or next(iter(by_count.values())))
    ceiling = one.slots / args.delay
    if max(loads) > cores:
        bound = f"what other work left of the CPUs (load average up to {max(loads):.1f} on {cores}): cannot tell"
    elif one.cores_busy >= 0.8 * cores:
        bound = "CPU (the machine's cores were busy with it)"
    elif one.in_flight >= 0.8 * one.slots:
        bound = f"its {one.slots} job slots x {one.latency:.2f} s per poll (network and database waits, not CPU)"
    else:
        bound = "neither its job slots nor CPU: the queue fed it too slowly"
    print(
        f"{one.workers} worker (its median run): {one.polls_per_s:.1f} polls/s, bounded by {bound}; the network alone"
        f" would allow {ceiling:.0f} polls/s ({one.slots} slots / {args.delay} s)"
    )
    print(f"load average (1 min): {loads[0]:.1f} before, {loads[1]:.1f} after, on {cores} CPU(s)")
    if max(loads) > cores:
        print(
            "warning: the machine was busier than its CPUs; the speed-ups above measure the CPU other work left "
            "each run, not the queue (CPU s/poll still holds)"
        )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--entries", type=int, default=5, help="new entries per feed and poll round")
    parser.add_argument("--delay", type=float, default=0.2, help="seconds each feed takes to answer")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs each worker runs at once")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="profile every worker with yappi (the 'profile' extra) into DIR/run-N/process-PID.pstat",
    )
    add_rounds_option(parser)
    args = parser.parse_args()
    rounds = rounds_from(args)
    # SIGTERM (a timeout, a CI stop) ends the run like Ctrl-C: workers stopped, databases dropped.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    if not os.environ.get("SOCIALCRM_TEST_DATABASE_URL") and not shutil.which("pg_ctl"):
        if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
            print("bench_workers: skipped, needs PostgreSQL (Debian's postgresql, or SOCIALCRM_TEST_DATABASE_URL)")
            return 0
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        admin_url, pg_dir = server_url(Path(tmp))
        farm = FeedFarm(args.sources, args.entries, delay=args.delay)
        await farm.start()
        load_before = load()
        counts = [int(n) for n in args.workers.split(",")]
        runs: list[list[RunFigures]] = []
        try:
            for n in range(rounds):
                runs.append([])
                for count in round_order(counts, n):
                    if args.profile:  # every round's processes of a worker count go to one folder
                        profile_workers(args.profile / f"run-{count}")
                    folder = Path(tmp) / f"round-{n + 1}-run-{count}"
                    runs[-1].append(await one_run(admin_url, farm, count, args.concurrency, folder))
        finally:
            await farm.close()
            if pg_dir is not None:
                subprocess.run([str(ROOT / "tools" / "pg_test_server.sh"), "stop", str(pg_dir)], check=False)
        load_after = load()
    report(args, runs, (load_before, load_after))
    if args.profile:
        print_profile(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
