"""Marketing figures for a date range: volume and sentiment over time, share of voice, themes and KPIs.

Every figure is also computed for the previous period of the same length (``Dashboard.previous``),
so the page can show how it changed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from socialcrm.insights import themes
from socialcrm.models import SENTIMENT_LABELS, Mention, Order, ReplyDraft, Ticket, TicketMention
from socialcrm.web.queries.mentions import tag_condition
from socialcrm.web.queries.rollup import DayCounts, MainKey, MentionRollup, TagKey, count_days, count_tags

CHURN_TAGS = ("churn", "cancellation", "kündigung")
LEAD_TAGS = ("lead",)
THEME_SAMPLE = 1000  # the newest negative mentions themes are read from (and half as many others)
# lower() keeps SQLite from reading all negative posts through the sentiment index and sorting them:
# the range on published_at is the selective part.
NEGATIVE = func.lower(Mention.sentiment) == "negative"
NOT_NEGATIVE = or_(func.lower(Mention.sentiment) != "negative", col(Mention.sentiment).is_(None))


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
class Kpis:
    """The key figures: volume, complaints, response rate and times, churn signals, leads and leads won."""

    mentions: int = 0
    complaints: int = 0
    negative_share: float | None = None
    response_rate: float | None = None
    responded: int = 0
    actionable: int = 0
    median_first_response: timedelta | None = None
    median_resolution: timedelta | None = None
    churn_signals: int = 0
    leads: int = 0
    leads_won: int = 0


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


def _bucket_of(day: date, bucket: str) -> date:
    return day - timedelta(days=day.weekday()) if bucket == "week" else day


@dataclass(slots=True)
class _Tally:
    """Per-bucket counts as the dashboard adds them up, one list per key, one slot per bucket."""

    buckets: list[date]
    bucket: str
    sentiment: dict[str, list[int]] = field(init=False)
    by_source: defaultdict[str, list[int]] = field(init=False)
    by_group: defaultdict[str, list[int]] = field(init=False)
    by_tag: defaultdict[str, list[int]] = field(init=False)
    sentiment_by_source: defaultdict[str, dict[str, int]] = field(init=False)
    churn: int = 0
    _index: dict[date, int] = field(init=False)

    def __post_init__(self) -> None:
        width = len(self.buckets)
        self.sentiment = {s: [0] * width for s in (*SENTIMENT_LABELS, "unknown")}
        self.by_source = defaultdict(lambda: [0] * width)
        self.by_group = defaultdict(lambda: [0] * width)
        self.by_tag = defaultdict(lambda: [0] * width)
        self.sentiment_by_source = defaultdict(lambda: dict.fromkeys(SENTIMENT_LABELS, 0))
        self._index = {b: i for i, b in enumerate(self.buckets)}

    def slot(self, day: date) -> int | None:
        """The bucket ``day`` falls in, or None outside the range."""
        return self._index.get(_bucket_of(day, self.bucket))

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
        """Count mentions per tag from (day, JSON tag list) rows; churn signals over the whole range."""
        for (day, raw_tags), n in rows.items():
            tags = [str(tag) for tag in json.loads(raw_tags) or ()]
            self.churn += n if any(tag in CHURN_TAGS for tag in tags) else 0
            i = self.slot(day)
            if i is not None:
                for tag in tags:
                    self.by_tag[tag][i] += n

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
    """Per-bucket counts of the mentions published in [start, end) (from the rollup's counts where it can)."""
    tally = _Tally(_buckets(start, end, bucket), bucket)
    in_range = (col(Mention.published_at) >= start, col(Mention.published_at) < end, *focus.conditions())
    use_rollup = rolled_up is not None and not focus.tag
    counts = rolled_up.between(start, end) if rolled_up is not None and use_rollup else count_days(session, in_range)
    tally.add_mentions(counts.main, focus)
    # The rollup's tag lists are not split by source or group: a focused page counts them live.
    tally.add_tags(count_tags(session, in_range) if use_rollup and (focus.source or focus.group) else counts.tags)
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
) -> Dashboard:
    """Every figure of the dashboard for mentions published in [start, end), optionally narrowed by ``focus``.

    ``brand`` holds the folded brand words that themes leave out (themes.configured_brand_terms).
    """
    focus = focus or Focus()
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
        kpis=kpis(session, previous_start, start, before_sentiment.values, focus, before.churn),
        sentiment=_totals(before_sentiment.values),
        by_source=_totals(before.by_source),
        by_group=_totals(before.by_group),
        by_tag=_totals(before.by_tag),
        share_of_voice={group: share for group, _n, share in before.share_of_voice()},
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
        kpis=kpis(session, start, end, sentiment.values, focus, tally.churn),
        previous=previous,
        recent_negative=recent_negative(session, in_range),
    )


def recent_negative(session: Session, in_range: tuple[Any, ...], limit: int = 10) -> list[Mention]:
    """The newest negative mentions in range."""
    statement = select(Mention).where(*in_range, NEGATIVE).order_by(col(Mention.published_at).desc()).limit(limit)
    return list(session.exec(statement))


def negative_themes(
    session: Session, in_range: tuple[Any, ...], brand: frozenset[str] = frozenset(), top: int = 15
) -> list[themes.Theme]:
    """Themes of the newest THEME_SAMPLE negative mentions in range, told apart from half as many others."""
    posts: list[themes.Post] = []
    for negative, condition, limit in ((True, NEGATIVE, THEME_SAMPLE), (False, NOT_NEGATIVE, THEME_SAMPLE // 2)):
        rows = session.exec(
            select(Mention.id, Mention.source, Mention.title, Mention.text)
            .where(*in_range, condition)
            .order_by(col(Mention.published_at).desc())
            .limit(limit)
        )
        for mention_id, source, title, text in rows:
            posts.append(themes.Post(int(mention_id or 0), source, themes.theme_text(title, text), negative))
    return themes.negative_themes(posts, brand, top)


def _seconds(session: Session, later: Any, earlier: Any) -> Any:
    """SQL for ``later - earlier`` in seconds (NULL when either is NULL)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def kpis(
    session: Session,
    start: datetime,
    end: datetime,
    sentiment: dict[str, list[int]],
    focus: Focus | None = None,
    churn: int = 0,
) -> Kpis:
    """Response rate, times to first response and to resolution, complaints, churn signals and leads won."""
    result = Kpis()
    result.mentions = sum(sum(v) for v in sentiment.values())
    result.complaints = sum(sentiment.get("negative", []))
    result.negative_share = result.complaints / result.mentions if result.mentions else None
    focus = focus or Focus()
    _add_responses(session, start, end, focus, result)
    result.churn_signals = churn
    in_range = (col(Mention.published_at) >= start, col(Mention.published_at) < end, *focus.conditions())
    result.leads, result.leads_won = _leads(session, in_range)
    return result


def _add_responses(session: Session, start: datetime, end: datetime, focus: Focus, result: Kpis) -> None:
    """Tickets and drafts created in [start, end): how many were answered, and how fast."""
    ticket_filter: list[Any] = [col(Ticket.created_at) >= start, col(Ticket.created_at) < end]
    draft_filter: list[Any] = [col(ReplyDraft.created_at) >= start, col(ReplyDraft.created_at) < end]
    if focus.conditions():
        focused = select(Mention.id).where(*focus.conditions())
        ticket_filter.append(
            col(Ticket.id).in_(select(TicketMention.ticket_id).where(col(TicketMention.mention_id).in_(focused)))
        )
        draft_filter.append(col(ReplyDraft.mention_id).in_(focused))
    # Durations come from the database in whole seconds: converting 10,000s of timestamps in Python costs more.
    ticket_rows = list(
        session.exec(
            select(
                _seconds(session, Ticket.first_response_at, Ticket.created_at),
                _seconds(session, Ticket.resolved_at, Ticket.created_at),
            ).where(*ticket_filter, col(Ticket.merged_into_id).is_(None))
        )
    )
    draft_rows = list(
        session.exec(
            select(_seconds(session, ReplyDraft.sent_at, ReplyDraft.created_at), ReplyDraft.status).where(*draft_filter)
        )
    )
    first_responses = [timedelta(seconds=round(float(fr))) for fr, _r in ticket_rows if fr is not None]
    first_responses += [timedelta(seconds=round(float(sent))) for sent, _s in draft_rows if sent is not None]
    result.actionable = len(ticket_rows) + sum(1 for _s, status in draft_rows if status != "rejected")
    result.responded = len(first_responses)
    result.response_rate = result.responded / result.actionable if result.actionable else None
    result.median_first_response = _median(first_responses)
    result.median_resolution = _median([timedelta(seconds=round(float(r))) for _fr, r in ticket_rows if r is not None])


def _leads(session: Session, in_range: tuple[Any, ...]) -> tuple[int, int]:
    """Customers with a lead-tagged mention in range, and how many ordered on or after the first such mention."""
    first_lead = (
        select(col(Mention.customer_id).label("customer_id"), func.min(Mention.published_at).label("first_seen"))
        .where(*in_range, tag_condition(LEAD_TAGS), col(Mention.customer_id).is_not(None))
        .group_by(col(Mention.customer_id))
        .subquery()
    )
    leads = session.exec(select(func.count()).select_from(first_lead)).one()
    won = session.exec(
        select(func.count(func.distinct(first_lead.c.customer_id)))
        .select_from(first_lead)
        .join(Order, col(Order.customer_id) == first_lead.c.customer_id)
        .where(col(Order.ordered_at) >= first_lead.c.first_seen)
    ).one()
    return leads, won


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
