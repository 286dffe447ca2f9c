"""Merging duplicate tickets: both must belong to one customer, or a person confirms having seen both names.

The duplicate's mentions and notes move to the ticket it is merged into; the duplicate closes with
``merged_into_id`` set and stays closed. Merging a ticket into itself is refused with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from socialcrm.errors import ConflictError, InvalidInputError
from socialcrm.models import Customer, Ticket, TicketMention, TicketNote, utcnow
from socialcrm.services import audit
from socialcrm.services.tickets import attach_mention, get_ticket


def customer_label(customer: Customer | None) -> str:
    """How a ticket's customer is named in a message: name and number, or "no customer"."""
    if customer is None:
        return "no customer"
    name = customer.name or customer.company
    return f"{name} ({customer.customer_ref})" if name else customer.customer_ref


@dataclass(frozen=True)
class MergePlan:
    """Two tickets about to be merged, and whether they belong to the same customer."""

    duplicate: Ticket
    target: Ticket
    duplicate_customer: Customer | None
    target_customer: Customer | None

    @property
    def same_customer(self) -> bool:
        """True when both tickets have the same customer (or both none)."""
        return self.duplicate.customer_id == self.target.customer_id

    def mismatch(self) -> str:
        """The sentence that names both customers, for the confirmation and the refusal."""
        return (
            f"ticket {self.duplicate.id} belongs to {customer_label(self.duplicate_customer)}, "
            f"ticket {self.target.id} to {customer_label(self.target_customer)}"
        )


def plan_merge(session: Session, duplicate_id: int, into_id: int) -> MergePlan:
    """Check that ``duplicate_id`` can be merged into ``into_id``; say why not (InvalidInputError, ConflictError)."""
    if duplicate_id == into_id:
        raise InvalidInputError(f"ticket {into_id} cannot be merged into itself; name another ticket")
    duplicate = get_ticket(session, duplicate_id)
    target = get_ticket(session, into_id)
    if duplicate.merged_into_id is not None:
        raise ConflictError(f"ticket {duplicate_id} was already merged into ticket {duplicate.merged_into_id}")
    if target.merged_into_id is not None or target.status == "closed":
        raise ConflictError(f"ticket {into_id} is closed or merged; merge into an active ticket")
    return MergePlan(
        duplicate,
        target,
        session.get(Customer, duplicate.customer_id) if duplicate.customer_id else None,
        session.get(Customer, target.customer_id) if target.customer_id else None,
    )


def merge_tickets(
    session: Session, duplicate_id: int, into_id: int, *, actor: str, other_customer: bool = False
) -> Ticket:
    """Fold a duplicate ticket into another: its mentions and notes move, the duplicate closes.

    Tickets of two different customers merge only with ``other_customer=True`` (a person confirmed
    it, having seen both names); otherwise ConflictError names both customers.
    """
    plan = plan_merge(session, duplicate_id, into_id)
    if not plan.same_customer and not other_customer:
        raise ConflictError(f"{plan.mismatch()}; confirm to merge tickets of different customers")
    duplicate, target = plan.duplicate, plan.target
    now = utcnow()
    for link in session.exec(select(TicketMention).where(TicketMention.ticket_id == duplicate_id)).all():
        attach_mention(session, target, link.mention_id, actor=actor, now=now)
        session.delete(link)
    for note in session.exec(select(TicketNote).where(TicketNote.ticket_id == duplicate_id)).all():
        note.ticket_id = into_id
        session.add(note)
    duplicate.merged_into_id = into_id
    duplicate.status = "closed"
    duplicate.closed_at = now
    duplicate.updated_at = now
    session.add(duplicate)
    audit.record(
        session,
        actor,
        "ticket.merge",
        "ticket",
        duplicate_id,
        {"into": into_id, **({"customers_differ": True} if not plan.same_customer else {})},
    )
    audit.record(session, actor, "ticket.merged_from", "ticket", into_id, {"from": duplicate_id})
    return target
