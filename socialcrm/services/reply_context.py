"""What a reply template or saved reply may say about a post: the author, the customer and their CRM data.

One builder for rules' drafts and for the composer, so ``{{ order_number }}`` means the same in both.
Values that are not known here are ``Missing`` (empty, and named), so a template closes the gap and
the composer can say which values it lacked. Prospects (authors we only saw online) have no customer
data: their name falls back to the author's display name.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from socialcrm.models import Mention, User
from socialcrm.rules.facts import thread_key
from socialcrm.rules.templates import Missing, OrderStatus
from socialcrm.services.desk import Desk, DirectDesk


def _value(name: str, value: object) -> Any:
    """``value``, or a Missing standing for ``name`` when there is nothing to say."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Missing(name)
    return value


def agent_name(session: Session, username: str | None) -> str | None:
    """How a person signs a reply: their display name, else their username."""
    if not username:
        return None
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        return username
    return user.display_name or user.username


def template_context(
    session: Session,
    mention: Mention,
    *,
    rule: str | None = None,
    agent: str | None = None,
    desk: Desk | None = None,
) -> dict[str, Any]:
    """The variables a template sees for ``mention`` (see templates.TEMPLATE_VARIABLES); ``agent`` is a username.

    ``desk`` answers the look-ups (the customer, their orders, the open ticket): the database by
    default, a batch's caches when the pipeline drafts replies for a whole batch.
    """
    desk = desk or DirectDesk(session)
    customer = desk.customer(mention.customer_id) if mention.customer_id else None
    known = customer if customer is not None and not customer.is_prospect else None
    known_id = known.id if known is not None else None
    order = desk.latest_order(known_id) if known_id is not None else None
    # This thread's open ticket, else the customer's oldest open one.
    ticket = desk.find_open_ticket(thread_key(mention), mention.customer_id)
    if ticket is None and known_id is not None:
        ticket = desk.oldest_open_ticket(known_id)
    author_name = mention.author_name or mention.author
    ticket_id = str(ticket.id) if ticket is not None else None
    return {
        "author": _value("author", mention.author),
        "author_name": _value("author_name", author_name),
        "customer_name": _value("customer_name", known.name if known is not None and known.name else author_name),
        "customer": {
            "name": _value("customer.name", known.name if known else None),
            "company": _value("customer.company", known.company if known else None),
            "customer_ref": _value("customer.customer_ref", known.customer_ref if known else None),
            "segment": _value("customer.segment", known.segment if known else None),
            "tags": list(known.tags) if known else [],
        },
        "title": _value("title", mention.title),
        "text": _value("text", mention.text),
        "url": _value("url", mention.url),
        "source": mention.source,
        "source_type": mention.source_type,
        "language": _value("language", mention.language),
        "sentiment": _value("sentiment", mention.sentiment),
        "rule": _value("rule", rule),
        "ticket_id": _value("ticket_id", ticket_id),
        "order_numbers": desk.order_numbers(known_id) if known_id is not None else [],
        "order_number": _value("order_number", order.order_number if order else None),
        "order_product": _value("order_product", ", ".join(order.products) if order else None),
        "order_date": _value("order_date", order.ordered_at if order else None),
        "order_status": _value("order_status", OrderStatus(order.status) if order and order.status else None),
        "ticket_number": _value("ticket_number", ticket_id),
        "agent_name": _value("agent_name", agent_name(session, agent)),
    }
