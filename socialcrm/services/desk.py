"""Where actions look things up and write: the ``Desk`` they ask, and ``DirectDesk``, straight to the database.

``services/actions.py`` decides what an action does (join the thread's ticket, open one, draft a
reply, ...) and asks a desk for what it needs: an action key, the thread's open ticket, the tickets
a mention is on. ``DirectDesk`` asks the database each time (one mention at a time: the web app,
``rules test``, the per-mention fallback). ``services/batch_desk.py``'s ``BatchDesk`` serves a whole
batch of new mentions from caches it reads in bulk, and writes its rows in one insert per table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session, col, select

from socialcrm.models import (
    OPEN_TICKET_STATUSES,
    ActionKey,
    Customer,
    Decision,
    Order,
    ReplyDraft,
    Ticket,
    TicketMention,
)
from socialcrm.services import drafts, tickets

ORDER_NUMBERS = 10  # the newest order numbers an action sees of a customer


class Desk(Protocol):
    """What actions read and write besides the services that own tickets, drafts and customers."""

    def action_key(self, key: str) -> ActionKey | None:
        """The action already taken under ``key``, if any."""
        ...

    def remember(self, key: dict[str, Any]) -> None:
        """Store a newly taken action key (``key``: every field of its ActionKey)."""
        ...

    def find_open_ticket(self, thread: str, customer_id: int | None) -> Ticket | None:
        """The oldest new/open/pending ticket of this thread and customer."""
        ...

    def latest_in_thread(self, thread: str, customer_id: int | None) -> Ticket | None:
        """The newest ticket of this thread and customer, whatever its status (merged ones left out)."""
        ...

    def ticket(self, ticket_id: int) -> Ticket | None:
        """The ticket with this id."""
        ...

    def ticket_ids_of(self, mention_id: int) -> list[int]:
        """The tickets the mention is on."""
        ...

    def attach_mention(self, ticket: Ticket, mention_id: int, *, actor: str, now: datetime) -> bool:
        """Put the mention on the ticket; False when it was already there."""
        ...

    def open_ticket(self, **fields: Any) -> Ticket:
        """Open a ticket through the tickets service (``tickets.open_ticket``'s arguments) with its mention on it."""
        ...

    def opened(self, ticket: Ticket) -> None:
        """A ticket's status changed outside ``open_ticket``: later look-ups must see it."""
        ...

    def create_draft(self, **fields: Any) -> ReplyDraft:
        """Write a reply draft through the drafts service (``drafts.create_draft``'s arguments)."""
        ...

    def store_new(self) -> None:
        """Write the tickets and drafts made so far, before a service changes or reads one in the database."""
        ...

    def customer(self, customer_id: int | None) -> Customer | None:
        """The customer with this id."""
        ...

    def order_numbers(self, customer_id: int) -> list[str]:
        """The customer's newest order numbers (at most ten), newest first."""
        ...

    def latest_order(self, customer_id: int) -> Order | None:
        """The customer's newest order."""
        ...

    def oldest_open_ticket(self, customer_id: int) -> Ticket | None:
        """The customer's oldest new/open/pending ticket, in any thread."""
        ...

    def has_decisions(self, mention_id: int) -> bool:
        """True when the rules already acted on this mention."""
        ...

    def add_decision(self, values: dict[str, Any]) -> Decision:
        """Store one rule's verdict on a mention (``values``: the Decision's fields but its id)."""
        ...

    def protect(self) -> Any:
        """A context in which one action runs, so a failing action leaves nothing half done."""
        ...


class DirectDesk:
    """Every look-up and write goes straight to the database (one mention at a time)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def action_key(self, key: str) -> ActionKey | None:
        """The stored key."""
        return self.session.get(ActionKey, key)

    def remember(self, key: dict[str, Any]) -> None:
        """Add the key now (a later action of the same mention must find it)."""
        self.session.add(ActionKey(**key))
        self.session.flush()

    def find_open_ticket(self, thread: str, customer_id: int | None) -> Ticket | None:
        """Asked of the tickets service."""
        return tickets.find_open_ticket(self.session, thread, customer_id)

    def latest_in_thread(self, thread: str, customer_id: int | None) -> Ticket | None:
        """Asked of the tickets service."""
        return tickets.latest_in_thread(self.session, thread, customer_id)

    def ticket(self, ticket_id: int) -> Ticket | None:
        """The stored ticket."""
        return self.session.get(Ticket, ticket_id)

    def ticket_ids_of(self, mention_id: int) -> list[int]:
        """The stored ticket links of the mention."""
        return list(self.session.exec(select(TicketMention.ticket_id).where(TicketMention.mention_id == mention_id)))

    def attach_mention(self, ticket: Ticket, mention_id: int, *, actor: str, now: datetime) -> bool:
        """Through the tickets service."""
        return tickets.attach_mention(self.session, ticket, mention_id, actor=actor, now=now)

    def open_ticket(self, **fields: Any) -> Ticket:
        """Through the tickets service, which links the mention."""
        return tickets.open_ticket(self.session, **fields)

    def opened(self, ticket: Ticket) -> None:
        """Nothing to remember: the database answers every look-up."""

    def create_draft(self, **fields: Any) -> ReplyDraft:
        """Through the drafts service, stored at once."""
        return drafts.create_draft(self.session, **fields)

    def store_new(self) -> None:
        """Nothing waits: every ticket and draft was stored when it was made."""

    def customer(self, customer_id: int | None) -> Customer | None:
        """The stored customer."""
        return self.session.get(Customer, customer_id) if customer_id is not None else None

    def order_numbers(self, customer_id: int) -> list[str]:
        """Read from the orders."""
        return list(
            self.session.exec(
                select(Order.order_number)
                .where(Order.customer_id == customer_id)
                .order_by(col(Order.ordered_at).desc(), col(Order.id).desc())
                .limit(ORDER_NUMBERS)
            )
        )

    def latest_order(self, customer_id: int) -> Order | None:
        """Read from the orders."""
        return self.session.exec(
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(col(Order.ordered_at).desc(), col(Order.id).desc())
            .limit(1)
        ).first()

    def oldest_open_ticket(self, customer_id: int) -> Ticket | None:
        """Read from the tickets."""
        return self.session.exec(
            select(Ticket)
            .where(
                Ticket.customer_id == customer_id,
                col(Ticket.status).in_(OPEN_TICKET_STATUSES),
                col(Ticket.merged_into_id).is_(None),
            )
            .order_by(col(Ticket.id))
            .limit(1)
        ).first()

    def has_decisions(self, mention_id: int) -> bool:
        """Asked of the decisions table."""
        return self.session.exec(select(Decision.id).where(Decision.mention_id == mention_id)).first() is not None

    def add_decision(self, values: dict[str, Any]) -> Decision:
        """Added to the session (flushed with the mention's other work)."""
        decision = Decision(**values)
        self.session.add(decision)
        return decision

    def protect(self) -> Any:
        """A savepoint: a failing action rolls back what it had done."""
        return self.session.begin_nested()
