"""Source health for people: state in words, counters, last error; pausing and resuming a source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from socialcrm.config import Config, SourceConfig
from socialcrm.models import SourceState, utcnow
from socialcrm.services import audit


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


def describe_sources(session: Session, config: Config, now: datetime) -> list[SourceHealth]:
    """Every configured source with its stored state (sources never polled show as "new")."""
    rows = []
    for source in config.sources:
        state = session.get(SourceState, source.name) or SourceState(name=source.name, type=source.type)
        rows.append(_health(source, state, now))
    return rows


def _health(source: SourceConfig, state: SourceState, now: datetime) -> SourceHealth:
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
        last_error=(state.last_error or "")[:200] or None,
        last_error_at=state.last_error_at,
    )


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
