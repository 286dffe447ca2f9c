"""Service tickets: opening from mentions, joining threads, transitions, SLA, assignment, notes, merges.

Statuses run new -> open -> pending -> resolved -> closed; an agent may go back (pending -> open) and
reopen a resolved or closed ticket (``ticket.reopen`` in the audit log); a ticket merged into another
stays closed. A new complaint in the thread reopens a resolved ticket and, as ``[tickets]
closed_thread`` says, reopens a closed one or opens a follow-up linked to it. The first status
change, note or approved reply by a person (not the daemon) sets ``first_response_at``. Every
change is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from socialcrm.config import DEFAULT_SLA, SlaTarget
from socialcrm.db_rows import Inserter, insert_one
from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError
from socialcrm.models import (
    OPEN_TICKET_STATUSES,
    PRIORITIES,
    TICKET_STATUSES,
    Customer,
    Mention,
    Order,
    Priority,
    Ticket,
    TicketMention,
    TicketNote,
    TicketStatus,
    utcnow,
)
from socialcrm.services import audit
from socialcrm.services.assignees import check_assignee
from socialcrm.services.audit import DAEMON

TRANSITIONS: dict[TicketStatus, tuple[TicketStatus, ...]] = {
    "new": ("open", "pending", "resolved", "closed"),
    "open": ("pending", "resolved", "closed"),
    "pending": ("open", "resolved", "closed"),
    "resolved": ("open", "closed"),
    "closed": ("open",),
}
REOPENABLE: tuple[TicketStatus, ...] = ("resolved", "closed")


def sla_due(sla: Mapping[Priority, SlaTarget] | None, priority: Priority, start: datetime) -> tuple[datetime, datetime]:
    """First-response and resolution due times for a ticket of ``priority`` opened at ``start``."""
    target = (sla or DEFAULT_SLA).get(priority) or DEFAULT_SLA.get(priority) or DEFAULT_SLA["normal"]
    return start + target.first_response_delta(), start + target.resolution_delta()


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    """The ticket with this id; NotFoundError when there is none."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFoundError(f"no ticket with id {ticket_id}")
    return ticket


def find_open_ticket(session: Session, thread_key: str, customer_id: int | None) -> Ticket | None:
    """The oldest new/open/pending ticket of this thread and customer, if any."""
    statement = select(Ticket).where(
        Ticket.thread_key == thread_key,
        col(Ticket.status).in_(OPEN_TICKET_STATUSES),
        col(Ticket.merged_into_id).is_(None),
    )
    statement = statement.where(
        col(Ticket.customer_id).is_(None) if customer_id is None else Ticket.customer_id == customer_id
    )
    return session.exec(statement.order_by(col(Ticket.id))).first()


def latest_in_thread(session: Session, thread: str, customer_id: int | None) -> Ticket | None:
    """The newest ticket of this thread and customer, whatever its status (merged tickets left out)."""
    statement = select(Ticket).where(Ticket.thread_key == thread, col(Ticket.merged_into_id).is_(None))
    statement = statement.where(
        col(Ticket.customer_id).is_(None) if customer_id is None else Ticket.customer_id == customer_id
    )
    return session.exec(statement.order_by(col(Ticket.id).desc())).first()


def open_ticket(
    session: Session,
    *,
    subject: str,
    priority: str = "normal",
    team: str | None = None,
    assignee: str | None = None,
    customer_id: int | None = None,
    thread_key: str | None = None,
    rule: str | None = None,
    idempotency_key: str | None = None,
    mention_id: int | None = None,
    follow_up_of_id: int | None = None,
    sla: Mapping[Priority, SlaTarget] | None = None,
    actor: str = DAEMON,
    now: datetime | None = None,
    attach: bool = True,
    insert: Inserter = insert_one,
) -> Ticket:
    """Create a ticket (status new) with SLA due times; attach ``mention_id`` when given.

    ``follow_up_of_id`` links it to the closed ticket it follows (both audit logs say so). With
    ``attach=False`` the mention is only named in the audit entry: the caller links it (the pipeline
    writes a batch's links in one insert). ``insert`` stores the row and returns the ticket with its
    id: at once by default; the pipeline's batch numbers it now and writes it with the batch's others.
    """
    if priority not in PRIORITIES:
        raise InvalidInputError(f"unknown priority {priority!r} (allowed: {', '.join(PRIORITIES)})")
    check_assignee(session, assignee, "tickets")
    now = now or utcnow()
    first_due, resolution_due = sla_due(sla, priority, now)
    values = {
        "status": "new",
        "priority": priority,
        "team": team,
        "assignee": assignee,
        "rule": rule,
        "subject": subject[:512],
        "customer_id": customer_id,
        "thread_key": thread_key,
        "idempotency_key": idempotency_key,
        "follow_up_of_id": follow_up_of_id,
        "created_at": now,
        "updated_at": now,
        "first_response_due": first_due,
        "resolution_due": resolution_due,
    }
    ticket = insert(session, Ticket, values)
    audit.record(
        session,
        actor,
        "ticket.create",
        "ticket",
        ticket.id,
        {"priority": priority, "team": team, "rule": rule, "mention_id": mention_id, "follows": follow_up_of_id},
    )
    if follow_up_of_id is not None:
        audit.record(session, actor, "ticket.follow_up", "ticket", follow_up_of_id, {"follow_up": ticket.id})
    if mention_id is not None and attach:
        attach_mention(session, ticket, mention_id, actor=actor, now=now)
    return ticket


def attach_mention(
    session: Session, ticket: Ticket, mention_id: int, *, actor: str = DAEMON, now: datetime | None = None
) -> bool:
    """Add a mention to a ticket; False when it was already there."""
    assert ticket.id is not None
    if session.get(TicketMention, (ticket.id, mention_id)) is not None:
        return False
    now = now or utcnow()
    session.add(TicketMention(ticket_id=ticket.id, mention_id=mention_id, added_at=now))
    ticket.updated_at = now
    session.add(ticket)
    session.flush()
    audit.record(session, actor, "ticket.mention_added", "ticket", ticket.id, {"mention_id": mention_id})
    return True


def _mark_first_response(ticket: Ticket, actor: str, now: datetime) -> None:
    if actor != DAEMON and ticket.first_response_at is None:
        ticket.first_response_at = now


def transition(session: Session, ticket_id: int, status: str, *, actor: str, now: datetime | None = None) -> Ticket:
    """Move a ticket to ``status``; raise ConflictError when that step is not allowed.

    Moving a resolved or closed ticket back to open is a reopen (see ``reopen``).
    """
    ticket = get_ticket(session, ticket_id)
    if status not in TICKET_STATUSES:
        raise InvalidInputError(f"unknown status {status!r} (allowed: {', '.join(TRANSITIONS)})")
    if status == ticket.status:
        return ticket
    allowed = TRANSITIONS[ticket.status]
    if status not in allowed:
        raise ConflictError(f"ticket {ticket_id} is {ticket.status}; it can move to: {', '.join(allowed)}")
    if ticket.status in REOPENABLE and status == "open":
        return reopen(session, ticket_id, actor=actor, now=now)
    now = now or utcnow()
    old = ticket.status
    ticket.status = status
    ticket.updated_at = now
    _mark_first_response(ticket, actor, now)
    if status == "resolved":
        ticket.resolved_at = now
    elif status == "closed":
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    session.add(ticket)
    audit.record(session, actor, "ticket.status", "ticket", ticket.id, {"from": old, "to": status})
    return ticket


def reopen(
    session: Session,
    ticket_id: int,
    *,
    actor: str,
    mention_id: int | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Reopen a resolved or closed ticket (by an agent, or by a new complaint ``mention_id`` in its thread).

    Its resolution and close times are cleared; its due times stay, so the SLA figures stay true. A
    ticket merged into another cannot be reopened: the message names the one to reopen instead.
    """
    ticket = get_ticket(session, ticket_id)
    if ticket.merged_into_id is not None:
        raise ConflictError(f"ticket {ticket_id} was merged into ticket {ticket.merged_into_id}; reopen that one")
    if ticket.status not in REOPENABLE:
        raise ConflictError(f"ticket {ticket_id} is {ticket.status}; only resolved or closed tickets are reopened")
    now = now or utcnow()
    old = ticket.status
    ticket.status = "open"
    ticket.resolved_at = None
    ticket.closed_at = None
    ticket.updated_at = now
    _mark_first_response(ticket, actor, now)
    session.add(ticket)
    detail: dict[str, object] = {"from": old, "to": "open"}
    if mention_id is not None:
        detail["mention_id"] = mention_id
    audit.record(session, actor, "ticket.reopen", "ticket", ticket.id, detail)
    return ticket


def assign(session: Session, ticket_id: int, assignee: str | None, *, actor: str, team: str | None = None) -> Ticket:
    """Give the ticket to a person who works tickets (None to unassign) and optionally move it to ``team``."""
    check_assignee(session, assignee, "tickets")
    ticket = get_ticket(session, ticket_id)
    detail = {"from": ticket.assignee, "to": assignee}
    ticket.assignee = assignee
    if team is not None:
        detail["team_from"], detail["team_to"] = ticket.team, team
        ticket.team = team
    ticket.updated_at = utcnow()
    session.add(ticket)
    audit.record(session, actor, "ticket.assign", "ticket", ticket.id, detail)
    return ticket


def set_priority(
    session: Session,
    ticket_id: int,
    priority: str,
    *,
    actor: str,
    sla: Mapping[Priority, SlaTarget] | None = None,
) -> Ticket:
    """Change the priority; due times are recomputed from the ticket's creation time."""
    if priority not in PRIORITIES:
        raise InvalidInputError(f"unknown priority {priority!r} (allowed: {', '.join(PRIORITIES)})")
    ticket = get_ticket(session, ticket_id)
    if ticket.priority == priority:
        return ticket
    old = ticket.priority
    ticket.priority = priority
    ticket.first_response_due, ticket.resolution_due = sla_due(sla, priority, ticket.created_at)
    ticket.updated_at = utcnow()
    session.add(ticket)
    audit.record(session, actor, "ticket.priority", "ticket", ticket.id, {"from": old, "to": priority})
    return ticket


def add_note(session: Session, ticket_id: int, text: str, *, actor: str, now: datetime | None = None) -> TicketNote:
    """Add an agent's note; a note by a person counts as the first response."""
    if not text.strip():
        raise InvalidInputError("a note needs text")
    ticket = get_ticket(session, ticket_id)
    now = now or utcnow()
    note = TicketNote(ticket_id=ticket_id, author=actor, text=text.strip(), created_at=now)
    session.add(note)
    _mark_first_response(ticket, actor, now)
    ticket.updated_at = now
    session.add(ticket)
    session.flush()
    audit.record(session, actor, "ticket.note", "ticket", ticket_id, {"note_id": note.id})
    return note


def record_response(session: Session, mention_id: int, *, actor: str, now: datetime | None = None) -> list[Ticket]:
    """A person replied to ``mention_id``: tickets holding it get their first response time."""
    now = now or utcnow()
    tickets = list(
        session.exec(
            select(Ticket)
            .join(TicketMention, col(TicketMention.ticket_id) == col(Ticket.id))
            .where(TicketMention.mention_id == mention_id)
        )
    )
    for ticket in tickets:
        if ticket.first_response_at is None and actor != DAEMON:
            ticket.first_response_at = now
            session.add(ticket)
            audit.record(session, actor, "ticket.first_response", "ticket", ticket.id, {"mention_id": mention_id})
    return tickets


def list_tickets(
    session: Session,
    *,
    status: str | tuple[str, ...] | None = OPEN_TICKET_STATUSES,
    team: str | None = None,
    assignee: str | None = None,
    customer_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Ticket]:
    """Tickets, most urgent due time first; ``status=None`` lists every status."""
    statement = select(Ticket).where(col(Ticket.merged_into_id).is_(None))
    if status is not None:
        statement = statement.where(col(Ticket.status).in_((status,) if isinstance(status, str) else status))
    if team is not None:
        statement = statement.where(Ticket.team == team)
    if assignee is not None:
        statement = statement.where(Ticket.assignee == assignee)
    if customer_id is not None:
        statement = statement.where(Ticket.customer_id == customer_id)
    statement = statement.order_by(col(Ticket.resolution_due).asc(), col(Ticket.id)).offset(offset).limit(limit)
    return list(session.exec(statement))


def breached(session: Session, now: datetime | None = None) -> list[tuple[Ticket, list[str]]]:
    """Active tickets past a due time, each with what was missed: ``first_response`` and/or ``resolution``."""
    now = now or utcnow()
    statement = (
        select(Ticket)
        .where(
            col(Ticket.status).in_(OPEN_TICKET_STATUSES),
            col(Ticket.merged_into_id).is_(None),
            or_(
                (col(Ticket.first_response_at).is_(None)) & (col(Ticket.first_response_due) < now),
                col(Ticket.resolution_due) < now,
            ),
        )
        .order_by(col(Ticket.resolution_due))
    )
    results = []
    for ticket in session.exec(statement):
        missed = []
        if ticket.first_response_at is None and ticket.first_response_due and ticket.first_response_due < now:
            missed.append("first_response")
        if ticket.resolution_due and ticket.resolution_due < now:
            missed.append("resolution")
        results.append((ticket, missed))
    return results


@dataclass
class TicketDetail:
    """A ticket with what an agent needs beside it."""

    ticket: Ticket
    mentions: list[Mention]
    notes: list[TicketNote]
    customer: Customer | None
    orders: list[Order]


def ticket_detail(session: Session, ticket_id: int) -> TicketDetail:
    """The ticket, its mentions (oldest first), notes, customer and the customer's orders (newest first)."""
    ticket = get_ticket(session, ticket_id)
    mentions = list(
        session.exec(
            select(Mention)
            .join(TicketMention, col(TicketMention.mention_id) == col(Mention.id))
            .where(TicketMention.ticket_id == ticket_id)
            .order_by(col(Mention.published_at))
        )
    )
    notes = list(session.exec(select(TicketNote).where(TicketNote.ticket_id == ticket_id).order_by(col(TicketNote.id))))
    customer = session.get(Customer, ticket.customer_id) if ticket.customer_id else None
    orders = (
        list(
            session.exec(
                select(Order)
                .where(Order.customer_id == customer.id)
                .order_by(col(Order.ordered_at).desc(), col(Order.id).desc())
            )
        )
        if customer
        else []
    )
    return TicketDetail(ticket, mentions, notes, customer, orders)
