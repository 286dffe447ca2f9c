"""When each source is polled next, decided from its stored state; pure, so tests need no clock or queue.

The scheduler job (one at a time across all workers, every few seconds) asks for the sources that
have no poll job waiting or running and defers one for each, due at the source's next poll:
``last_poll_at + interval`` (now, if that has passed or it was never polled), but not before a
backoff ends. Paused sources and those stopped by an authentication failure get none. A job that
waits for a later time holds the source's queueing lock, so the next scheduler run adds no other:
the queue itself is the schedule, and it survives restarts of every worker.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from socialcrm.config import SourceConfig

MAX_JITTER = timedelta(seconds=60)


class PollTimes(Protocol):
    """What a source's stored state says about its next poll (services.sources.PollTiming, or the row itself)."""

    @property
    def state(self) -> str:
        """new, ok, backoff, paused or auth_failed."""
        ...

    @property
    def last_poll_at(self) -> datetime | None:
        """When it was last polled."""
        ...

    @property
    def backoff_until(self) -> datetime | None:
        """Until when it backs off after failures."""
        ...


@dataclass(frozen=True)
class PlannedPoll:
    """A poll job to defer: for which source, and when (None: as soon as a worker is free)."""

    source: str
    at: datetime | None


def plan_polls(
    sources: Iterable[SourceConfig],
    states: Mapping[str, PollTimes],
    pending: set[str],
    now: datetime,
    jitter: Callable[[float], float] = lambda most: random.uniform(0.0, most),
) -> list[PlannedPoll]:
    """The poll jobs to add now: one per enabled source that has none, due at its next poll time."""
    planned = []
    for source in sources:
        if not source.enabled or source.name in pending:
            continue
        state = states.get(source.name)
        if state is not None and state.state in ("paused", "auth_failed"):
            continue
        due = next_poll_at(source, state, now)
        if due <= now:
            planned.append(PlannedPoll(source.name, None))
            continue
        # Sources on the same interval drift apart instead of all hitting the network in one second.
        spread = min(source.interval_delta * 0.1, MAX_JITTER).total_seconds()
        planned.append(PlannedPoll(source.name, due + timedelta(seconds=jitter(spread))))
    return planned


def next_poll_at(source: SourceConfig, state: PollTimes | None, now: datetime) -> datetime:
    """When ``source`` is due: an interval after its last poll, and not while it backs off."""
    if state is None or state.last_poll_at is None:
        due = now
    else:
        due = state.last_poll_at + source.interval_delta
    if state is not None and state.state == "backoff" and state.backoff_until is not None:
        due = max(due, state.backoff_until)
    return due
