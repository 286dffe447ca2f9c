"""One conversation: the posts of a thread in order with our replies in place, and the customer beside it."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from socialcrm.linking.link import resolve_customer
from socialcrm.models import OPEN_TICKET_STATUSES, Customer, Mention, Order, ReplyDraft, Ticket

MAX_POSTS = 200
SHOWN_REPLY_STATUSES = ("pending", "approved", "sent", "failed")


@dataclass
class Entry:
    """A post of the thread and our replies to it (oldest first), rejected drafts left out."""

    mention: Mention
    replies: list[ReplyDraft] = field(default_factory=list)


@dataclass
class Conversation:
    """The thread around one mention and what we know about its author."""

    focus: Mention
    entries: list[Entry]
    customer: Customer | None
    orders: list[Order]
    open_tickets: list[Ticket]
    earlier: list[Mention]
    truncated: bool = False


def thread_posts(session: Session, focus: Mention, limit: int = MAX_POSTS) -> tuple[list[Mention], bool]:
    """The posts of the focus's thread (same source and thread), oldest first, and whether some were left out."""
    if not focus.thread_id:
        return [focus], False
    statement = (
        select(Mention)
        .where(Mention.source == focus.source, Mention.thread_id == focus.thread_id)
        .order_by(col(Mention.published_at), col(Mention.id))
        .limit(limit + 1)
    )
    posts = list(session.exec(statement))
    truncated = len(posts) > limit
    posts = posts[:limit]
    if all(p.id != focus.id for p in posts):
        posts.append(focus)
    return posts, truncated


def conversation(session: Session, mention_id: int) -> Conversation | None:
    """The conversation around ``mention_id``; None when there is no such mention."""
    focus = session.get(Mention, mention_id)
    if focus is None:
        return None
    posts, truncated = thread_posts(session, focus)
    by_id = {p.id: Entry(p) for p in posts}
    for draft in session.exec(
        select(ReplyDraft)
        .where(col(ReplyDraft.mention_id).in_(list(by_id)), col(ReplyDraft.status).in_(SHOWN_REPLY_STATUSES))
        .order_by(col(ReplyDraft.created_at), col(ReplyDraft.id))
    ):
        by_id[draft.mention_id].replies.append(draft)
    customer = resolve_customer(session, focus.customer_id) if focus.customer_id else None
    orders: list[Order] = []
    open_tickets: list[Ticket] = []
    earlier: list[Mention] = []
    if customer is not None and customer.id is not None:
        orders = list(
            session.exec(
                select(Order)
                .where(Order.customer_id == customer.id)
                .order_by(col(Order.ordered_at).desc(), col(Order.id).desc())
                .limit(10)
            )
        )
        open_tickets = list(
            session.exec(
                select(Ticket)
                .where(
                    Ticket.customer_id == customer.id,
                    col(Ticket.status).in_(OPEN_TICKET_STATUSES),
                    col(Ticket.merged_into_id).is_(None),
                )
                .order_by(col(Ticket.id))
            )
        )
        thread_ids = [p.id for p in posts]
        earlier = list(
            session.exec(
                select(Mention)
                .where(Mention.customer_id == customer.id, col(Mention.id).not_in(thread_ids))
                .order_by(col(Mention.published_at).desc(), col(Mention.id).desc())
                .limit(10)
            )
        )
    return Conversation(focus, list(by_id.values()), customer, orders, open_tickets, earlier, truncated)
