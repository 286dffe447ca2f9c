"""The dashboard's key figures: response rate and times, complaints, churn signals, leads and campaign response.

The figures of the seed's KPI list, computed from stored data: time to first response and to
resolve a complaint (tickets and reply drafts), churn signals (mentions tagged or labelled as
cancellations), leads won and new customers from leads (customers whose lead mention came before
their first order), and campaign response (mentions and sentiment per campaign tag against the
period before).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, case, cast, func, or_
from sqlmodel import Session, col, select

from socialcrm.models import CustomLabel, Mention, MentionLabel, Order, ReplyDraft, Ticket, TicketMention


def tag_condition(tags: tuple[str, ...]) -> Any:
    """SQL: the mention carries one of ``tags``."""
    text = cast(Mention.tags, String)
    # SQLite keeps the JSON as written (non-ASCII escaped as \\uXXXX); PostgreSQL's jsonb text is plain.
    patterns = {f'%"{tag}"%' for tag in tags} | {f"%{json.dumps(tag)}%" for tag in tags}
    return or_(*(text.like(pattern) for pattern in sorted(patterns)))


CHURN_TAGS = ("churn", "cancellation", "kündigung")
CHURN_LABELS = ("churn", "cancellation")  # custom labels (socialcrm labels) that count as churn signals
LEAD_TAGS = ("lead",)
LEAD_LABELS = ("purchase-intent", "lead")  # custom labels whose mentions count as leads


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
    new_customers: int = 0  # leads won who had never ordered before their lead mention


@dataclass(frozen=True, slots=True)
class Campaign:
    """How people responded to one campaign tag: mentions and their sentiment, now and in the period before."""

    tag: str
    mentions: int
    positive: int
    negative: int
    previous_mentions: int
    previous_positive: int
    previous_negative: int

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def positive_share(self) -> float | None:
        """Positive mentions among this period's."""
        return self._share(self.positive, self.mentions)

    @property
    def negative_share(self) -> float | None:
        """Negative mentions among this period's."""
        return self._share(self.negative, self.mentions)

    @property
    def previous_positive_share(self) -> float | None:
        """Positive mentions among the previous period's."""
        return self._share(self.previous_positive, self.previous_mentions)

    @property
    def previous_negative_share(self) -> float | None:
        """Negative mentions among the previous period's."""
        return self._share(self.previous_negative, self.previous_mentions)


def campaigns(now: Mapping[str, Counter[str]], before: Mapping[str, Counter[str]], top: int = 12) -> list[Campaign]:
    """Campaign response per tag (churn and lead tags are KPIs of their own), the most mentioned first."""
    rows = [
        Campaign(
            tag,
            sum(counts.values()),
            counts["positive"],
            counts["negative"],
            sum(before.get(tag, Counter()).values()),
            before.get(tag, Counter())["positive"],
            before.get(tag, Counter())["negative"],
        )
        for tag, counts in now.items()
        if tag not in CHURN_TAGS and tag not in LEAD_TAGS
    ]
    return sorted(rows, key=lambda row: (-row.mentions, row.tag))[:top]


def _seconds(session: Session, later: Any, earlier: Any) -> Any:
    """SQL for ``later - earlier`` in seconds (NULL when either is NULL)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _median(seconds: list[int]) -> timedelta | None:
    """The median of whole-second durations (the mean of the middle two when their number is even)."""
    if not seconds:
        return None
    ordered = sorted(seconds)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return timedelta(seconds=ordered[middle])
    return (timedelta(seconds=ordered[middle - 1]) + timedelta(seconds=ordered[middle])) / 2


def kpis(
    session: Session,
    start: datetime,
    end: datetime,
    sentiment: dict[str, list[int]],
    conditions: list[Any] | None = None,
    churn: int = 0,
) -> Kpis:
    """Response rate, times to first response and to resolution, complaints, churn signals and leads won."""
    result = Kpis()
    result.mentions = sum(sum(v) for v in sentiment.values())
    result.complaints = sum(sentiment.get("negative", []))
    result.negative_share = result.complaints / result.mentions if result.mentions else None
    focus = conditions or []
    _add_responses(session, start, end, focus, result)
    in_range = (col(Mention.published_at) >= start, col(Mention.published_at) < end, *focus)
    result.churn_signals = churn + _labelled_churn(session, in_range)
    result.leads, result.leads_won, result.new_customers = _leads(session, in_range)
    return result


def _add_responses(session: Session, start: datetime, end: datetime, focus: list[Any], result: Kpis) -> None:
    """Tickets and drafts created in [start, end): how many were answered, and how fast."""
    ticket_filter: list[Any] = [col(Ticket.created_at) >= start, col(Ticket.created_at) < end]
    draft_filter: list[Any] = [col(ReplyDraft.created_at) >= start, col(ReplyDraft.created_at) < end]
    if focus:
        focused = select(Mention.id).where(*focus)
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
    first_responses = [round(float(fr)) for fr, _r in ticket_rows if fr is not None]
    first_responses += [round(float(sent)) for sent, _s in draft_rows if sent is not None]
    result.actionable = len(ticket_rows) + sum(1 for _s, status in draft_rows if status != "rejected")
    result.responded = len(first_responses)
    result.response_rate = result.responded / result.actionable if result.actionable else None
    result.median_first_response = _median(first_responses)
    result.median_resolution = _median([round(float(r)) for _fr, r in ticket_rows if r is not None])


def _labelled(names: tuple[str, ...]) -> Any:
    """SQL: ids of the mentions a switched-on custom label called one of ``names`` was predicted for.

    A switched-off label's stored predictions stay but count nowhere: filters, exports and the mention
    page leave them out, so the figures a marketer clicks through to agree with the lists.
    """
    return (
        select(MentionLabel.mention_id)
        .join(CustomLabel, col(CustomLabel.id) == MentionLabel.label_id)
        .where(col(CustomLabel.name).in_(names), col(CustomLabel.enabled).is_(True))
    )


def _labelled_churn(session: Session, in_range: tuple[Any, ...]) -> int:
    """Mentions in range labelled as churn signals that carry no churn tag (those are counted already)."""
    statement = (
        select(func.count())
        .select_from(Mention)
        .where(*in_range, col(Mention.id).in_(_labelled(CHURN_LABELS)), ~tag_condition(CHURN_TAGS))
    )
    return int(session.exec(statement).one())


def _leads(session: Session, in_range: tuple[Any, ...]) -> tuple[int, int, int]:
    """Leads in range (customers with a lead-tagged or purchase-intent mention), leads won, new customers.

    A lead is won when the customer ordered on or after their first such mention; it is a new
    customer when they had not ordered before it.
    """
    is_lead = tag_condition(LEAD_TAGS) | col(Mention.id).in_(_labelled(LEAD_LABELS))
    first_lead = (
        select(col(Mention.customer_id).label("customer_id"), func.min(Mention.published_at).label("first_seen"))
        .where(*in_range, is_lead, col(Mention.customer_id).is_not(None))
        .group_by(col(Mention.customer_id))
        .subquery()
    )
    # One pass over the range: each lead is read once, its orders through the customer index.
    later = (
        select(Order.id)
        .where(col(Order.customer_id) == first_lead.c.customer_id, col(Order.ordered_at) >= first_lead.c.first_seen)
        .correlate(first_lead)
        .exists()
    )
    earlier = (
        select(Order.id)
        .where(col(Order.customer_id) == first_lead.c.customer_id, col(Order.ordered_at) < first_lead.c.first_seen)
        .correlate(first_lead)
        .exists()
    )
    statement = select(
        func.count(),
        func.coalesce(func.sum(case((later, 1), else_=0)), 0),
        func.coalesce(func.sum(case((later & ~earlier, 1), else_=0)), 0),
    ).select_from(first_lead)
    leads, won, new = session.exec(statement).one()
    return int(leads), int(won), int(new)
