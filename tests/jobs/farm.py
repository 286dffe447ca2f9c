"""Worker processes to run against many sources on 127.0.0.1 (the worker tests and bench/bench_workers.py).

The feeds and the webhook receiver (``FeedFarm``) and the rules are tests/feeds.py's, shared with the
pipeline and soak tests and bench/bench_ingest.py; they are imported here for the worker suites.
``Workers`` starts, kills and stops real ``socialcrm worker`` processes, and tells which process
holds which job; a worker that exited on its own before the stop is logged and its exit code returned.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from socialcrm.db import Database
from tests.feeds import RULES, FeedFarm

logger = logging.getLogger(__name__)

__all__ = ["FeedFarm", "Workers", "client_pid", "pids", "running_jobs_by_pid", "scalar", "wait_for", "write_config"]


def write_config(
    folder: Path,
    database_url: str,
    sources: str,
    *,
    concurrency: int,
    stalled_after: str = "3s",
    outbox_lease: str = "2m",
    extra: str = "",
) -> Path:
    """A worker config: the PostgreSQL database, the word-list classifier, the demo rules, ``sources``."""
    path = folder / "socialcrm.toml"
    path.write_text(
        f'[database]\nurl = "{database_url}"\n'
        '[web]\nenabled = false\nhost = "127.0.0.1"\nport = 0\n'
        '[classifier]\nkind = "lexicon"\n'
        f'[daemon]\nshutdown_grace = "10s"\noutbox_lease = "{outbox_lease}"\n'
        f'[workers]\nconcurrency = {concurrency}\nstalled_after = "{stalled_after}"\n'
        f"{extra}{sources}{RULES}"
    )
    return path


@dataclass
class Workers:
    """Real ``socialcrm worker`` processes on one config; each logs to its own file in ``folder``."""

    folder: Path
    started: list[asyncio.subprocess.Process] = field(default_factory=list)
    killed: set[int] = field(default_factory=set)  # pids killed on purpose (kill): their exit is expected

    async def start(self, count: int = 1, *args: str) -> list[asyncio.subprocess.Process]:
        """Start ``count`` more workers."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
        new = []
        for _ in range(count):
            log = open(self.folder / f"worker-{len(self.started)}.log", "ab")  # noqa: SIM115 - the process owns it
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "socialcrm",
                "--config",
                str(self.folder / "socialcrm.toml"),
                "worker",
                *args,
                cwd=self.folder,
                env=env,
                stdout=log,
                stderr=log,
            )
            log.close()
            self.started.append(proc)
            new.append(proc)
        return new

    def alive(self) -> list[asyncio.subprocess.Process]:
        """The workers still running."""
        return [p for p in self.started if p.returncode is None]

    async def kill(self, proc: asyncio.subprocess.Process) -> None:
        """kill -9: no chance to finish anything."""
        self.killed.add(proc.pid)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async def stop_all(self, timeout: float = 60) -> list[int]:
        """SIGTERM every live worker; return the exit code of every worker not killed on purpose, in start order.

        A worker that had exited on its own before (a crash, a refused start) is logged with its number,
        pid, code and log file, and its code is among those returned: ``codes == [0] * n`` fails on it.
        """
        alive = self.alive()
        for proc in alive:
            proc.send_signal(signal.SIGTERM)
        for proc in alive:
            await asyncio.wait_for(proc.wait(), timeout)
        codes = []
        for number, proc in enumerate(self.started):
            if proc.pid in self.killed:
                continue
            code = proc.returncode if proc.returncode is not None else await proc.wait()
            if proc not in alive:
                log = self.folder / f"worker-{number}.log"
                logger.warning(
                    "worker %d (pid %d) had exited on its own with code %d; its log: %s", number, proc.pid, code, log
                )
            codes.append(code)
        return codes

    def log(self) -> str:
        """Every worker's log, one after the other."""
        return "".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("worker-*.log")))


def client_pid(port: int, candidates: Sequence[int]) -> int:
    """Which of the processes ``candidates`` holds the TCP connection from 127.0.0.1:``port`` (0: none; Linux /proc)."""
    local = f"0100007F:{port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                inodes |= {f[9] for f in (line.split() for line in lines) if len(f) > 9 and f[1].endswith(local)}
        except OSError:
            continue
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid in candidates:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    return pid
            except OSError:
                continue
    return 0


def running_jobs_by_pid(db: Database, task: str) -> dict[int, int]:
    """How many jobs of ``task`` each worker process (by pid) is running now."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.name, count(*) FROM procrastinate_jobs j JOIN workerprocess p ON p.id = j.worker_id "
                "WHERE j.status = 'doing' AND j.task_name = :task GROUP BY p.name"
            ),
            {"task": task},
        ).all()
    return {int(name.rsplit(":", 1)[1]): count for name, count in rows}


def scalar(db: Database, sql: str) -> int:
    """One number from the database."""
    with db.engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


async def wait_for(predicate, timeout: float, every: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it holds or ``timeout`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(every)
    return bool(predicate())


def pids(procs: Sequence[asyncio.subprocess.Process]) -> set[int]:
    """The process ids of ``procs``."""
    return {p.pid for p in procs}
