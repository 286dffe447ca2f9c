"""When each source is polled next: due after its interval, not while backing off, never while paused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from socialcrm.config import SourceConfig
from socialcrm.jobs.schedule import PlannedPoll, plan_polls
from socialcrm.models import SourceState

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def source(name: str, interval: str = "15m", enabled: bool = True) -> SourceConfig:
    return SourceConfig(name=name, type="feed", interval=interval, enabled=enabled)


def state(name: str, **fields: object) -> SourceState:
    return SourceState(name=name, type="feed", **fields)


def no_jitter(most: float) -> float:
    return 0.0


def test_a_source_never_polled_is_due_now() -> None:
    assert plan_polls([source("a")], {}, set(), NOW, no_jitter) == [PlannedPoll("a", None)]


def test_the_next_poll_comes_one_interval_after_the_last_one() -> None:
    states = {"a": state("a", state="ok", last_poll_at=NOW - timedelta(minutes=5))}
    assert plan_polls([source("a")], states, set(), NOW, no_jitter) == [PlannedPoll("a", NOW + timedelta(minutes=10))]


def test_an_overdue_source_is_polled_at_once() -> None:
    states = {"a": state("a", state="ok", last_poll_at=NOW - timedelta(hours=3))}
    assert plan_polls([source("a")], states, set(), NOW, no_jitter) == [PlannedPoll("a", None)]


def test_jitter_spreads_sources_by_up_to_a_tenth_of_the_interval_and_at_most_a_minute() -> None:
    states = {n: state(n, state="ok", last_poll_at=NOW) for n in ("short", "long")}
    most: list[float] = []

    def record(limit: float) -> float:
        most.append(limit)
        return limit

    plans = plan_polls([source("short", "5m"), source("long", "6h")], states, set(), NOW, record)
    assert most == [30.0, 60.0]
    assert plans == [
        PlannedPoll("short", NOW + timedelta(minutes=5, seconds=30)),
        PlannedPoll("long", NOW + timedelta(hours=6, seconds=60)),
    ]


def test_a_failing_source_waits_for_its_backoff_to_end() -> None:
    until = NOW + timedelta(hours=1)
    states = {"a": state("a", state="backoff", last_poll_at=NOW - timedelta(hours=1), backoff_until=until)}
    assert plan_polls([source("a")], states, set(), NOW, no_jitter) == [PlannedPoll("a", until)]


def test_paused_stopped_disabled_and_already_queued_sources_get_no_job() -> None:
    sources = [source("paused"), source("auth"), source("off", enabled=False), source("queued"), source("due")]
    states = {"paused": state("paused", state="paused"), "auth": state("auth", state="auth_failed")}
    assert plan_polls(sources, states, {"queued"}, NOW, no_jitter) == [PlannedPoll("due", None)]
