"""The desk of a whole batch of new mentions: its keys, tickets and customers read in bulk, its rows written in bulk.

``BatchDesk`` answers what ``services/actions.py`` asks of a desk (``services/desk.py``) for every
mention of a batch: it reads the keys, tickets and customers of the batch with a few set-based
queries first, answers from memory, keeps what the batch's own actions change, and writes its rows in
one insert per table at the end. Tickets and drafts are made by their services (validation, SLA due
times, audit entries), numbered with the id their own insert would get (``db_rows.LaterRows``), and
written before the rows that refer to them or a service that changes one (``store_new``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from socialcrm.db_lists import among
from socialcrm.db_rows import LaterRows
from socialcrm.linking import CustomerCache
from socialcrm.models import (
    OPEN_TICKET_STATUSES,
    ActionKey,
    AuditEntry,
    Customer,
    Decision,
    Mention,
    Order,
    ReplyDraft,
    Ticket,
    TicketMention,
    table_of,
    unsaved,
)
from socialcrm.rules.facts import thread_key
from socialcrm.services import audit, drafts, tickets
from socialcrm.services.desk import ORDER_NUMBERS, DirectDesk

LOOKUP_CHUNK = 500


class BatchDesk:
    """The keys, tickets and customers of one batch of new mentions, read in bulk and kept current.

    ``prepare`` reads, for all mentions at once, the action keys the enabled rules could use, the
    tickets of their threads, the open tickets and (when asked) the orders of their customers. Look-ups
    outside what was read go to the database (and are kept). Writes of the batch's own actions update
    these caches, so a later mention sees an earlier one's ticket exactly as one by one would.
    ``write`` inserts the collected rows; call it before the session is used for anything else.
    """

    def __init__(self, session: Session, customers: CustomerCache) -> None:
        self.session = session
        self.customers = customers
        self._keys: dict[str, ActionKey | None] = {}
        self._threads: dict[str, list[Ticket]] = {}
        self._open_by_customer: dict[int, set[int]] = {}  # ids only: a customer may have thousands
        self._links: set[tuple[int, int]] = set()
        self._orders: dict[int, list[Order]] = {}
        self._fresh: set[int] = set()
        self._later = LaterRows(session, (Ticket, ReplyDraft))  # new tickets and drafts, written in this order
        self.key_rows: list[dict[str, Any]] = []
        self.link_rows: list[dict[str, Any]] = []
        self.decision_rows: list[dict[str, Any]] = []

    def draw_ids(self, *, tickets: int, drafts: int) -> None:
        """Draw the ids of up to this many new tickets and drafts ahead, in one statement (``LaterRows.draw``)."""
        self._later.draw({Ticket: tickets, ReplyDraft: drafts})

    # ---- reading in bulk -----------------------------------------------------------------------

    def prepare(
        self, mentions: Sequence[Mention], keys: Sequence[str], *, with_orders: bool, with_open_tickets: bool
    ) -> None:
        """Read what the batch's actions and facts will need; ``mentions`` are new (no decisions, no tickets).

        A customer's open tickets are read up front only ``with_open_tickets`` (a rule asks for them);
        else only when an action asks (``oldest_open_ticket``), for that customer.
        """
        self._fresh.update(m.id for m in mentions if m.id is not None)
        self._load_keys(keys)
        self._load_threads(sorted({thread_key(m) for m in mentions}))
        customer_ids = sorted({m.customer_id for m in mentions if m.customer_id is not None})
        self.customers.load(customer_ids)
        if with_open_tickets:
            self._load_open_tickets(customer_ids)
        if with_orders:
            self.load_orders(customer_ids)

    def _load_keys(self, keys: Sequence[str]) -> None:
        wanted = sorted({k for k in keys if k not in self._keys})
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            self._keys.update(dict.fromkeys(chunk))
            # Usually none is taken yet (new mentions): ask for the keys alone, load the few found as objects.
            column = table_of(ActionKey).c.key
            taken = list(
                self.session.connection().execute(select(column).where(among(self.session, column, chunk))).scalars()
            )
            if taken:
                for found in self.session.exec(select(ActionKey).where(among(self.session, ActionKey.key, taken))):
                    self._keys[found.key] = found

    def _load_threads(self, threads: list[str]) -> None:
        wanted = [t for t in threads if t not in self._threads]
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            for thread in chunk:
                self._threads[thread] = []
            statement = select(Ticket).where(
                among(self.session, Ticket.thread_key, chunk), col(Ticket.merged_into_id).is_(None)
            )
            for ticket in self.session.exec(statement.order_by(col(Ticket.id))):
                self._threads[ticket.thread_key or ""].append(ticket)
            for ticket in self._later.waiting(Ticket):  # numbered after every stored one
                if ticket.thread_key in chunk and ticket.merged_into_id is None:
                    self._threads[ticket.thread_key or ""].append(ticket)

    def _load_open_tickets(self, customer_ids: list[int]) -> None:
        wanted = [c for c in customer_ids if c not in self._open_by_customer]
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            for customer_id in chunk:
                self._open_by_customer[customer_id] = set()
            statement = select(Ticket.id, Ticket.customer_id).where(
                among(self.session, Ticket.customer_id, chunk), col(Ticket.status).in_(OPEN_TICKET_STATUSES)
            )
            for ticket_id, owner in self.session.exec(statement):
                assert ticket_id is not None and owner is not None
                self._open_by_customer[owner].add(ticket_id)
            for ticket in self._later.waiting(Ticket):
                if ticket.customer_id in chunk and ticket.status in OPEN_TICKET_STATUSES and ticket.id is not None:
                    self._open_by_customer[ticket.customer_id].add(ticket.id)

    def load_orders(self, customer_ids: Sequence[int]) -> None:
        """Read the orders of these customers (for ordered products and order numbers in replies)."""
        wanted = sorted({c for c in customer_ids if c not in self._orders})
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            for customer_id in chunk:
                self._orders[customer_id] = []
            for order in self.session.exec(select(Order).where(among(self.session, Order.customer_id, chunk))):
                self._orders[order.customer_id].append(order)

    # ---- what facts read ------------------------------------------------------------------------

    def open_ticket_ids(self, customer_id: int) -> tuple[int, ...]:
        """Ids of the customer's new/open/pending tickets, in id order (as ``build_facts`` reads them)."""
        self._load_open_tickets([customer_id])
        return tuple(sorted(self._open_by_customer[customer_id]))

    def product_lists(self, customer_id: int) -> list[list[str]]:
        """The product lists of the customer's orders."""
        self.load_orders([customer_id])
        return [order.products for order in self._orders[customer_id]]

    # ---- the Desk protocol ----------------------------------------------------------------------

    def action_key(self, key: str) -> ActionKey | None:
        """From the keys read for the batch (or the database, for a key no rule announced)."""
        if key not in self._keys:
            self._keys[key] = self.session.get(ActionKey, key)
        return self._keys[key]

    def remember(self, key: dict[str, Any]) -> None:
        """Kept for the insert at the end; later look-ups find it (a copy to read, built without ``__init__``)."""
        self._keys[key["key"]] = unsaved(ActionKey, key)
        self.key_rows.append(key)

    def find_open_ticket(self, thread: str, customer_id: int | None) -> Ticket | None:
        """The oldest open ticket of the thread and customer, from the thread's tickets."""
        self._load_threads([thread])
        found = [
            t
            for t in self._threads[thread]
            if t.status in OPEN_TICKET_STATUSES and t.merged_into_id is None and t.customer_id == customer_id
        ]
        return min(found, key=lambda t: t.id or 0) if found else None

    def latest_in_thread(self, thread: str, customer_id: int | None) -> Ticket | None:
        """The newest of the thread's tickets of this customer (those of the batch included)."""
        found = self.thread_tickets(thread, customer_id)
        return max(found, key=lambda t: t.id or 0) if found else None

    def thread_tickets(self, thread: str, customer_id: int | None) -> list[Ticket]:
        """Every ticket of the thread and customer that was not merged away, oldest first."""
        self._load_threads([thread])
        return [t for t in self._threads[thread] if t.customer_id == customer_id and t.merged_into_id is None]

    def ticket(self, ticket_id: int) -> Ticket | None:
        """A ticket opened in the batch and not written yet, else from the session (which holds those read)."""
        return self._later.get(Ticket, ticket_id) or self.session.get(Ticket, ticket_id)

    def ticket_ids_of(self, mention_id: int) -> list[int]:
        """The links made in this batch (a new mention was on no ticket before)."""
        found = [t for t, m in self._links if m == mention_id]
        if mention_id not in self._fresh:
            found += DirectDesk(self.session).ticket_ids_of(mention_id)
        return sorted(set(found))

    def attach_mention(self, ticket: Ticket, mention_id: int, *, actor: str, now: datetime) -> bool:
        """Link the mention to the ticket (written at the end), audited as the tickets service does."""
        assert ticket.id is not None
        if (ticket.id, mention_id) in self._links or (
            mention_id not in self._fresh and session_holds(self.session, ticket.id, mention_id)
        ):
            return False
        self._links.add((ticket.id, mention_id))
        self.link_rows.append({"ticket_id": ticket.id, "mention_id": mention_id, "added_at": now})
        ticket.updated_at = now
        if self._later.get(Ticket, ticket.id) is None:  # one not written yet is written as it then stands
            self.session.add(ticket)
        audit.record(self.session, actor, "ticket.mention_added", "ticket", ticket.id, {"mention_id": mention_id})
        return True

    def open_ticket(self, **fields: Any) -> Ticket:
        """Opened through the tickets service (one insert); its mention link is written with the batch's."""
        ticket = tickets.open_ticket(self.session, **{**fields, "attach": False, "insert": self._later.number})
        self.opened(ticket)
        mention_id = fields.get("mention_id")
        if mention_id is not None:
            self.attach_mention(ticket, mention_id, actor=fields.get("actor", audit.DAEMON), now=ticket.created_at)
        return ticket

    def opened(self, ticket: Ticket) -> None:
        """Put a new or changed ticket where later look-ups of the batch find it."""
        thread = ticket.thread_key or ""
        if thread in self._threads and not _holds_object(self._threads[thread], ticket):
            self._threads[thread].append(ticket)
        assert ticket.id is not None
        for customer_id, open_ids in self._open_by_customer.items():
            if ticket.status not in OPEN_TICKET_STATUSES or ticket.customer_id != customer_id:
                open_ids.discard(ticket.id)
        if ticket.customer_id in self._open_by_customer and ticket.status in OPEN_TICKET_STATUSES:
            self._open_by_customer[ticket.customer_id].add(ticket.id)

    def create_draft(self, **fields: Any) -> ReplyDraft:
        """Through the drafts service; numbered now, written with the batch's other new rows (``store_new``)."""
        return drafts.create_draft(self.session, **fields, insert=self._later.number)

    def store_new(self) -> None:
        """Write the tickets, then the drafts, made so far: one insert per table; they join the session."""
        self._later.write()

    def customer(self, customer_id: int | None) -> Customer | None:
        """From the customers of the batch."""
        return self.customers.get(customer_id)

    def order_numbers(self, customer_id: int) -> list[str]:
        """The newest ten, from the orders read for the batch."""
        return [order.order_number for order in self._newest_orders(customer_id)[:ORDER_NUMBERS]]

    def latest_order(self, customer_id: int) -> Order | None:
        """The newest, from the orders read for the batch."""
        newest = self._newest_orders(customer_id)
        return newest[0] if newest else None

    def _newest_orders(self, customer_id: int) -> list[Order]:
        """Newest first, as the SQL of ``DirectDesk`` sorts them (an order without a date last)."""
        self.load_orders([customer_id])
        return sorted(self._orders[customer_id], key=_order_age, reverse=True)

    def oldest_open_ticket(self, customer_id: int) -> Ticket | None:
        """The lowest of the customer's open ticket ids, read by id (merged tickets are closed)."""
        self._load_open_tickets([customer_id])
        for ticket_id in sorted(self._open_by_customer[customer_id]):
            ticket = self.ticket(ticket_id)
            if ticket is not None and ticket.merged_into_id is None and ticket.status in OPEN_TICKET_STATUSES:
                return ticket
        return None

    def has_decisions(self, mention_id: int) -> bool:
        """A new mention has none."""
        return mention_id not in self._fresh and DirectDesk(self.session).has_decisions(mention_id)

    def add_decision(self, values: dict[str, Any]) -> Decision:
        """Kept for the insert at the end; the Decision returned is a copy for the caller to read."""
        self.decision_rows.append(values)
        return unsaved(Decision, {"id": None, **values})

    @contextmanager
    def protect(self) -> Iterator[None]:
        """Rows collected by an action that fails are dropped (its services write after any template ran)."""
        sizes = (len(self.key_rows), len(self.link_rows))
        try:
            yield
        except Exception:
            del self.key_rows[sizes[0] :]
            del self.link_rows[sizes[1] :]
            raise

    def write(self, audit_rows: list[dict[str, Any]]) -> None:
        """Insert the new tickets and drafts, then the action keys, ticket links, decisions and ``audit_rows``.

        One insert per table, all of them one statement on PostgreSQL (``db_rows.insert_tables``): one
        round trip while the batch holds its person locks, where one per table took six. Unique action
        keys and idempotency keys hold as one by one: a key another writer took meanwhile fails the
        insert, and with it the batch.
        """
        collected = [self.key_rows, self.link_rows, self.decision_rows, audit_rows]
        tables = [table_of(model) for model in (ActionKey, TicketMention, Decision, AuditEntry)]
        self._later.write(then=list(zip(tables, collected, strict=True)))
        for rows in collected:
            rows.clear()


def _holds_object(items: list[Ticket], ticket: Ticket) -> bool:
    """True when this very object is in the list (models compare by value, which is slow and not meant)."""
    return any(item is ticket for item in items)


def session_holds(session: Session, ticket_id: int, mention_id: int) -> bool:
    """True when the database links the mention to the ticket."""
    return session.get(TicketMention, (ticket_id, mention_id)) is not None


def _order_age(order: Order) -> tuple[bool, Any, int]:
    return (order.ordered_at is not None, order.ordered_at, order.id or 0)
