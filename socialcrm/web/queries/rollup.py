"""Mentions counted per day, live or from an in-memory rollup that is kept up to date incrementally.

The dashboard needs, for every day of a range, how many mentions each (source, query group,
sentiment) had and which tag lists they carried. Over a year of 100,000 mentions that is a scan
of every row; the rollup does it once and then follows the table:

- only inserts happened since (the count grew by exactly the rows with a higher id, and the row
  that had the highest id is still the same row): those rows are counted and added;
- anything else (a sentiment correction, retention or erasure deleting rows, SQLite handing out a
  deleted top id again): it is rebuilt.

Nothing else changes a stored mention's day, source, group, sentiment or tags (tags are set in the
transaction that stores the mention), so the rollup equals the live counts. Each web process keeps
its own; a rebuild costs what the live query costs.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy import String, case, cast, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from socialcrm.models import Mention, SentimentCorrection
from socialcrm.timezones import offset_segments

MainKey = tuple[date, str, str | None, str | None]  # day, source, group, sentiment
TagKey = tuple[date, str, str | None]  # day, tag list as stored JSON text, sentiment


@dataclass(slots=True)
class DayCounts:
    """Mention counts per day: by (source, group, sentiment), and by (tag list, sentiment); empty tag lists left out."""

    main: Counter[MainKey]
    tags: Counter[TagKey]

    def between(self, start: datetime, end: datetime) -> DayCounts:
        """The counts of the days in [start, end) (both at midnight in the zone the days were counted in)."""
        first, last = start.date(), end.date()
        return DayCounts(
            Counter({k: n for k, n in self.main.items() if first <= k[0] < last}),
            Counter({k: n for k, n in self.tags.items() if first <= k[0] < last}),
        )


def day_expression(
    session: Session, zone: tzinfo = UTC, start: datetime | None = None, end: datetime | None = None
) -> Any:
    """SQL for the calendar day in ``zone`` a mention was published on (UTC unless given; dialect-specific).

    PostgreSQL converts with its own zone database. SQLite has none: each UTC offset ``zone`` has
    between ``start`` and ``end`` (the rows the query can see) is added by hand, switching at the
    instants the offset changes (timezones.offset_segments).
    """
    name = getattr(zone, "key", None) or "UTC"
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(name, Mention.published_at))
    if name == "UTC" or zone is UTC:
        return func.date(Mention.published_at)
    if start is None or end is None:
        raise ValueError("a day in a zone other than UTC needs the span of the rows on SQLite")
    segments = offset_segments(zone, start, end)

    def shifted(offset: int) -> Any:
        return func.date(Mention.published_at, f"{offset:+d} seconds")

    if len(segments) == 1:
        return shifted(segments[0][1])
    changes = [(col(Mention.published_at) < until, shifted(offset)) for until, offset in segments if until is not None]
    return case(*changes, else_=shifted(segments[-1][1]))


def as_date(value: Any) -> date:
    """A day as the database returned it (a date on PostgreSQL, ISO text on SQLite) as a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def count_days(session: Session, conditions: tuple[Any, ...], day: Any = None) -> DayCounts:
    """Count the mentions matching ``conditions`` per day (``day``: day_expression's; UTC days by default)."""
    day = day_expression(session) if day is None else day
    main: Counter[MainKey] = Counter()
    statement: Any = (  # five columns: past sqlmodel's typed overloads of select()
        sa_select(day, col(Mention.source), col(Mention.group), col(Mention.sentiment), func.count())
        .where(*conditions)
        .group_by(day, col(Mention.source), col(Mention.group), col(Mention.sentiment))
    )
    for raw_day, source, group, sentiment, n in session.exec(statement):
        main[(as_date(raw_day), source, group, sentiment)] += n
    return DayCounts(main, count_tags(session, conditions, day))


def count_tags(session: Session, conditions: tuple[Any, ...], day: Any = None) -> Counter[TagKey]:
    """Mentions per day, tag list and sentiment; grouped by the JSON text, so few distinct lists are decoded."""
    day = day_expression(session) if day is None else day
    tags_text = cast(Mention.tags, String)
    tags: Counter[TagKey] = Counter()
    statement: Any = (
        sa_select(day, tags_text, col(Mention.sentiment), func.count())
        .where(*conditions, tags_text != "[]")
        .group_by(day, tags_text, col(Mention.sentiment))
    )
    for raw_day, raw_tags, sentiment, n in session.exec(statement):
        tags[(as_date(raw_day), raw_tags, sentiment)] += n
    return tags


@dataclass(frozen=True, slots=True)
class _Version:
    mentions: int
    max_mention_id: int
    top_fetched_at: datetime | None  # of the row with the highest id: tells a reused id apart
    corrections: int
    max_correction_id: int


def _version(session: Session) -> _Version:
    mentions, max_id = session.exec(select(func.count(), func.coalesce(func.max(Mention.id), 0))).one()
    corrections, max_correction = session.exec(
        select(func.count(), func.coalesce(func.max(SentimentCorrection.id), 0))
    ).one()
    top = _fetched_at(session, int(max_id or 0))
    return _Version(int(mentions), int(max_id or 0), top, int(corrections), int(max_correction or 0))


def _fetched_at(session: Session, mention_id: int) -> datetime | None:
    return session.exec(select(Mention.fetched_at).where(Mention.id == mention_id)).first()


class MentionRollup:
    """Per-day counts (days in one time zone) for one covered span, shared by the requests of one web process."""

    def __init__(self, zone: tzinfo = UTC) -> None:
        self.zone = zone
        self._lock = threading.Lock()
        self._span: tuple[datetime, datetime] | None = None
        self._counts = DayCounts(Counter(), Counter())
        self._version: _Version | None = None
        self.rebuilds = 0
        self.increments = 0

    def counts(self, session: Session, start: datetime, end: datetime) -> DayCounts:
        """The counts of the days in [start, end) (both at midnight in the rollup's zone), brought up to date first."""
        with self._lock:
            version = _version(session)
            span = self._span
            if span is None or start < span[0] or end > span[1] or not self._follow(session, version):
                wide = (start, end) if span is None else (min(start, span[0]), max(end, span[1]))
                self._rebuild(session, wide, version)
            return self._counts.between(start, end)

    def _rebuild(self, session: Session, span: tuple[datetime, datetime], version: _Version) -> None:
        in_span = (col(Mention.published_at) >= span[0], col(Mention.published_at) < span[1])
        self._counts = count_days(session, in_span, day_expression(session, self.zone, *span))
        self._span = span
        self._version = version
        self.rebuilds += 1

    def _follow(self, session: Session, version: _Version) -> bool:
        """Add the rows inserted since the last look; False when something else changed (rebuild)."""
        known = self._version
        assert known is not None and self._span is not None
        if version == known:
            return True
        if (version.corrections, version.max_correction_id) != (known.corrections, known.max_correction_id):
            return False
        if _fetched_at(session, known.max_mention_id) != known.top_fetched_at:
            return False  # the former top row is gone (or its id was handed out again)
        # Only ids up to the version just read: rows committed meanwhile wait for the next look.
        newer = (col(Mention.id) > known.max_mention_id) & (col(Mention.id) <= version.max_mention_id)
        added = session.exec(select(func.count()).select_from(Mention).where(newer)).one()
        if added == 0 or version.mentions - known.mentions != added:
            return False
        in_span = (col(Mention.published_at) >= self._span[0], col(Mention.published_at) < self._span[1])
        fresh = count_days(session, (newer, *in_span), day_expression(session, self.zone, *self._span))
        self._counts.main.update(fresh.main)
        self._counts.tags.update(fresh.tags)
        self._version = version
        self.increments += 1
        return True


class MentionRollups:
    """One rollup per time zone people look at the dashboard in (the few most recent zones are kept)."""

    def __init__(self, keep: int = 8) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._by_zone: dict[str, MentionRollup] = {}

    def of(self, zone: tzinfo) -> MentionRollup:
        """The rollup counting days in ``zone``."""
        name = getattr(zone, "key", None) or str(zone)
        with self._lock:
            rollup = self._by_zone.pop(name, None) or MentionRollup(zone)
            self._by_zone[name] = rollup  # the most recently used last
            while len(self._by_zone) > self._keep:
                del self._by_zone[next(iter(self._by_zone))]
            return rollup
