"""Figures read from the database at scrape time: sources' totals and lag, the outbox, the job queue, open tickets.

They are what the database already keeps, so they survive restarts and read the same whichever
process is scraped, however many processes poll and send: the sources' running totals
(``socialcrm.services.sources``), what waits in the outbox, the job queue of workers on PostgreSQL (the
same reading as ``socialcrm sources`` and the admin page: ``services.queue.queue_status``), open tickets
and the ones past a due time.
``read_figures`` runs in one read session (off the event loop); ``StoredCollector`` turns its
result into metric families for prometheus-client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from socialcrm import __version__
from socialcrm.config import Config
from socialcrm.models import (
    OPEN_TICKET_STATUSES,
    PRIORITIES,
    SOURCE_STATES,
    OutboxItem,
    ReplyDraft,
    Ticket,
)
from socialcrm.services import queue, sources

WAITING = ("pending", "sending")
UNDELIVERED = ("failed", "manual")


@dataclass(frozen=True)
class SourceFigures:
    """One configured source's stored totals and health."""

    name: str
    type: str
    state: str  # a SourceStatus, or "disabled" for a source switched off in the config
    interval_seconds: float
    fetched: int
    new: int
    duplicates: int
    errors: int
    consecutive_failures: int
    last_poll_at: datetime | None
    last_success_at: datetime | None


@dataclass
class Figures:
    """Everything the collector shows, read at one moment ``now``."""

    now: datetime
    sources: list[SourceFigures] = field(default_factory=list)
    outbox_waiting: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, status) -> rows
    outbox_due: dict[str, int] = field(default_factory=dict)  # kind -> rows due now
    outbox_oldest: dict[str, datetime] = field(default_factory=dict)  # kind -> oldest waiting row's creation
    outbox_undelivered: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, failed|manual) -> rows
    tickets_open: dict[tuple[str, str], int] = field(default_factory=dict)  # (status, priority) -> tickets
    sla_breached: dict[tuple[str, str], int] = field(default_factory=dict)  # (priority, due) -> tickets
    drafts_pending: int = 0
    jobs: queue.QueueStatus | None = None  # None on SQLite: one process, no job queue


def read_figures(session: Session, config: Config, now: datetime) -> Figures:
    """Read every stored figure in one session."""
    figures = Figures(now=now)
    _read_sources(session, config, figures)
    _read_outbox(session, now, figures)
    _read_tickets(session, now, figures)
    jobs = queue.queue_status(session, config.workers.stalled_seconds)
    figures.jobs = jobs if jobs.available else None
    pending = session.exec(select(func.count()).select_from(ReplyDraft).where(col(ReplyDraft.status) == "pending"))
    figures.drafts_pending = int(pending.one())
    return figures


def _read_sources(session: Session, config: Config, figures: Figures) -> None:
    for health in sources.describe_sources(session, config, figures.now):
        figures.sources.append(
            SourceFigures(
                name=health.name,
                type=health.type,
                state=health.state,
                interval_seconds=config.source(health.name).interval_delta.total_seconds(),
                fetched=health.fetched,
                new=health.new,
                duplicates=health.duplicates,
                errors=health.errors,
                consecutive_failures=health.consecutive_failures,
                last_poll_at=health.last_poll_at,
                last_success_at=health.last_success_at,
            )
        )


def _read_outbox(session: Session, now: datetime, figures: Figures) -> None:
    kind, status = col(OutboxItem.kind), col(OutboxItem.status)
    waiting = session.exec(
        select(kind, status, func.count(), func.min(OutboxItem.created_at))
        .where(status.in_(WAITING))
        .group_by(kind, status)
    ).all()
    for row_kind, row_status, count, oldest in waiting:
        figures.outbox_waiting[(row_kind, row_status)] = int(count)
        if oldest is not None:
            previous = figures.outbox_oldest.get(row_kind)
            figures.outbox_oldest[row_kind] = oldest if previous is None else min(previous, oldest)
    due = session.exec(
        select(kind, func.count()).where(status.in_(WAITING), col(OutboxItem.next_attempt_at) <= now).group_by(kind)
    ).all()
    figures.outbox_due.update({row_kind: int(count) for row_kind, count in due})
    undelivered = session.exec(
        select(kind, status, func.count()).where(status.in_(UNDELIVERED)).group_by(kind, status)
    ).all()
    figures.outbox_undelivered.update({(k, s): int(count) for k, s, count in undelivered})


def _read_tickets(session: Session, now: datetime, figures: Figures) -> None:
    active = and_(col(Ticket.status).in_(OPEN_TICKET_STATUSES), col(Ticket.merged_into_id).is_(None))
    rows = session.exec(
        select(col(Ticket.status), col(Ticket.priority), func.count())
        .where(active)
        .group_by(col(Ticket.status), col(Ticket.priority))
    ).all()
    figures.tickets_open.update({(status, priority): int(count) for status, priority, count in rows})
    first_response_missed = and_(col(Ticket.first_response_at).is_(None), col(Ticket.first_response_due) < now)
    for due, missed in (("first_response", first_response_missed), ("resolution", col(Ticket.resolution_due) < now)):
        breached = session.exec(
            select(col(Ticket.priority), func.count()).where(active, missed).group_by(col(Ticket.priority))
        ).all()
        figures.sla_breached.update({(priority, due): int(count) for priority, count in breached})


class StoredCollector(Collector):
    """Metric families of one ``Figures`` reading (a fresh collector per scrape)."""

    def __init__(self, figures: Figures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        """Yield every stored figure as a metric family."""
        yield from self._sources()
        yield from self._outbox()
        yield from self._work()
        yield from self._jobs()
        info = GaugeMetricFamily("socialcrm_info", "The running socialcrm version (always 1).", labels=["version"])
        info.add_metric([__version__], 1)
        yield info

    def _sources(self) -> Iterator[Metric]:
        labels = ["source", "type"]
        totals = {
            "fetched": CounterMetricFamily(
                "socialcrm_source_fetched_items", "Posts fetched from the source, ever.", labels=labels
            ),
            "new": CounterMetricFamily(
                "socialcrm_source_new_items", "Posts stored as new mentions, ever.", labels=labels
            ),
            "duplicates": CounterMetricFamily(
                "socialcrm_source_duplicate_items", "Fetched posts that were already stored, ever.", labels=labels
            ),
            "errors": CounterMetricFamily(
                "socialcrm_source_errors",
                "Failed polls plus posts set aside as unusable, ever.",
                labels=labels,
            ),
        }
        failures = GaugeMetricFamily(
            "socialcrm_source_consecutive_failures", "Failed polls since the last success.", labels=labels
        )
        last_poll = GaugeMetricFamily(
            "socialcrm_source_last_poll_timestamp_seconds",
            "When the source was last polled (Unix time).",
            labels=labels,
        )
        last_success = GaugeMetricFamily(
            "socialcrm_source_last_success_timestamp_seconds",
            "When a poll of the source last succeeded (Unix time).",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "socialcrm_source_lag_seconds",
            "Seconds since a poll of the source last succeeded (absent until one has).",
            labels=labels,
        )
        interval = GaugeMetricFamily(
            "socialcrm_source_interval_seconds", "The source's configured polling interval.", labels=labels
        )
        state = GaugeMetricFamily(
            "socialcrm_source_state",
            "1 for the source's current state (ok, new, backoff, auth_failed, paused, disabled), else 0.",
            labels=[*labels, "state"],
        )
        now = self.figures.now.timestamp()
        for source in self.figures.sources:
            key = [source.name, source.type]
            for name, family in totals.items():
                family.add_metric(key, getattr(source, name))
            failures.add_metric(key, source.consecutive_failures)
            interval.add_metric(key, source.interval_seconds)
            if source.last_poll_at is not None:
                last_poll.add_metric(key, source.last_poll_at.timestamp())
            if source.last_success_at is not None:
                last_success.add_metric(key, source.last_success_at.timestamp())
                lag.add_metric(key, max(0.0, now - source.last_success_at.timestamp()))
            for value in (*SOURCE_STATES, "disabled"):
                state.add_metric([*key, value], 1 if source.state == value else 0)
        yield from totals.values()
        yield from (failures, last_poll, last_success, lag, interval, state)

    def _outbox(self) -> Iterator[Metric]:
        figures = self.figures
        kinds = sorted(
            {"reply", "webhook", *(k for k, _ in figures.outbox_waiting), *(k for k, _ in figures.outbox_undelivered)}
        )
        depth = GaugeMetricFamily(
            "socialcrm_outbox_queue_depth",
            "Outbox rows waiting to go out (pending, or being sent), by kind and status.",
            labels=["kind", "status"],
        )
        due = GaugeMetricFamily("socialcrm_outbox_due_items", "Waiting outbox rows due now.", labels=["kind"])
        oldest = GaugeMetricFamily(
            "socialcrm_outbox_oldest_waiting_seconds",
            "Age of the oldest outbox row still waiting to go out (0 when none waits).",
            labels=["kind"],
        )
        undelivered = GaugeMetricFamily(
            "socialcrm_outbox_undelivered_items",
            "Outbox rows that ended without going out: failed for good, or to be posted by hand.",
            labels=["kind", "status"],
        )
        for kind in kinds:
            for status in WAITING:
                depth.add_metric([kind, status], figures.outbox_waiting.get((kind, status), 0))
            for status in UNDELIVERED:
                undelivered.add_metric([kind, status], figures.outbox_undelivered.get((kind, status), 0))
            due.add_metric([kind], figures.outbox_due.get(kind, 0))
            first = figures.outbox_oldest.get(kind)
            oldest.add_metric([kind], max(0.0, (figures.now - first).total_seconds()) if first else 0.0)
        yield from (depth, due, oldest, undelivered)

    def _work(self) -> Iterator[Metric]:
        figures = self.figures
        tickets = GaugeMetricFamily(
            "socialcrm_tickets_open",
            "Tickets that still need work, by status and priority.",
            labels=["status", "priority"],
        )
        for status in OPEN_TICKET_STATUSES:
            for priority in PRIORITIES:
                tickets.add_metric([status, priority], figures.tickets_open.get((status, priority), 0))
        breached = GaugeMetricFamily(
            "socialcrm_tickets_sla_breached",
            "Open tickets past their first-response or resolution due time, by priority.",
            labels=["priority", "due"],
        )
        for priority in PRIORITIES:
            for due in ("first_response", "resolution"):
                breached.add_metric([priority, due], figures.sla_breached.get((priority, due), 0))
        drafts = GaugeMetricFamily("socialcrm_reply_drafts_pending", "Reply drafts waiting for a person's approval.")
        drafts.add_metric([], figures.drafts_pending)
        yield from (tickets, breached, drafts)

    def _jobs(self) -> Iterator[Metric]:
        jobs = self.figures.jobs
        if jobs is None:
            return
        by_state = GaugeMetricFamily(
            "socialcrm_job_queue_jobs",
            "Jobs of the workers' queue (PostgreSQL): waiting (due), scheduled (later), running, stalled "
            "(running on a worker without a heartbeat), failed (kept a week).",
            labels=["state"],
        )
        for state, count in (
            ("waiting", jobs.waiting),
            ("scheduled", jobs.scheduled),
            ("running", jobs.running),
            ("stalled", jobs.stalled),
            ("failed", jobs.failed),
        ):
            by_state.add_metric([state], count)
        yield by_state
        waiting = GaugeMetricFamily(
            "socialcrm_job_queue_waiting_jobs", "Jobs due and waiting for a worker, by queue.", labels=["queue"]
        )
        for name in queue.QUEUES:
            waiting.add_metric([name], jobs.waiting_by_queue.get(name, 0))
        yield waiting
        workers = GaugeMetricFamily(
            "socialcrm_job_queue_workers", "Worker processes known to the queue, alive or stalled.", labels=["state"]
        )
        alive = sum(1 for w in jobs.workers if w.alive)
        workers.add_metric(["alive"], alive)
        workers.add_metric(["stalled"], len(jobs.workers) - alive)
        yield workers
