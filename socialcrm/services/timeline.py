"""A customer's timeline: mentions, tickets, drafts and replies, orders and notes, newest first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from socialcrm.models import CustomerNote, Mention, Order, ReplyDraft, Ticket

EXCERPT = 160


@dataclass(frozen=True)
class TimelineEvent:
    """One thing that happened with a customer."""

    at: datetime
    kind: str  # mention | ticket_opened | ticket_resolved | draft | reply_sent | order | note
    entity_id: int
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)


def _event(at: datetime, kind: str, entity_id: int | None, summary: str, detail: dict[str, Any]) -> TimelineEvent:
    assert entity_id is not None, "stored rows have ids"
    return TimelineEvent(at, kind, entity_id, summary, detail)


def _excerpt(text: str | None) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1] + "…"


def timeline(session: Session, customer_id: int, *, limit: int = 100) -> list[TimelineEvent]:
    """The newest ``limit`` events of one customer."""
    events: list[TimelineEvent] = []
    for m in session.exec(
        select(Mention)
        .where(Mention.customer_id == customer_id)
        .order_by(col(Mention.published_at).desc())
        .limit(limit)
    ):
        events.append(
            _event(
                m.published_at,
                "mention",
                m.id,
                _excerpt(m.title or m.text),
                {"source": m.source, "sentiment": m.sentiment, "url": m.url},
            )
        )
    for t in session.exec(
        select(Ticket).where(Ticket.customer_id == customer_id).order_by(col(Ticket.created_at).desc()).limit(limit)
    ):
        events.append(
            _event(
                t.created_at,
                "ticket_opened",
                t.id,
                _excerpt(t.subject),
                {"status": t.status, "priority": t.priority, "team": t.team},
            )
        )
        if t.resolved_at is not None:
            events.append(_event(t.resolved_at, "ticket_resolved", t.id, _excerpt(t.subject), {"status": t.status}))
    for d in session.exec(
        select(ReplyDraft)
        .where(ReplyDraft.customer_id == customer_id)
        .order_by(col(ReplyDraft.created_at).desc())
        .limit(limit)
    ):
        events.append(
            _event(
                d.created_at,
                "draft",
                d.id,
                _excerpt(d.text),
                {"status": d.status, "rule": d.rule, "mention_id": d.mention_id},
            )
        )
        if d.sent_at is not None:
            events.append(
                _event(
                    d.sent_at,
                    "reply_sent",
                    d.id,
                    _excerpt(d.text),
                    {"url": d.external_reply_url, "approved_by": d.approved_by},
                )
            )
    for o in session.exec(select(Order).where(Order.customer_id == customer_id).limit(limit)):
        events.append(
            _event(
                o.ordered_at or o.updated_at,
                "order",
                o.id,
                f"{o.order_number}: {', '.join(o.products)}",
                {"status": o.status},
            )
        )
    for n in session.exec(
        select(CustomerNote)
        .where(CustomerNote.customer_id == customer_id)
        .order_by(col(CustomerNote.created_at).desc())
        .limit(limit)
    ):
        events.append(_event(n.created_at, "note", n.id, _excerpt(n.text), {"author": n.author}))
    events.sort(key=lambda e: (e.at, e.entity_id), reverse=True)
    return events[:limit]
