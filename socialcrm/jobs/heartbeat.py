"""A worker's heartbeat sent from a thread of its own, so a busy worker is never taken for dead.

Procrastinate sends a worker's heartbeat from its event loop, through the connection pool its jobs
use. On a loaded machine that loop can stay busy for seconds (a batch being classified and stored,
the CPU shared with other processes) and the pool can be empty: the heartbeat comes late, and
another worker's ``retry_stalled`` takes a live, busy worker for dead and runs its jobs a second
time. This thread beats on its own connection every ``interval`` seconds, whatever the loop does.

It still tells a hung worker from a busy one: the event loop marks that it ran every ``interval``,
and once it has not for ``hung_after`` seconds (a job stuck in a blocking call, a deadlock) the
thread stops beating, so the worker's jobs go back to the queue after ``stalled_after`` as a dead
worker's do. When the worker's row has disappeared (another worker took it for dead while this
one could not reach the database, and pruned it), ``on_lost`` is called once on the event loop:
this worker's jobs may already run elsewhere, so it must stop taking more.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import psycopg

logger = logging.getLogger(__name__)

BEAT = "UPDATE procrastinate_workers SET last_heartbeat = NOW() WHERE id = %s"


class Heartbeat:
    """Keeps ``procrastinate_workers.last_heartbeat`` of one worker fresh from a daemon thread."""

    def __init__(
        self,
        conninfo: str,
        worker_id: int,
        *,
        interval: float,
        hung_after: float,
        on_lost: Callable[[], None],
    ) -> None:
        self.conninfo = conninfo
        self.worker_id = worker_id
        self.interval = interval
        self.hung_after = hung_after
        self.on_lost = on_lost
        self.beats = 0
        self._loop_seen = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._hung_logged = False

    def start(self) -> None:
        """Start beating; call from the worker's event loop (it is the loop watched)."""
        self._loop = asyncio.get_running_loop()
        self._mark_loop()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.worker_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating (the worker is leaving the queue); call from the event loop. The thread ends by itself."""
        self._stop.set()
        if self._tick is not None:
            self._tick.cancel()

    def _mark_loop(self) -> None:
        self._loop_seen = time.monotonic()
        assert self._loop is not None
        if not self._stop.is_set():
            self._tick = self._loop.call_later(self.interval, self._mark_loop)

    def loop_silent_for(self) -> float:
        """Seconds since the event loop last ran its mark."""
        return time.monotonic() - self._loop_seen

    def _run(self) -> None:
        conn: psycopg.Connection[tuple[object, ...]] | None = None
        try:
            while not self._stop.wait(self.interval):
                silent = self.loop_silent_for()
                if silent > self.hung_after:
                    if not self._hung_logged:
                        logger.error(
                            "The worker's event loop has not run for %.0f s: it is hung, its heartbeat stops so "
                            "that other workers take its jobs",
                            silent,
                        )
                        self._hung_logged = True
                    continue
                self._hung_logged = False
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10)
                    updated = conn.execute(BEAT, (self.worker_id,)).rowcount
                except psycopg.Error as err:
                    logger.warning("Heartbeat not sent (trying again in %.0f s): %s", self.interval, err)
                    if conn is not None:
                        conn.close()
                    conn = None
                    continue
                if updated == 0:
                    if self._stop.is_set():
                        return  # the worker left the queue meanwhile
                    logger.error(
                        "This worker was taken for dead (its heartbeat came too late) and removed from the queue; "
                        "its jobs may run elsewhere now, so it stops taking jobs"
                    )
                    assert self._loop is not None
                    self._loop.call_soon_threadsafe(self.on_lost)
                    return
                self.beats += 1
        finally:
            if conn is not None:
                conn.close()
