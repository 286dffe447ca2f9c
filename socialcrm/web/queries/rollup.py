"""Mentions counted per day, live or from an in-memory rollup that is kept up to date incrementally.

The dashboard needs, for every day of a range, how many mentions each (source, query group,
sentiment) had and which tag lists they carried. Over a year of 100,000 mentions that is a scan
of every row; the rollup does it once and then follows the table, without counting it again:

- a deletion, or a change of a stored mention's sentiment, day, source or group (a correction), is
  counted by database triggers (MentionChanges): when that number moved, the rollup is rebuilt;
- otherwise only inserts happened: the rows above the highest id counted are counted and added.
  On PostgreSQL a lower id can be committed after a higher one; the ids that can still appear (up to
  the last one every transaction has ended since, _Settled) are counted on each look, an index range,
  and a late row among them makes a rebuild.

Tags are mostly set in the transaction that stores the mention, so counting new rows counts them; a
stored mention tagged later (a retry of its rules) is counted as a change too (services/mention_changes),
so the rollup equals the live counts. Each web process keeps its own; a rebuild costs what the live
query costs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy import String, case, cast, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from socialcrm.models import Mention, MentionChanges
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


SETTLE_SECONDS = 5.0  # PostgreSQL: how long ids stay watched for a late commit, at the least


@dataclass(frozen=True, slots=True)
class _Version:
    changes: int  # MentionChanges: deletions and changed counted fields, counted by triggers
    max_mention_id: int
    oldest_running: int | None  # PostgreSQL: the snapshot's xmin and xmax (None on SQLite)
    next_transaction: int | None


def _version(session: Session) -> _Version:
    """One statement: the change counter, the highest mention id, and on PostgreSQL the running transactions."""
    changes = select(func.coalesce(func.sum(MentionChanges.changes), 0)).scalar_subquery()  # PostgreSQL: 16 rows
    top = select(func.coalesce(func.max(Mention.id), 0)).scalar_subquery()
    if session.get_bind().dialect.name != "postgresql":
        pair: Any = sa_select(changes, top)
        found, max_id = session.exec(pair).one()
        return _Version(int(found), int(max_id), None, None)
    snapshot = func.txid_current_snapshot()
    statement: Any = sa_select(changes, top, func.txid_snapshot_xmin(snapshot), func.txid_snapshot_xmax(snapshot))
    found, max_id, xmin, xmax = session.exec(statement).one()
    return _Version(int(found), int(max_id), int(xmin), int(xmax))


class _Settled:
    """The highest mention id below which no row can still appear: ids up to it are never counted again.

    SQLite: ids are handed out by the one writer above the highest committed one, so every look
    settles its own highest id (a deleted top id handed out again is a deletion, which triggers count).
    PostgreSQL: a transaction can commit a lower id after a higher one was committed. A look's highest
    id settles once every transaction running at that look has ended (and SETTLE_SECONDS passed, for a
    transaction that took its id before it wrote anything); until then the ids above the settled one
    are counted on each look (an index range), so a late commit among them is noticed.
    """

    def __init__(self) -> None:
        self.below = 0
        self._looks: list[tuple[int, int, float]] = []  # (highest id, next transaction id, when)

    def advance(self, version: _Version) -> int:
        """The settled id after this look (not lower than before)."""
        if version.oldest_running is None or version.next_transaction is None:
            self.below = max(self.below, version.max_mention_id)
            return self.below
        now = time.monotonic()
        if not self._looks or self._looks[-1][0] != version.max_mention_id:
            self._looks = [*self._looks[-31:], (version.max_mention_id, version.next_transaction, now)]
        while self._looks and self._looks[0][1] <= version.oldest_running and now - self._looks[0][2] >= SETTLE_SECONDS:
            self.below = max(self.below, self._looks.pop(0)[0])
        return self.below


def _tail_counts(session: Session, floor: int, top: int, *marks: int) -> list[int]:
    """Per mark: the mentions with floor < id <= top and id > mark (one index range scan)."""
    in_range = (col(Mention.id) > floor) & (col(Mention.id) <= top)
    statement: Any = sa_select(*(func.count(case((col(Mention.id) > mark, 1))) for mark in marks)).where(in_range)
    return [int(n or 0) for n in session.exec(statement).one()]


class MentionRollup:
    """Per-day counts (days in one time zone) for one covered span, shared by the requests of one web process."""

    def __init__(self, zone: tzinfo = UTC) -> None:
        self.zone = zone
        self._lock = threading.Lock()
        self._span: tuple[datetime, datetime] | None = None
        self._counts = DayCounts(Counter(), Counter())
        self._changes = -1
        self._max_id = 0  # the highest id counted
        self._settled = _Settled()
        self._watched = 0  # counted rows with an id above the settled one (up to _max_id)
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
        top = version.max_mention_id
        settled = self._settled.advance(version)
        # The watched rows are counted before the days: a row committed in between is counted in the days
        # only, which the next look sees as a late commit (a rebuild), never as a row counted twice.
        [watched] = _tail_counts(session, settled, top, settled)
        in_span = (col(Mention.published_at) >= span[0], col(Mention.published_at) < span[1], col(Mention.id) <= top)
        self._counts = count_days(session, in_span, day_expression(session, self.zone, *span))
        self._span = span
        self._changes, self._max_id, self._watched = version.changes, top, watched
        self.rebuilds += 1

    def _follow(self, session: Session, version: _Version) -> bool:
        """Add the rows inserted since the last look; False when something else changed (rebuild)."""
        assert self._span is not None
        if version.changes != self._changes or version.max_mention_id < self._max_id:
            return False
        floor, top = self._settled.below, version.max_mention_id
        settled = self._settled.advance(version)
        watched, added, still_watched = _tail_counts(session, floor, top, floor, self._max_id, settled)
        if watched - self._watched != added:
            return False  # a row below the highest counted id was committed late
        if added:
            # Only ids up to the version just read: rows committed meanwhile wait for the next look.
            newer = (col(Mention.id) > self._max_id) & (col(Mention.id) <= top)
            in_span = (col(Mention.published_at) >= self._span[0], col(Mention.published_at) < self._span[1])
            fresh = count_days(session, (newer, *in_span), day_expression(session, self.zone, *self._span))
            self._counts.main.update(fresh.main)
            self._counts.tags.update(fresh.tags)
            self.increments += 1
        self._max_id, self._watched = top, still_watched
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
