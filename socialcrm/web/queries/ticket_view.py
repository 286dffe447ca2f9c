"""One ticket as an agent works it: its posts, the customer beside it, and its history in time order.

The history interleaves the posts that joined the ticket, internal notes, our public replies with
their delivery (sent by the platform's API, posted by hand with the reply's address, failed with the
reason) and the ticket's own events (status, reopen, assignment, priority, merges, follow-ups).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session, col, select

from socialcrm.models import (
    OPEN_TICKET_STATUSES,
    AuditEntry,
    Customer,
    Mention,
    Order,
    ReplyDraft,
    Ticket,
    TicketMention,
    TicketNote,
)
from socialcrm.services.replies import policy_of
from socialcrm.web.queries.tickets import TicketRow, ticket_row

HISTORY_EVENTS = (
    "ticket.create",
    "ticket.status",
    "ticket.reopen",
    "ticket.assign",
    "ticket.priority",
    "ticket.merge",
    "ticket.merged_from",
    "ticket.follow_up",
)
"""The ticket's audit entries its history shows (notes and added posts are shown as themselves)."""
DELIVERY_EVENTS = ("draft.approve", "draft.sent", "draft.posted", "draft.failed", "draft.retry")
"""What happened to a reply on its way out."""
HistoryKind = Literal["post", "note", "reply", "event"]


@dataclass(slots=True)
class HistoryEntry:
    """One line of a ticket's history; exactly one of mention, note, reply or event is set."""

    at: datetime
    kind: HistoryKind
    mention: Mention | None = None
    note: TicketNote | None = None
    reply: ReplyDraft | None = None
    event: AuditEntry | None = None
    delivery: list[AuditEntry] = field(default_factory=list)
    by_hand: bool = False
    """A reply whose platform takes none by API: a person posts it and marks it as posted."""
    reply_to_url: str = ""
    """The address of the post a reply answers (to open it and reply there by hand)."""


@dataclass(slots=True)
class TicketView:
    """Everything the ticket page shows."""

    row: TicketRow
    mentions: list[Mention]
    notes: list[TicketNote]
    orders: list[Order]
    other_mentions: list[Mention]
    duplicates: list[Ticket]
    history: list[HistoryEntry]
    follow_up_of: Ticket | None
    follow_ups: list[Ticket]
    merged_into: Ticket | None


def ticket_view(session: Session, ticket_id: int, now: datetime) -> TicketView | None:
    """The ticket page's data, or None when there is no such ticket."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    customer = session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    joined = list(
        session.exec(
            select(Mention, TicketMention.added_at)
            .join(TicketMention, col(TicketMention.mention_id) == Mention.id)
            .where(TicketMention.ticket_id == ticket_id)
            .order_by(col(Mention.published_at))
        )
    )
    mentions = [m for m, _ in joined]
    notes = list(session.exec(select(TicketNote).where(TicketNote.ticket_id == ticket_id).order_by(col(TicketNote.id))))
    orders, other_mentions, duplicates = _beside(session, ticket, {m.id for m in mentions})
    follow_ups = list(session.exec(select(Ticket).where(Ticket.follow_up_of_id == ticket_id).order_by(col(Ticket.id))))
    return TicketView(
        row=ticket_row(ticket, customer, now),
        mentions=mentions,
        notes=notes,
        orders=orders,
        other_mentions=other_mentions,
        duplicates=duplicates,
        history=_history(session, ticket_id, joined, notes),
        follow_up_of=session.get(Ticket, ticket.follow_up_of_id) if ticket.follow_up_of_id else None,
        follow_ups=follow_ups,
        merged_into=session.get(Ticket, ticket.merged_into_id) if ticket.merged_into_id else None,
    )


def _beside(session: Session, ticket: Ticket, own: set[int | None]) -> tuple[list[Order], list[Mention], list[Ticket]]:
    """The customer's orders, other mentions and other active tickets (merge candidates)."""
    if ticket.customer_id is None:
        return [], [], []
    orders = list(
        session.exec(
            select(Order)
            .where(Order.customer_id == ticket.customer_id)
            .order_by(col(Order.ordered_at).desc())
            .limit(20)
        )
    )
    other_mentions = [
        m
        for m in session.exec(
            select(Mention)
            .where(Mention.customer_id == ticket.customer_id)
            .order_by(col(Mention.published_at).desc())
            .limit(20 + len(own))
        )
        if m.id not in own
    ][:20]
    duplicates = list(
        session.exec(
            select(Ticket)
            .where(
                Ticket.customer_id == ticket.customer_id,
                col(Ticket.id) != ticket.id,
                col(Ticket.status).in_(OPEN_TICKET_STATUSES),
                col(Ticket.merged_into_id).is_(None),
            )
            .order_by(col(Ticket.id))
            .limit(20)
        )
    )
    return orders, other_mentions, duplicates


def _history(session: Session, ticket_id: int, joined: list[Any], notes: list[TicketNote]) -> list[HistoryEntry]:
    entries = [HistoryEntry(added_at, "post", mention=m) for m, added_at in joined]
    entries += [HistoryEntry(n.created_at, "note", note=n) for n in notes]
    mention_ids = [m.id for m, _ in joined]
    replies = (
        list(
            session.exec(
                select(ReplyDraft).where(col(ReplyDraft.mention_id).in_(mention_ids)).order_by(col(ReplyDraft.id))
            )
        )
        if mention_ids
        else []
    )
    delivery: dict[str, list[AuditEntry]] = {}
    if replies:
        for entry in session.exec(
            select(AuditEntry)
            .where(
                AuditEntry.entity_type == "draft",
                col(AuditEntry.entity_id).in_([str(r.id) for r in replies]),
                col(AuditEntry.action).in_(DELIVERY_EVENTS),
            )
            .order_by(col(AuditEntry.id))
        ):
            delivery.setdefault(entry.entity_id or "", []).append(entry)
    answered = {m.id: m for m, _ in joined}
    by_api = {m.source_type: policy_of(m.source_type).can_reply for m, _ in joined}
    for r in replies:
        post = answered[r.mention_id]
        entries.append(
            HistoryEntry(
                r.created_at,
                "reply",
                reply=r,
                delivery=delivery.get(str(r.id), []),
                by_hand=not by_api[post.source_type],
                reply_to_url=post.url,
            )
        )
    events = session.exec(
        select(AuditEntry)
        .where(
            AuditEntry.entity_type == "ticket",
            AuditEntry.entity_id == str(ticket_id),
            col(AuditEntry.action).in_(HISTORY_EVENTS),
        )
        .order_by(col(AuditEntry.id))
    )
    entries += [HistoryEntry(e.at, "event", event=e) for e in events]
    order = {"event": 0, "post": 1, "note": 2, "reply": 3}
    return sorted(entries, key=lambda e: (e.at, order[e.kind]))
