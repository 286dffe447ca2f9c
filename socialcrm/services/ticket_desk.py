"""What agents do with tickets beyond one ticket's lifecycle: open one from a mention, add a mention, bulk changes.

A bulk change applies to each selected ticket on its own (a savepoint each): a ticket that cannot
take the change (a merged ticket cannot be reopened, a new one cannot go back to new) is reported
with the reason and the others are changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from socialcrm.config import SlaTarget
from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError, SocialCRMError
from socialcrm.models import (
    OPEN_TICKET_STATUSES,
    PRIORITIES,
    TICKET_STATUSES,
    Mention,
    Priority,
    Ticket,
    TicketMention,
    TicketStatus,
    utcnow,
)
from socialcrm.services import tickets
from socialcrm.services.assignees import check_assignee
from socialcrm.threads import thread_key

MAX_BULK = 500
SUBJECT_CHARS = 200


def get_mention(session: Session, mention_id: int) -> Mention:
    """The mention with this id; NotFoundError when there is none."""
    mention = session.get(Mention, mention_id)
    if mention is None:
        raise NotFoundError(f"no mention with id {mention_id}")
    return mention


def mention_subject(mention: Mention) -> str:
    """A ticket subject from a post: its title, else its first line, else who posted where."""
    lines = (mention.title or mention.text or "").strip().splitlines()
    first = lines[0].strip() if lines else ""
    return first[:SUBJECT_CHARS] or f"{mention.source_type} post by {mention.author or 'unknown'}"


def open_tickets_of(session: Session, mention_id: int) -> list[Ticket]:
    """The active (new, open, pending) tickets that already hold this mention."""
    return list(
        session.exec(
            select(Ticket)
            .join(TicketMention, col(TicketMention.ticket_id) == col(Ticket.id))
            .where(
                TicketMention.mention_id == mention_id,
                col(Ticket.status).in_(OPEN_TICKET_STATUSES),
                col(Ticket.merged_into_id).is_(None),
            )
            .order_by(col(Ticket.id))
        )
    )


def ticket_from_mention(
    session: Session,
    mention_id: int,
    *,
    actor: str,
    subject: str | None = None,
    priority: str = "normal",
    assignee: str | None = None,
    team: str | None = None,
    sla: Mapping[Priority, SlaTarget] | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Open a ticket for a mention by hand: its thread and customer, the mention attached.

    A mention already on an active ticket is refused (the message names the ticket), so one post
    never has two tickets being worked at once.
    """
    mention = get_mention(session, mention_id)
    held = open_tickets_of(session, mention_id)
    if held:
        raise ConflictError(f"mention {mention_id} is already on ticket {held[0].id}; work it there")
    text = (subject or "").strip() or mention_subject(mention)
    return tickets.open_ticket(
        session,
        subject=text,
        priority=priority,
        team=team,
        assignee=assignee,
        customer_id=mention.customer_id,
        thread_key=thread_key(mention.source, mention.thread_id or mention.external_id),
        mention_id=mention_id,
        sla=sla,
        actor=actor,
        now=now,
    )


def add_mention(session: Session, ticket_id: int, mention_id: int, *, actor: str) -> bool:
    """Add a mention to an existing ticket (not one merged away); False when it was already there."""
    ticket = tickets.get_ticket(session, ticket_id)
    if ticket.merged_into_id is not None:
        raise ConflictError(f"ticket {ticket_id} was merged into ticket {ticket.merged_into_id}; add it there")
    get_mention(session, mention_id)
    return tickets.attach_mention(session, ticket, mention_id, actor=actor)


@dataclass(frozen=True)
class BulkChange:
    """What to do to every selected ticket; ``assign`` says whether ``assignee`` (None: unassign) applies."""

    status: TicketStatus | None = None
    priority: Priority | None = None
    assign: bool = False
    assignee: str | None = None

    def is_empty(self) -> bool:
        """True when the change would do nothing."""
        return self.status is None and self.priority is None and not self.assign


@dataclass
class BulkResult:
    """Which tickets were changed, and why the others were not."""

    changed: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)


def bulk_change(
    session: Session,
    ticket_ids: Sequence[int],
    change: BulkChange,
    *,
    actor: str,
    sla: Mapping[Priority, SlaTarget] | None = None,
) -> BulkResult:
    """Apply ``change`` to each ticket, each in its own savepoint; report the ones that could not take it."""
    if change.is_empty():
        raise InvalidInputError("choose a change: status, priority or assignee")
    if not ticket_ids:
        raise InvalidInputError("select at least one ticket")
    if len(ticket_ids) > MAX_BULK:
        raise InvalidInputError(f"select at most {MAX_BULK} tickets at once (got {len(ticket_ids)})")
    if change.status is not None and change.status not in TICKET_STATUSES:
        raise InvalidInputError(f"unknown status {change.status!r} (allowed: {', '.join(TICKET_STATUSES)})")
    if change.priority is not None and change.priority not in PRIORITIES:
        raise InvalidInputError(f"unknown priority {change.priority!r} (allowed: {', '.join(PRIORITIES)})")
    if change.assign:
        check_assignee(session, change.assignee, "tickets")
    result = BulkResult()
    now = utcnow()
    for ticket_id in dict.fromkeys(ticket_ids):  # each once, in the order given
        try:
            with session.begin_nested():
                _change_one(session, ticket_id, change, actor, sla, now)
        except SocialCRMError as err:
            result.refused[ticket_id] = str(err)
        else:
            result.changed.append(ticket_id)
    return result


def _change_one(
    session: Session,
    ticket_id: int,
    change: BulkChange,
    actor: str,
    sla: Mapping[Priority, SlaTarget] | None,
    now: datetime,
) -> None:
    ticket = tickets.get_ticket(session, ticket_id)
    if ticket.merged_into_id is not None:
        raise ConflictError(f"ticket {ticket_id} was merged into ticket {ticket.merged_into_id}")
    if change.assign and ticket.assignee != change.assignee:
        tickets.assign(session, ticket_id, change.assignee, actor=actor)
    if change.priority is not None:
        tickets.set_priority(session, ticket_id, change.priority, actor=actor, sla=sla)
    if change.status is not None:
        tickets.transition(session, ticket_id, change.status, actor=actor, now=now)
