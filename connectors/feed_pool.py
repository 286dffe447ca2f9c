"""A small pool of feed-parsing processes with a time cap per job: a stuck parse is killed, not awaited.

``concurrent.futures.ProcessPoolExecutor`` cannot stop one running task, so this pool keeps its
own worker processes (``python -m connectors.feed_parse``, talking pickled messages over its
stdin and stdout) and waits for their answers on the event loop. Plain subprocesses rather
than ``multiprocessing`` so that no caller needs an ``if __name__ == "__main__"`` guard and no
thread-unsafe fork happens. A job that runs past its time cap, a worker that dies (for instance at its
memory cap) or a cancelled caller costs that one worker: it is killed and a fresh one is started
for the next job. Workers are reused across feeds and retired after ``MAX_JOBS_PER_WORKER`` jobs.

One pool serves the whole process (``get_parser_pool``); call ``shutdown_parser_pool()`` at exit
(it is also registered with ``atexit``). It is meant for one event loop at a time.
"""

from __future__ import annotations

import asyncio
import atexit
import fcntl
import logging
import os
import subprocess
import sys
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from connectors._cpus import usable_cpus

logger = logging.getLogger(__name__)

DEFAULT_MEMORY_LIMIT_MB = 768
MAX_JOBS_PER_WORKER = 500
STARTUP_TIMEOUT = 60.0
PIPE_BUFFER_BYTES = 1024 * 1024


class ParserPoolError(Exception):
    """A parse job could not finish: it timed out, or its worker died or could not start."""


class ParseTimeout(ParserPoolError):
    """The job ran past its time cap; its worker was killed."""


class WorkerDied(ParserPoolError):
    """The worker died during the job (killed by the OS, or at its memory cap)."""


class PoolUnavailable(ParserPoolError):
    """No worker could be had: the pool is shut down or a process would not start."""


class _Worker:
    def __init__(self, process: subprocess.Popen[bytes], to_worker: Connection, from_worker: Connection) -> None:
        self.process = process
        self.to_worker = to_worker
        self.from_worker = from_worker
        self.jobs = 0

    def _close_pipes(self) -> None:
        for conn in (self.to_worker, self.from_worker):
            if not conn.closed:
                conn.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            logger.warning("feed parser process %s did not die after SIGKILL", self.process.pid)
        self._close_pipes()

    def stop(self) -> None:
        try:
            self.to_worker.send(None)
        except (OSError, ValueError):
            pass
        try:
            self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            try:
                self.process.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                logger.warning("feed parser process %s did not stop", self.process.pid)
        self._close_pipes()


def _widen_pipe(fd: int) -> None:
    """Let a whole feed body fit in the pipe (Linux), so sending a job never blocks the event loop."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    try:
        fcntl.fcntl(fd, set_size, PIPE_BUFFER_BYTES)
    except OSError:
        pass  # above /proc/sys/fs/pipe-max-size: the default buffer still works, just blocks briefly


def _worker_command(memory_limit_bytes: int | None) -> tuple[list[str], dict[str, str]]:
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    command = [sys.executable, "-m", "connectors.feed_parse", str(memory_limit_bytes or 0)]
    return command, env


async def _readable(conn: Connection, timeout: float) -> None:
    """Wait until ``conn`` has data (or EOF); raise TimeoutError after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = conn.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(ready, timeout)
    finally:
        loop.remove_reader(fd)


class ParserPool:
    """Up to ``size`` worker processes running ``connectors.feed_parse.parse_feed``."""

    def __init__(self, size: int | None = None, memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB) -> None:
        self.size = max(1, size or min(8, usable_cpus()))
        self.memory_limit_bytes = memory_limit_mb * 1024 * 1024 if memory_limit_mb else None
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()
        self._count = 0  # workers running or starting
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    async def _start_worker(self) -> _Worker:
        command, env = _worker_command(self.memory_limit_bytes)
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        except OSError as err:
            raise PoolUnavailable(f"cannot start a feed parser process: {err}") from err
        assert process.stdin is not None and process.stdout is not None
        worker = _Worker(
            process,
            Connection(os.dup(process.stdin.fileno()), readable=False),
            Connection(os.dup(process.stdout.fileno()), writable=False),
        )
        process.stdin.close()
        process.stdout.close()
        _widen_pipe(worker.to_worker.fileno())
        try:
            await _readable(worker.from_worker, STARTUP_TIMEOUT)
            hello = worker.from_worker.recv()
        except (TimeoutError, EOFError, OSError) as err:
            worker.kill()
            raise PoolUnavailable(
                f"a feed parser process did not start ({type(err).__name__}, exit code {process.returncode})"
            ) from err
        logger.debug("feed parser process %s started: %s", process.pid, hello)
        self._live.add(worker)
        return worker

    async def start(self) -> None:
        """Start the missing workers now, side by side, so that the first parses need not wait for them.

        A worker that cannot start is logged and left to the first parse, which starts it again and
        reports the error where it belongs (the source that polled).
        """
        wanted = self.size - self._count
        if self._closed or wanted <= 0:
            return
        self._count += wanted  # counted as starting: parses arriving meanwhile wait for them
        await asyncio.gather(*(self._start_idle() for _ in range(wanted)))

    async def _start_idle(self) -> None:
        """Start one worker (already counted) and leave it idle for the next parse."""
        try:
            worker = await self._start_worker()
        except BaseException as err:
            if not self._closed:
                self._count -= 1
            self._wake_one()
            if not isinstance(err, Exception):
                raise  # cancelled: the caller stops waiting; the slot is free again
            logger.warning("A feed parser process did not start ahead of the first parse: %s", err)
            return
        if self._closed:  # shut down while it started
            self._live.discard(worker)
            worker.stop()
            return
        self._idle.append(worker)
        self._wake_one()

    def pids(self) -> list[int]:
        """Process ids of the running workers, idle or busy."""
        return sorted(worker.process.pid for worker in self._live)

    async def _acquire(self) -> _Worker:
        while True:
            if self._closed:
                raise PoolUnavailable("the feed parser pool is shut down")
            if self._idle:
                return self._idle.pop()
            if self._count < self.size:
                self._count += 1
                try:
                    return await self._start_worker()
                except BaseException:
                    self._count -= 1
                    self._wake_one()
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # we were woken for a free slot: pass it on
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _release(self, worker: _Worker) -> None:
        worker.jobs += 1
        if self._closed or worker.jobs >= MAX_JOBS_PER_WORKER:
            worker.stop()
            if worker in self._live:
                self._live.discard(worker)
                self._count -= 1
        else:
            self._idle.append(worker)
        self._wake_one()

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        if worker in self._live:
            self._live.discard(worker)
            self._count -= 1
        self._wake_one()

    async def run(self, job: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run one ``parse_feed(**job)`` and return its result; raise ParserPoolError if it cannot."""
        worker = await self._acquire()
        try:
            worker.to_worker.send((job, timeout))
            await _readable(worker.from_worker, timeout)
            result: dict[str, Any] = worker.from_worker.recv()
        except TimeoutError as err:
            logger.warning("feed parser process %s stopped: parse over its %g s cap", worker.process.pid, timeout)
            self._discard(worker)
            raise ParseTimeout(f"parsing took longer than {timeout:g} s; the parser process was stopped") from err
        except (EOFError, OSError) as err:
            self._discard(worker)
            if self._closed:
                raise PoolUnavailable("the feed parser pool was shut down during the parse") from err
            code = worker.process.returncode
            raise WorkerDied(f"the parser process died (exit code {code}); was its memory cap reached?") from err
        except BaseException:
            self._discard(worker)
            raise
        if result.get("fatal"):
            self._discard(worker)
        else:
            self._release(worker)
        return result

    def close(self) -> None:
        """Stop idle workers and kill busy ones: call it once in-flight polls have finished."""
        self._closed = True
        idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()
        for worker in self._live.difference(idle):
            worker.process.kill()  # its run() sees the pipe close, reaps it and raises
        self._live.clear()
        self._count = 0
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(None)


_pool: ParserPool | None = None
_settings: dict[str, Any] = {}


def configure_parser_pool(workers: int | None = None, memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB) -> None:
    """Set the size and per-worker memory cap of the shared pool (takes effect on its next start)."""
    shutdown_parser_pool()
    _settings.update(size=workers, memory_limit_mb=memory_limit_mb)


def get_parser_pool() -> ParserPool:
    """The process-wide pool, started lazily."""
    global _pool
    if _pool is None or _pool._closed:
        _pool = ParserPool(**_settings)
    return _pool


async def start_parser_pool() -> None:
    """Start the shared pool's workers now (``ParserPool.start``), not at the first parse."""
    await get_parser_pool().start()


def shutdown_parser_pool() -> None:
    """Stop the shared pool's workers; a later parse starts a new pool. Safe to call twice."""
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None


atexit.register(shutdown_parser_pool)
