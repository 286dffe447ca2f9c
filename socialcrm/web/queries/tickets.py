"""Tickets for the service team: the list/board with SLA breaches, and one ticket with its context."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlmodel import Session, col, select

from socialcrm.models import (
    OPEN_TICKET_STATUSES,
    PRIORITIES,
    Customer,
    Mention,
    Order,
    Ticket,
    TicketMention,
    TicketNote,
)

BOARD_STATUSES = (*OPEN_TICKET_STATUSES, "resolved")
PRIORITY_ORDER = tuple(reversed(PRIORITIES))
PAGE_SIZE = 50
SORTS = ("due", "priority", "newest")


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """What the ticket list shows: statuses, priority, assignee, team, breached only, customer; sort and page."""

    statuses: tuple[str, ...] = OPEN_TICKET_STATUSES
    priority: str | None = None
    assignee: str | None = None
    team: str | None = None
    breached: bool = False
    customer_id: int | None = None
    sort: str = "due"
    page: int = 1
    limit: int = PAGE_SIZE


@dataclass(slots=True)
class TicketRow:
    """A ticket in a list, with its customer and whether each of its due times has passed."""

    ticket: Ticket
    customer: Customer | None
    first_response_breached: bool
    resolution_breached: bool

    @property
    def breached(self) -> bool:
        """Whether the first response or the resolution is overdue."""
        return self.first_response_breached or self.resolution_breached


@dataclass(slots=True)
class TicketPage:
    """One page of the ticket list, with the total, the number of SLA breaches and counts by status."""

    rows: list[TicketRow]
    total: int
    breaches: int
    by_status: dict[str, int] = field(default_factory=dict)


def breach_clause(now: datetime) -> ColumnElement[bool]:
    """SQL: an open ticket past its first-response or resolution due time."""
    return and_(
        col(Ticket.status).in_(OPEN_TICKET_STATUSES),
        or_(
            and_(col(Ticket.first_response_at).is_(None), col(Ticket.first_response_due) < now),
            col(Ticket.resolution_due) < now,
        ),
    )


def _row(ticket: Ticket, customer: Customer | None, now: datetime) -> TicketRow:
    is_open = ticket.status in OPEN_TICKET_STATUSES
    first = bool(
        is_open and ticket.first_response_at is None and ticket.first_response_due and ticket.first_response_due < now
    )
    resolution = bool(is_open and ticket.resolution_due and ticket.resolution_due < now)
    return TicketRow(ticket, customer, first, resolution)


def _ordering(sort: str) -> list[Any]:
    """Most urgent due time first (default), by priority then due time, or newest first."""
    due = [col(Ticket.resolution_due).is_(None), col(Ticket.resolution_due)]
    if sort == "priority":
        rank = case({p: i for i, p in enumerate(PRIORITY_ORDER)}, value=Ticket.priority, else_=len(PRIORITY_ORDER))
        return [rank, *due, col(Ticket.id)]
    if sort == "newest":
        return [col(Ticket.id).desc()]
    return [*due, col(Ticket.id)]


def ticket_page(session: Session, where: TicketFilter, now: datetime) -> TicketPage:
    """One page of tickets ordered by resolution due time (breaches first), with counts."""
    conditions: list[Any] = [col(Ticket.status).in_(where.statuses), col(Ticket.merged_into_id).is_(None)]
    if where.priority:
        conditions.append(Ticket.priority == where.priority)
    if where.assignee:
        conditions.append(Ticket.assignee == where.assignee)
    if where.team:
        conditions.append(Ticket.team == where.team)
    if where.customer_id is not None:
        conditions.append(Ticket.customer_id == where.customer_id)
    if where.breached:
        conditions.append(breach_clause(now))
    query = (
        select(Ticket, Customer)
        .join(Customer, col(Customer.id) == Ticket.customer_id, isouter=True)
        .where(*conditions)
        .order_by(*_ordering(where.sort))
        .offset((where.page - 1) * where.limit)
        .limit(where.limit)
    )
    rows = [_row(ticket, customer, now) for ticket, customer in session.exec(query)]
    total = session.exec(select(func.count()).select_from(Ticket).where(*conditions)).one()
    breaches = session.exec(select(func.count()).select_from(Ticket).where(*conditions, breach_clause(now))).one()
    by_status = {
        status: count
        for status, count in session.exec(
            select(Ticket.status, func.count()).where(col(Ticket.merged_into_id).is_(None)).group_by(Ticket.status)
        )
    }
    return TicketPage(rows, int(total), int(breaches), by_status)


def ticket_board(session: Session, now: datetime, per_column: int = 30) -> dict[str, list[TicketRow]]:
    """Columns by status, each ordered by resolution due time."""
    board: dict[str, list[TicketRow]] = {}
    for status in BOARD_STATUSES:
        query = (
            select(Ticket, Customer)
            .join(Customer, col(Customer.id) == Ticket.customer_id, isouter=True)
            .where(Ticket.status == status, col(Ticket.merged_into_id).is_(None))
            .order_by(col(Ticket.resolution_due).is_(None), col(Ticket.resolution_due), col(Ticket.id))
            .limit(per_column)
        )
        board[status] = [_row(ticket, customer, now) for ticket, customer in session.exec(query)]
    return board


@dataclass(slots=True)
class TicketDetail:
    """Everything the ticket page shows."""

    row: TicketRow
    mentions: list[Mention]
    notes: list[TicketNote]
    orders: list[Order]
    other_mentions: list[Mention]
    duplicates: list[Ticket]


def ticket_detail(session: Session, ticket_id: int, now: datetime) -> TicketDetail | None:
    """The ticket with its mentions and notes, and the customer's orders, other mentions and open tickets."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    customer = session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    mentions = list(
        session.exec(
            select(Mention)
            .join(TicketMention, col(TicketMention.mention_id) == Mention.id)
            .where(TicketMention.ticket_id == ticket_id)
            .order_by(col(Mention.published_at))
        )
    )
    notes = list(session.exec(select(TicketNote).where(TicketNote.ticket_id == ticket_id).order_by(col(TicketNote.id))))
    orders: list[Order] = []
    other_mentions: list[Mention] = []
    duplicates: list[Ticket] = []
    if ticket.customer_id is not None:
        orders, other_mentions, duplicates = _customer_context(session, ticket, ticket.customer_id, mentions)
    return TicketDetail(_row(ticket, customer, now), mentions, notes, orders, other_mentions, duplicates)


def _customer_context(
    session: Session, ticket: Ticket, customer_id: int, mentions: list[Mention], limit: int = 20
) -> tuple[list[Order], list[Mention], list[Ticket]]:
    """The customer's latest orders, latest mentions outside this ticket, and other open tickets."""
    orders = list(
        session.exec(
            select(Order).where(Order.customer_id == customer_id).order_by(col(Order.ordered_at).desc()).limit(limit)
        )
    )
    own = {m.id for m in mentions}
    latest = session.exec(
        select(Mention)
        .where(Mention.customer_id == customer_id)
        .order_by(col(Mention.published_at).desc())
        .limit(limit + len(own))
    )
    other_mentions = [m for m in latest if m.id not in own][:limit]
    duplicates = list(
        session.exec(
            select(Ticket)
            .where(
                Ticket.customer_id == customer_id,
                col(Ticket.id) != ticket.id,
                col(Ticket.status).in_(OPEN_TICKET_STATUSES),
                col(Ticket.merged_into_id).is_(None),
            )
            .order_by(col(Ticket.id))
            .limit(limit)
        )
    )
    return orders, other_mentions, duplicates
