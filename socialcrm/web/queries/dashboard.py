"""Marketing figures for a date range: volume and sentiment over time, share of voice, themes and KPIs.

Every figure is also computed for the previous period of the same length (``Dashboard.previous``),
so the page can show how it changed.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from sqlalchemy import func, or_, text
from sqlmodel import Session, col, select

from socialcrm.insights import themes
from socialcrm.insights.kpis import CHURN_TAGS, Campaign, Kpis, campaigns, kpis, tag_condition
from socialcrm.models import SENTIMENT_LABELS, Mention
from socialcrm.web.queries.rollup import (
    DayCounts,
    MainKey,
    MentionRollup,
    TagKey,
    count_days,
    count_tags,
    day_expression,
)

THEME_SAMPLE = 1000  # the newest negative mentions themes are read from (and half as many others)
# lower() keeps SQLite from reading all negative posts through the sentiment index and sorting them:
# the range on published_at is the selective part.
NEGATIVE = func.lower(Mention.sentiment) == "negative"
NOT_NEGATIVE = or_(func.lower(Mention.sentiment) != "negative", col(Mention.sentiment).is_(None))
# PostgreSQL guesses lower()'s selectivity far too low and then sorts the whole range instead of
# walking the published_at index backwards: it gets the plain comparison, whose statistics it knows.
PG_NEGATIVE = col(Mention.sentiment) == "negative"
PG_NOT_NEGATIVE = or_(col(Mention.sentiment) != "negative", col(Mention.sentiment).is_(None))


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True, slots=True)
class Focus:
    """Narrow every figure to one source, query group or tag (all empty: everything)."""

    source: str | None = None
    group: str | None = None
    tag: str | None = None

    def conditions(self) -> list[Any]:
        """SQL conditions on Mention for this focus."""
        found: list[Any] = []
        if self.source:
            found.append(Mention.source == self.source)
        if self.group:
            found.append(Mention.group == self.group)
        if self.tag:
            found.append(tag_condition((self.tag,)))
        return found


@dataclass(slots=True)
class Series:
    """Counts per bucket (day or week) for each key (a source, group, tag or sentiment)."""

    buckets: list[date]
    values: dict[str, list[int]]

    def total(self, key: str) -> int:
        """All counts of ``key`` over the range."""
        return sum(self.values.get(key, []))


@dataclass(slots=True)
class Previous:
    """The period of the same length just before: its KPIs and the total of every chart key."""

    start: datetime
    end: datetime
    kpis: Kpis
    sentiment: dict[str, int]
    by_source: dict[str, int]
    by_group: dict[str, int]
    by_tag: dict[str, int]
    share_of_voice: dict[str, float]
    themes: Counter[str] = field(default_factory=Counter)  # negative mentions per theme key, sampled alike


@dataclass(slots=True)
class Dashboard:
    """Every figure of the dashboard for one date range and focus, and the previous period's for comparison."""

    start: datetime
    end: datetime
    bucket: str
    sentiment: Series
    by_source: Series
    by_group: Series
    by_tag: Series
    sentiment_by_source: dict[str, dict[str, int]]
    share_of_voice: list[tuple[str, int, float]]
    themes: list[themes.Theme]
    kpis: Kpis
    previous: Previous
    campaigns: list[Campaign] = field(default_factory=list)
    recent_negative: list[Mention] = field(default_factory=list)


def _buckets(start: datetime, end: datetime, bucket: str) -> list[date]:
    first = start.date()
    if bucket == "week":
        first -= timedelta(days=first.weekday())
    step = timedelta(days=7 if bucket == "week" else 1)
    days = []
    current = first
    while current <= (end - timedelta(microseconds=1)).date():
        days.append(current)
        current += step
    return days


@lru_cache(maxsize=4096)  # few distinct tag lists: each is decoded once
def _tag_list(raw_tags: str) -> tuple[str, ...]:
    return tuple(str(tag) for tag in json.loads(raw_tags) or ())


@dataclass(slots=True)
class _Tally:
    """Per-bucket counts as the dashboard adds them up, one list per key, one slot per bucket."""

    buckets: list[date]
    bucket: str
    sentiment: dict[str, list[int]] = field(init=False)
    by_source: defaultdict[str, list[int]] = field(init=False)
    by_group: defaultdict[str, list[int]] = field(init=False)
    by_tag: defaultdict[str, list[int]] = field(init=False)
    tag_sentiment: defaultdict[str, Counter[str]] = field(init=False)
    sentiment_by_source: defaultdict[str, dict[str, int]] = field(init=False)
    churn: int = 0
    _index: dict[date, int] = field(init=False)

    def __post_init__(self) -> None:
        width = len(self.buckets)
        self.sentiment = {s: [0] * width for s in (*SENTIMENT_LABELS, "unknown")}
        self.by_source = defaultdict(lambda: [0] * width)
        self.by_group = defaultdict(lambda: [0] * width)
        self.by_tag = defaultdict(lambda: [0] * width)
        self.tag_sentiment = defaultdict(Counter)
        self.sentiment_by_source = defaultdict(lambda: dict.fromkeys(SENTIMENT_LABELS, 0))
        # Every day of the range -> its slot, so counting looks each day up once (no weekday arithmetic per row).
        width_days = 7 if self.bucket == "week" else 1
        self._index = {
            b + timedelta(days=offset): i for i, b in enumerate(self.buckets) for offset in range(width_days)
        }

    def slot(self, day: date) -> int | None:
        """The bucket ``day`` falls in, or None outside the range."""
        return self._index.get(day)

    def add_mentions(self, rows: Mapping[MainKey, int], focus: Focus) -> None:
        """Count mentions per (day, source, group, sentiment), leaving out other sources and groups than ``focus``."""
        for (day, source, group, label), n in rows.items():
            if (focus.source and source != focus.source) or (focus.group and group != focus.group):
                continue
            i = self.slot(day)
            if i is None:
                continue
            self.sentiment[label if label in SENTIMENT_LABELS else "unknown"][i] += n
            self.by_source[source][i] += n
            self.by_group[group or "–"][i] += n
            if label in SENTIMENT_LABELS:
                self.sentiment_by_source[source][label] += n

    def add_tags(self, rows: Mapping[TagKey, int]) -> None:
        """Count mentions per tag (and per tag and sentiment) from (day, JSON tag list, sentiment) rows.

        Churn signals are counted over the whole range.
        """
        for (day, raw_tags, label), n in rows.items():
            tags = _tag_list(raw_tags)
            self.churn += n if any(tag in CHURN_TAGS for tag in tags) else 0
            i = self.slot(day)
            if i is not None:
                for tag in tags:
                    self.by_tag[tag][i] += n
                    self.tag_sentiment[tag][label or "unknown"] += n

    def sentiment_series(self) -> Series:
        """Sentiment per bucket; "unknown" only when some mentions have no sentiment."""
        values = {k: v for k, v in self.sentiment.items() if k != "unknown" or any(v)}
        return Series(self.buckets, values)

    def share_of_voice(self) -> list[tuple[str, int, float]]:
        """(group, mentions, share of all mentions), the loudest first."""
        totals = {g: sum(v) for g, v in self.by_group.items()}
        everything = sum(totals.values())
        shares = ((g, n, n / everything if everything else 0.0) for g, n in totals.items())
        return sorted(shares, key=lambda item: -item[1])


def _count(
    session: Session, start: datetime, end: datetime, bucket: str, focus: Focus, rolled_up: DayCounts | None
) -> _Tally:
    """Per-bucket counts of the mentions published in [start, end) (from the rollup's counts where it can).

    Days are those of the zone ``start`` and ``end`` are given in.
    """
    tally = _Tally(_buckets(start, end, bucket), bucket)
    in_range = (col(Mention.published_at) >= start, col(Mention.published_at) < end, *focus.conditions())
    day = day_expression(session, start.tzinfo or UTC, start, end)
    use_rollup = rolled_up is not None and not focus.tag
    if rolled_up is not None and use_rollup:
        counts = rolled_up.between(start, end)
    else:
        counts = count_days(session, in_range, day)
    tally.add_mentions(counts.main, focus)
    # The rollup's tag lists are not split by source or group: a focused page counts them live.
    tally.add_tags(count_tags(session, in_range, day) if use_rollup and (focus.source or focus.group) else counts.tags)
    return tally


def _totals(values: Mapping[str, list[int]]) -> dict[str, int]:
    return {key: sum(counts) for key, counts in values.items()}


def build_dashboard(
    session: Session,
    start: datetime,
    end: datetime,
    now: datetime,
    focus: Focus | None = None,
    rollup: MentionRollup | None = None,
    brand: frozenset[str] = frozenset(),
    zone: tzinfo = UTC,
) -> Dashboard:
    """Every figure of the dashboard for mentions published in [start, end), optionally narrowed by ``focus``.

    ``brand`` holds the folded brand words that themes leave out (themes.configured_brand_terms).
    Days (chart buckets, the range's first and last day) are those of ``zone``; ``rollup`` must count
    days in the same zone.
    """
    focus = focus or Focus()
    start, end = start.astimezone(zone), end.astimezone(zone)
    if _is_postgresql(session):
        # A year's lead figures cost enough for PostgreSQL to JIT-compile them, which takes longer (~100 ms)
        # than running them; this read transaction does without.
        session.execute(text("SET LOCAL jit = off"))
    bucket = "week" if (end - start) > timedelta(days=92) else "day"
    previous_start = start - (end - start)
    # One look at the rollup for both periods: it covers (and follows) the whole span from then on.
    rolled_up = rollup.counts(session, previous_start, end) if rollup is not None and not focus.tag else None
    tally = _count(session, start, end, bucket, focus, rolled_up)
    in_range = (col(Mention.published_at) >= start, col(Mention.published_at) < end, *focus.conditions())
    sentiment = tally.sentiment_series()
    before = _count(session, previous_start, start, bucket, focus, rolled_up)
    before_sentiment = before.sentiment_series()
    previous = Previous(
        start=previous_start,
        end=start,
        kpis=kpis(session, previous_start, start, before_sentiment.values, focus.conditions(), before.churn),
        sentiment=_totals(before_sentiment.values),
        by_source=_totals(before.by_source),
        by_group=_totals(before.by_group),
        by_tag=_totals(before.by_tag),
        share_of_voice={group: share for group, _n, share in before.share_of_voice()},
        themes=themes.negative_counts(
            theme_posts(
                session,
                (col(Mention.published_at) >= previous_start, col(Mention.published_at) < start, *focus.conditions()),
            ),
            brand,
        ),
    )
    return Dashboard(
        start=start,
        end=end,
        bucket=bucket,
        sentiment=sentiment,
        by_source=Series(tally.buckets, dict(tally.by_source)),
        by_group=Series(tally.buckets, dict(tally.by_group)),
        by_tag=Series(tally.buckets, dict(sorted(tally.by_tag.items(), key=lambda kv: -sum(kv[1]))[:12])),
        sentiment_by_source={k: dict(v) for k, v in sorted(tally.sentiment_by_source.items())},
        share_of_voice=tally.share_of_voice(),
        themes=negative_themes(session, in_range, brand),
        kpis=kpis(session, start, end, sentiment.values, focus.conditions(), tally.churn),
        previous=previous,
        campaigns=campaigns(tally.tag_sentiment, before.tag_sentiment),
        recent_negative=recent_negative(session, in_range),
    )


def recent_negative(session: Session, in_range: tuple[Any, ...], limit: int = 10) -> list[Mention]:
    """The newest negative mentions in range."""
    negative = PG_NEGATIVE if _is_postgresql(session) else NEGATIVE
    statement = select(Mention).where(*in_range, negative).order_by(col(Mention.published_at).desc()).limit(limit)
    return list(session.exec(statement))


def theme_posts(session: Session, in_range: tuple[Any, ...]) -> list[themes.Post]:
    """The newest THEME_SAMPLE negative mentions in range and half as many others, as themes read them."""
    posts: list[themes.Post] = []
    pg = _is_postgresql(session)
    samples = (
        (True, PG_NEGATIVE if pg else NEGATIVE, THEME_SAMPLE),
        (False, PG_NOT_NEGATIVE if pg else NOT_NEGATIVE, THEME_SAMPLE // 2),
    )
    for negative, condition, limit in samples:
        rows = session.exec(
            select(Mention.id, Mention.source, Mention.title, Mention.text)
            .where(*in_range, condition)
            .order_by(col(Mention.published_at).desc())
            .limit(limit)
        )
        for mention_id, source, title, body in rows:
            posts.append(themes.Post(int(mention_id or 0), source, themes.theme_text(title, body), negative))
    return posts


def negative_themes(
    session: Session, in_range: tuple[Any, ...], brand: frozenset[str] = frozenset(), top: int = 15
) -> list[themes.Theme]:
    """Themes of the newest THEME_SAMPLE negative mentions in range, told apart from half as many others."""
    return themes.negative_themes(theme_posts(session, in_range), brand, top)


def export_rows(board: Dashboard) -> list[list[str]]:
    """The dashboard's series as CSV rows: bucket, dimension, key, count."""
    rows = [["bucket_start", "dimension", "key", "mentions"]]
    for dimension, series in (
        ("sentiment", board.sentiment),
        ("source", board.by_source),
        ("group", board.by_group),
        ("tag", board.by_tag),
    ):
        for key, values in series.values.items():
            for bucket, value in zip(series.buckets, values, strict=True):
                rows.append([bucket.isoformat(), dimension, key, str(value)])
    return rows
