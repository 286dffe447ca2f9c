"""The one owner of SourceState: every change to a source's stored health goes through here.

The poller records successes and failures, the pipeline advances the cursor with the batch it
stored, the outbox reports credentials a reply was refused for, people pause and resume sources,
and the daemon gives sources paused by an authentication failure another try at start. No other
module writes SourceState (tests/test_architecture.py checks this). Reading is here too: the
health of every source in words for ``socialcrm sources``, the admin page and the metrics.

States (``SourceStatus``): ``new`` (not polled yet), ``ok``, ``backoff`` (failing; the next poll
waits until ``backoff_until``), ``auth_failed`` (credentials refused: no polls until a restart or
a resume), ``paused`` (by a person).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

import connectors
from socialcrm.config import Config, SourceConfig
from socialcrm.db_rows import insert_missing
from socialcrm.models import SourceState, SourceStatus, as_stored, table_of, utcnow
from socialcrm.secret_mask import mask_secrets
from socialcrm.services import audit, retries

MAX_ERROR_CHARS = 2000
_ABSENT = "socialcrm.absent_source_states"  # session.info: sources ``load_states`` found no row for
HEALTHY: tuple[SourceStatus, ...] = ("ok", "new")


@dataclass(frozen=True)
class SourceHealth:
    """One line of `socialcrm sources` and of the admin page."""

    name: str
    type: str
    enabled: bool
    state: str
    state_text: str
    backoff_until: datetime | None
    last_success: str | None
    last_success_at: datetime | None
    fetched: int
    new: int
    duplicates: int
    errors: int
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int = 0
    last_poll_at: datetime | None = None
    retrying: int = 0  # stored mentions whose linking or rules failed, waiting for a retry (services.retries)


@dataclass(frozen=True)
class StateChange:
    """A source's state before and after a recorded failure (the poller logs only real changes)."""

    previous: SourceStatus
    current: SourceStatus

    @property
    def went_down(self) -> bool:
        """True when the source was healthy, or is now in another failing state than before."""
        return self.previous in HEALTHY or self.previous != self.current


def source_state(session: Session, source: SourceConfig) -> SourceState:
    """The stored state of ``source``, created (as "new") on first use.

    Two processes polling a new source at once (two daemons on PostgreSQL, a daemon and ``poll``) both
    find no row: the insert skips a row the other has made meanwhile, and both read the one row.
    """
    absent: set[str] = session.info.get(_ABSENT, set())
    state = None if source.name in absent else session.get(SourceState, source.name)
    if state is None:
        row = SourceState(name=source.name, type=source.type).model_dump()
        if insert_missing(session, table_of(SourceState), [row], ["name"]):
            state = as_stored(SourceState, row)  # the row as this insert wrote it: nothing to read back
            session.add(state)
        else:
            state = session.get(SourceState, source.name)  # made by another process meanwhile
        absent.discard(source.name)
        assert state is not None, "the state row was just inserted or found"
    return state


def load_states(session: Session, names: Sequence[str]) -> list[SourceState]:
    """Read the states of these sources in one query; while the caller holds them, ``source_state`` reads none.

    Sources without a row yet (a first poll) are noted in the session, so ``source_state`` inserts
    theirs without asking for each once more.
    """
    found: list[SourceState] = []
    for start in range(0, len(names), 500):
        found += session.exec(select(SourceState).where(col(SourceState.name).in_(names[start : start + 500])))
    session.info.setdefault(_ABSENT, set()).update(set(names) - {state.name for state in found})
    return found


def snapshot(session: Session, source: SourceConfig) -> SourceState:
    """A detached copy of the stored state, safe to read after the session has closed."""
    return SourceState.model_validate(source_state(session, source).model_dump())


@dataclass(frozen=True)
class PollTiming:
    """What deciding a source's next poll needs of its stored state."""

    state: str
    last_poll_at: datetime | None
    backoff_until: datetime | None


def poll_timings(session: Session) -> dict[str, PollTiming]:
    """Every stored source's state, last poll and backoff, by source name (sources never polled have none).

    The job scheduler reads this every few seconds: three columns, not whole rows made into objects.
    """
    rows = session.exec(
        select(SourceState.name, SourceState.state, SourceState.last_poll_at, SourceState.backoff_until)
    ).all()
    return {name: PollTiming(state, last_poll_at, backoff_until) for name, state, last_poll_at, backoff_until in rows}


def record_batch(
    session: Session,
    source: SourceConfig,
    *,
    cursor: str | None,
    fetched: int,
    new: int,
    skipped: int,
    problems: Sequence[str],
    now: datetime,
) -> None:
    """A page was stored: advance the cursor in the same transaction, count it, and mark the source ok.

    One UPDATE that adds to the counts in the row, without reading it first; a state the session holds
    already (read with its group's, ``load_states``) is changed as that object, and a source without a
    row yet gets one (``source_state``).
    """
    table = table_of(SourceState)
    values: dict[str, Any] = {
        "cursor": cursor,
        "state": "ok",
        "backoff_until": None,
        "consecutive_failures": 0,
        "last_poll_at": now,
        "last_success_at": now,
        "updated_at": now,
    }
    if problems:
        values |= {"last_error": _shown("; ".join(problems), source), "last_error_at": now}
    counts = {"fetched_total": fetched, "new_total": new, "duplicate_total": fetched - new, "error_total": skipped}
    held = session.identity_map.get(session.identity_key(SourceState, source.name))
    if held is None:
        added = {name: table.c[name] + amount for name, amount in counts.items()}
        changed = session.connection().execute(update(table).where(table.c.name == source.name).values(values | added))
        if changed.rowcount:
            return
    state = held if isinstance(held, SourceState) else source_state(session, source)
    for name, value in values.items():
        setattr(state, name, value)
    for name, amount in counts.items():
        setattr(state, name, getattr(state, name) + amount)
    session.add(state)


def record_failure(
    session: Session,
    source: SourceConfig,
    error: str,
    *,
    now: datetime,
    delay_after: Callable[[int], float],
) -> StateChange:
    """A poll failed: back off for ``delay_after(consecutive failures)`` seconds."""
    state = source_state(session, source)
    previous = state.state
    _count_failure(state, _shown(error, source), now)
    state.state = "backoff"
    state.backoff_until = now + timedelta(seconds=delay_after(state.consecutive_failures))
    session.add(state)
    return StateChange(previous, state.state)


def record_auth_failure(session: Session, source: SourceConfig, error: str, *, now: datetime) -> StateChange:
    """The platform refused the credentials while polling: no more polls until a restart or a resume."""
    state = source_state(session, source)
    previous = state.state
    _count_failure(state, _shown(error, source), now)
    state.state = "auth_failed"
    state.backoff_until = None
    session.add(state)
    return StateChange(previous, state.state)


def record_reply_auth_failure(session: Session, name: str, error: str, *, now: datetime) -> None:
    """The platform refused the credentials for a reply: show it on the source (polls stop too)."""
    state = session.get(SourceState, name)
    if state is None:
        return
    state.state = "auth_failed"
    state.last_error = _shown(f"reply failed: {error}")
    state.last_error_at = now
    session.add(state)


def _shown(error: str, source: SourceConfig | None = None) -> str:
    """An error as it may be stored and shown: every configured secret masked, at most MAX_ERROR_CHARS."""
    return mask_secrets(error, source.secret_values() if source is not None else ())[:MAX_ERROR_CHARS]


def _count_failure(state: SourceState, error: str, now: datetime) -> None:
    state.consecutive_failures += 1
    state.error_total += 1
    state.last_error = error[:MAX_ERROR_CHARS]
    state.last_error_at = now
    state.last_poll_at = now
    state.updated_at = now


def set_paused(session: Session, source: SourceConfig, paused: bool, *, actor: str) -> SourceState:
    """Pause a source (no polls until resumed) or resume it (clears backoff and auth failure)."""
    state = session.get(SourceState, source.name)
    if state is None:
        state = SourceState(name=source.name, type=source.type)
    state.state = "paused" if paused else "new"
    if not paused:
        state.backoff_until = None
        state.consecutive_failures = 0
    state.updated_at = utcnow()
    session.add(state)
    audit.record(session, actor, "source.pause" if paused else "source.resume", "source", source.name)
    return state


def retry_auth_failures(session: Session) -> None:
    """A restart is the moment an admin has fixed credentials: sources stopped by auth get another try."""
    session.exec(update(SourceState).where(col(SourceState.state) == "auth_failed").values(state="new"))


def describe_sources(session: Session, config: Config, now: datetime) -> list[SourceHealth]:
    """Every configured source with its stored state (sources never polled show as "new")."""
    rows = []
    waiting = retries.count_by_source(session)
    for source in config.sources:
        state = session.get(SourceState, source.name) or SourceState(name=source.name, type=source.type)
        rows.append(_health(source, state, now, waiting.get(source.name, 0)))
    return rows


def _health(source: SourceConfig, state: SourceState, now: datetime, retrying: int) -> SourceHealth:
    if not source.enabled:
        text = "disabled in config"
    elif state.state == "backoff" and state.backoff_until and state.backoff_until > now:
        text = f"backing off until {state.backoff_until.strftime('%Y-%m-%d %H:%M')}Z"
    elif state.state == "backoff":
        text = "retrying"
    elif state.state == "auth_failed":
        text = "auth failed (paused)"
    elif state.state == "paused":
        text = "paused"
    elif state.state == "new":
        text = "not polled yet"
    else:
        text = state.state
    return SourceHealth(
        name=source.name,
        type=source.type,
        enabled=source.enabled,
        state=state.state if source.enabled else "disabled",
        state_text=text,
        backoff_until=state.backoff_until,
        last_success=state.last_success_at.strftime("%Y-%m-%d %H:%M") if state.last_success_at else None,
        last_success_at=state.last_success_at,
        fetched=state.fetched_total,
        new=state.new_total,
        duplicates=state.duplicate_total,
        errors=state.error_total,
        # Masked again on the way out: rows stored by an older release may hold a secret.
        last_error=_shown(state.last_error or "", source)[:200] or None,
        last_error_at=state.last_error_at,
        consecutive_failures=state.consecutive_failures,
        last_poll_at=state.last_poll_at,
        retrying=retrying,
    )


def forget_posts(session: Session, post_ids: Mapping[str, Collection[str]]) -> None:
    """Take these post ids (source -> ids: an erased person's) out of the sources' stored cursors."""
    for state in session.exec(select(SourceState).where(col(SourceState.name).in_(sorted(post_ids)))):
        cursor = connectors.forget_posts(state.cursor, post_ids[state.name])
        if cursor != state.cursor:
            state.cursor = cursor
            session.add(state)
