"""Tickets for the service team: the list and the board (true counts, every ticket reachable), with SLA breaches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_
from sqlmodel import Session, col, select

from socialcrm.models import OPEN_TICKET_STATUSES, PRIORITIES, Customer, Ticket, TicketStatus

BOARD_STATUSES: tuple[TicketStatus, ...] = (*OPEN_TICKET_STATUSES, "resolved")
PRIORITY_ORDER = tuple(reversed(PRIORITIES))
PAGE_SIZE = 50
BOARD_PAGE_SIZE = 30
SORTS = ("due", "priority", "newest")
UNASSIGNED = "-"
"""The assignee filter value for tickets nobody has (a username never starts with '-')."""


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """What the list (and board) shows: statuses, priority, assignee (``UNASSIGNED`` for nobody), team, breaches."""

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
    """One ticket in a list, with its customer and which due times it missed."""

    ticket: Ticket
    customer: Customer | None
    first_response_breached: bool
    resolution_breached: bool

    @property
    def breached(self) -> bool:
        """True when either due time was missed."""
        return self.first_response_breached or self.resolution_breached


@dataclass(slots=True)
class TicketPage:
    """One page of the list, the total it is part of, breaches among them and counts per status."""

    rows: list[TicketRow]
    total: int
    breaches: int
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class BoardColumn:
    """One status on the board: a page of its tickets and how many it holds in all."""

    status: str
    rows: list[TicketRow]
    total: int
    page: int
    per_page: int

    @property
    def has_next(self) -> bool:
        """True when tickets of this status follow after this page."""
        return self.page * self.per_page < self.total


def breach_clause(now: datetime) -> ColumnElement[bool]:
    """SQL: an open ticket past its first-response or resolution due time."""
    return and_(
        col(Ticket.status).in_(OPEN_TICKET_STATUSES),
        or_(
            and_(col(Ticket.first_response_at).is_(None), col(Ticket.first_response_due) < now),
            col(Ticket.resolution_due) < now,
        ),
    )


def ticket_row(ticket: Ticket, customer: Customer | None, now: datetime) -> TicketRow:
    """The row of one ticket, its breaches judged at ``now``."""
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


def _conditions(where: TicketFilter, now: datetime) -> list[Any]:
    """Everything of the filter but the statuses (the board applies those per column)."""
    conditions: list[Any] = [col(Ticket.merged_into_id).is_(None)]
    if where.priority:
        conditions.append(Ticket.priority == where.priority)
    if where.assignee == UNASSIGNED:
        conditions.append(col(Ticket.assignee).is_(None))
    elif where.assignee:
        conditions.append(Ticket.assignee == where.assignee)
    if where.team:
        conditions.append(Ticket.team == where.team)
    if where.customer_id is not None:
        conditions.append(Ticket.customer_id == where.customer_id)
    if where.breached:
        conditions.append(breach_clause(now))
    return conditions


def _rows(
    session: Session, conditions: list[Any], sort: str, offset: int, limit: int, now: datetime
) -> list[TicketRow]:
    query = (
        select(Ticket, Customer)
        .join(Customer, col(Customer.id) == Ticket.customer_id, isouter=True)
        .where(*conditions)
        .order_by(*_ordering(sort))
        .offset(offset)
        .limit(limit)
    )
    return [ticket_row(ticket, customer, now) for ticket, customer in session.exec(query)]


def counts_by_status(session: Session, conditions: list[Any]) -> dict[str, int]:
    """How many tickets each status holds under ``conditions`` (one grouped query)."""
    statement = select(Ticket.status, func.count()).where(*conditions).group_by(Ticket.status)
    return {str(status): int(count) for status, count in session.exec(statement)}


def ticket_page(session: Session, where: TicketFilter, now: datetime) -> TicketPage:
    """One page of tickets in the filter's order, with the total, the breaches and counts per status."""
    others = _conditions(where, now)
    conditions = [col(Ticket.status).in_(where.statuses), *others]
    rows = _rows(session, conditions, where.sort, (where.page - 1) * where.limit, where.limit, now)
    total = session.exec(select(func.count()).select_from(Ticket).where(*conditions)).one()
    breaches = session.exec(select(func.count()).select_from(Ticket).where(*conditions, breach_clause(now))).one()
    return TicketPage(rows, int(total), int(breaches), counts_by_status(session, others))


def ticket_board(
    session: Session,
    where: TicketFilter,
    now: datetime,
    pages: Mapping[str, int] | None = None,
    per_page: int = BOARD_PAGE_SIZE,
) -> list[BoardColumn]:
    """One column per status, each with its true count and the page of its tickets asked for in ``pages``."""
    others = _conditions(where, now)
    totals = counts_by_status(session, others)
    columns = []
    for status in BOARD_STATUSES:
        total = totals.get(status, 0)
        last_page = max(1, -(-total // per_page))
        page = min(max(1, (pages or {}).get(status, 1)), last_page)
        rows = _rows(session, [Ticket.status == status, *others], "due", (page - 1) * per_page, per_page, now)
        columns.append(BoardColumn(status, rows, total, page, per_page))
    return columns
