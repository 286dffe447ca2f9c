"""A customer's timeline: mentions, tickets, drafts and replies, orders and notes, newest first."""

from __future__ import annotations

from collections.abc import Iterator
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
    events = [
        *_mention_events(session, customer_id, limit),
        *_ticket_events(session, customer_id, limit),
        *_draft_events(session, customer_id, limit),
        *_order_events(session, customer_id, limit),
        *_note_events(session, customer_id, limit),
    ]
    events.sort(key=lambda e: (e.at, e.entity_id), reverse=True)
    return events[:limit]


def _mention_events(session: Session, customer_id: int, limit: int) -> Iterator[TimelineEvent]:
    newest = (
        select(Mention)
        .where(Mention.customer_id == customer_id)
        .order_by(col(Mention.published_at).desc())
        .limit(limit)
    )
    for m in session.exec(newest):
        detail = {"source": m.source, "sentiment": m.sentiment, "url": m.url}
        yield _event(m.published_at, "mention", m.id, _excerpt(m.title or m.text), detail)


def _ticket_events(session: Session, customer_id: int, limit: int) -> Iterator[TimelineEvent]:
    """A ticket's opening, and its resolution when it has one."""
    newest = (
        select(Ticket).where(Ticket.customer_id == customer_id).order_by(col(Ticket.created_at).desc()).limit(limit)
    )
    for t in session.exec(newest):
        detail = {"status": t.status, "priority": t.priority, "team": t.team}
        yield _event(t.created_at, "ticket_opened", t.id, _excerpt(t.subject), detail)
        if t.resolved_at is not None:
            yield _event(t.resolved_at, "ticket_resolved", t.id, _excerpt(t.subject), {"status": t.status})


def _draft_events(session: Session, customer_id: int, limit: int) -> Iterator[TimelineEvent]:
    """A draft, and the reply when it was sent."""
    newest = (
        select(ReplyDraft)
        .where(ReplyDraft.customer_id == customer_id)
        .order_by(col(ReplyDraft.created_at).desc())
        .limit(limit)
    )
    for d in session.exec(newest):
        detail = {"status": d.status, "rule": d.rule, "mention_id": d.mention_id}
        yield _event(d.created_at, "draft", d.id, _excerpt(d.text), detail)
        if d.sent_at is not None:
            sent = {"url": d.external_reply_url, "approved_by": d.approved_by}
            yield _event(d.sent_at, "reply_sent", d.id, _excerpt(d.text), sent)


def _order_events(session: Session, customer_id: int, limit: int) -> Iterator[TimelineEvent]:
    for o in session.exec(select(Order).where(Order.customer_id == customer_id).limit(limit)):
        summary = f"{o.order_number}: {', '.join(o.products)}"
        yield _event(o.ordered_at or o.updated_at, "order", o.id, summary, {"status": o.status})


def _note_events(session: Session, customer_id: int, limit: int) -> Iterator[TimelineEvent]:
    newest = (
        select(CustomerNote)
        .where(CustomerNote.customer_id == customer_id)
        .order_by(col(CustomerNote.created_at).desc())
        .limit(limit)
    )
    for n in session.exec(newest):
        yield _event(n.created_at, "note", n.id, _excerpt(n.text), {"author": n.author})
