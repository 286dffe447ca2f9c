"""When a queue worker that stopped on its own starts again, and when the process gives up instead.

Procrastinate ends its worker when one of its side tasks fails (the heartbeat, the periodic deferrer,
the abort poll, the LISTEN connection), and a restart of the PostgreSQL server fails them. QueueWork
(worker.py) then runs a new worker after a wait that doubles from ``FIRST_WAIT`` up to
``LONGEST_WAIT``; a worker that ran ``STEADY_AFTER`` seconds counts as recovered, and its next stop
waits ``FIRST_WAIT`` again. The process gives up (exits 1, for systemd or the container to start it
again) only once the database was unreachable at every attempt in a row for ``GIVE_UP_AFTER``
seconds and at least ``GIVE_UP_ATTEMPTS`` attempts: a database that answers while the worker keeps
failing is never given up on. Pure (the caller passes the time), so tests need no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_WAIT = 1.0  # seconds
LONGEST_WAIT = 30.0
STEADY_AFTER = 60.0  # seconds a worker must run to count as recovered
GIVE_UP_AFTER = 120.0  # seconds of an unreachable database, at every attempt
GIVE_UP_ATTEMPTS = 5


@dataclass
class Restarts:
    """The attempts since the worker last ran steadily, and since when the database has not answered."""

    failures: int = 0  # stops and failed starts since the worker last ran steadily
    unreachable: int = 0  # of those, the last ones in a row that found the database unreachable
    unreachable_since: float | None = None  # when the first of those was (the caller's clock)

    def wait(self) -> float:
        """Seconds to wait before the next attempt: 1, 2, 4, 8, 16, then 30 each."""
        return min(FIRST_WAIT * 2.0 ** max(self.failures - 1, 0), LONGEST_WAIT)

    def stopped(self, at: float, ran_for: float, database_reachable: bool) -> None:
        """The worker stopped at ``at`` after ``ran_for`` seconds (0: it did not start); was the database there?"""
        if ran_for >= STEADY_AFTER:
            self.failures = 0
        self.failures += 1
        if database_reachable:
            self.unreachable, self.unreachable_since = 0, None
            return
        self.unreachable += 1
        if self.unreachable_since is None:
            self.unreachable_since = at

    def give_up(self, now: float) -> bool:
        """The database was unreachable at every attempt for ``GIVE_UP_AFTER`` s and ``GIVE_UP_ATTEMPTS`` attempts."""
        since = self.unreachable_since
        return since is not None and self.unreachable >= GIVE_UP_ATTEMPTS and now - since >= GIVE_UP_AFTER
