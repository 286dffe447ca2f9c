"""Customers: lookup, the 360 view, edits, notes, listing and the ``export customers`` rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from socialcrm.errors import InvalidInputError, NotFoundError
from socialcrm.linking.normalize import normalize_email, normalize_phone
from socialcrm.models import (
    ContactPoint,
    Customer,
    CustomerNote,
    Identity,
    Mention,
    Order,
    ReplyDraft,
    Ticket,
    utcnow,
)
from socialcrm.services import audit
from socialcrm.services.timeline import TimelineEvent, timeline

T = TypeVar("T")

EDITABLE_FIELDS = ("name", "company", "segment", "tags", "consent_marketing", "consent_contact")
PAGE = 1000


def get_customer(session: Session, customer_id: int) -> Customer:
    """The customer with this id; NotFoundError when there is none."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError(f"no customer with id {customer_id}")
    return customer


def find_by_ref(session: Session, customer_ref: str) -> Customer:
    """The customer with this customer_ref (exact match first, then ignoring case)."""
    customer = session.exec(select(Customer).where(Customer.customer_ref == customer_ref)).first()
    if customer is None:
        customer = session.exec(
            select(Customer).where(func.lower(Customer.customer_ref) == customer_ref.lower())
        ).first()
    if customer is None:
        raise NotFoundError(f"no customer with customer_ref {customer_ref!r}")
    return customer


def contact_points(session: Session, customer_id: int) -> list[ContactPoint]:
    """The customer's e-mail addresses and phone numbers."""
    return list(
        session.exec(
            select(ContactPoint)
            .where(ContactPoint.customer_id == customer_id)
            .order_by(col(ContactPoint.kind), col(ContactPoint.id))
        )
    )


def add_contact(session: Session, customer_id: int, kind: str, value: str, *, actor: str) -> ContactPoint | None:
    """Add an e-mail or phone (normalised); None when the customer already has it; InvalidInputError when invalid."""
    normal = normalize_email(value) if kind == "email" else normalize_phone(value) if kind == "phone" else None
    if normal is None:
        what = "e-mail address" if kind == "email" else "phone number"
        raise InvalidInputError(f"{kind}: {value!r} is not a valid {what}")
    exists = session.exec(
        select(ContactPoint).where(
            ContactPoint.customer_id == customer_id, ContactPoint.kind == kind, ContactPoint.value == normal
        )
    ).first()
    if exists is not None:
        return None
    point = ContactPoint(customer_id=customer_id, kind=kind, value=normal)
    session.add(point)
    session.flush()
    audit.record(session, actor, "customer.contact_add", "customer", customer_id, {"kind": kind})
    return point


def update_customer(session: Session, customer_id: int, *, actor: str, **changes: Any) -> Customer:
    """Change editable fields (name, company, segment, tags, consent_marketing, consent_contact)."""
    customer = get_customer(session, customer_id)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise InvalidInputError(f"cannot edit {', '.join(sorted(unknown))} (editable: {', '.join(EDITABLE_FIELDS)})")
    diff = {}
    for key, value in changes.items():
        if key == "tags":
            value = [str(t).strip() for t in value if str(t).strip()]
        if getattr(customer, key) != value:
            diff[key] = {"from": getattr(customer, key), "to": value}
            setattr(customer, key, value)
    if diff:
        customer.updated_at = utcnow()
        session.add(customer)
        audit.record(session, actor, "customer.update", "customer", customer_id, diff)
    return customer


def add_tags(
    session: Session,
    customer: Customer,
    tags: Sequence[str],
    *,
    actor: str,
    now: datetime,
    detail: Mapping[str, Any] | None = None,
) -> list[str]:
    """Give the customer the ``tags`` it lacks (audited with ``detail``); return the ones added."""
    added = [tag for tag in tags if tag not in customer.tags]
    if added:
        customer.tags = [*customer.tags, *added]
        customer.updated_at = now
        session.add(customer)
        audit.record(session, actor, "customer.tag", "customer", customer.id, {"added": added, **(detail or {})})
    return added


def add_note(session: Session, customer_id: int, text: str, *, actor: str) -> CustomerNote:
    """A note on the customer's timeline."""
    if not text.strip():
        raise InvalidInputError("a note needs text")
    get_customer(session, customer_id)
    note = CustomerNote(customer_id=customer_id, author=actor, text=text.strip(), created_at=utcnow())
    session.add(note)
    session.flush()
    audit.record(session, actor, "customer.note", "customer", customer_id, {"note_id": note.id})
    return note


def search_condition(search: str) -> ColumnElement[bool]:
    """Customers whose name, company, customer_ref, e-mail, phone or a handle contains ``search`` (any case)."""
    # % and _ typed in the search box are literal characters, not wildcards.
    literal = search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    needle = f"%{literal}%"
    by_contact = select(ContactPoint.customer_id).where(func.lower(ContactPoint.value).like(needle, escape="\\"))
    by_handle = select(Identity.customer_id).where(func.lower(Identity.handle).like(needle, escape="\\"))
    return or_(
        func.lower(Customer.name).like(needle, escape="\\"),
        func.lower(Customer.company).like(needle, escape="\\"),
        func.lower(Customer.customer_ref).like(needle, escape="\\"),
        col(Customer.id).in_(by_contact),
        col(Customer.id).in_(by_handle),
    )


def list_customers(
    session: Session,
    *,
    search: str | None = None,
    include_prospects: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[Customer]:
    """Active customers by name; ``search`` matches name, company, customer_ref, e-mail or a handle."""
    statement = select(Customer).where(col(Customer.merged_into_id).is_(None))
    if not include_prospects:
        statement = statement.where(col(Customer.is_prospect).is_(False))
    if search and search.strip():
        statement = statement.where(search_condition(search))
    statement = statement.order_by(func.lower(Customer.name), col(Customer.id)).offset(offset).limit(limit)
    return list(session.exec(statement))


@dataclass
class CustomerView:
    """Everything the 360 page shows about one customer."""

    customer: Customer
    emails: list[str]
    phones: list[str]
    identities: list[Identity]
    orders: list[Order]
    tickets: list[Ticket]
    drafts: list[ReplyDraft]
    mentions: list[Mention]
    notes: list[CustomerNote]
    timeline: list[TimelineEvent]
    merged_from: list[Customer] = field(default_factory=list)
    sentiment_counts: dict[str, int] = field(default_factory=dict)


def customer_view(session: Session, customer_id: int, *, limit: int = 50) -> CustomerView:
    """The 360 view: contacts, identities, orders, tickets, drafts, recent mentions, notes and timeline.

    A merged record redirects to the record it was merged into.
    """
    customer = _surviving_record(session, customer_id)
    cid = customer.id
    assert cid is not None
    points = contact_points(session, cid)
    return CustomerView(
        customer=customer,
        emails=[p.value for p in points if p.kind == "email"],
        phones=[p.value for p in points if p.kind == "phone"],
        identities=_rows(session, select(Identity).where(Identity.customer_id == cid), col(Identity.platform)),
        orders=_rows(
            session,
            select(Order).where(Order.customer_id == cid),
            col(Order.ordered_at).desc(),
            col(Order.id).desc(),
        ),
        tickets=_rows(session, select(Ticket).where(Ticket.customer_id == cid), col(Ticket.id).desc(), limit=limit),
        drafts=_rows(
            session, select(ReplyDraft).where(ReplyDraft.customer_id == cid), col(ReplyDraft.id).desc(), limit=limit
        ),
        mentions=_rows(
            session, select(Mention).where(Mention.customer_id == cid), col(Mention.published_at).desc(), limit=limit
        ),
        notes=_rows(session, select(CustomerNote).where(CustomerNote.customer_id == cid), col(CustomerNote.id).desc()),
        timeline=timeline(session, cid, limit=limit * 2),
        merged_from=list(session.exec(select(Customer).where(Customer.merged_into_id == cid))),
        sentiment_counts=_sentiment_counts(session, cid),
    )


def _surviving_record(session: Session, customer_id: int) -> Customer:
    """The customer, or the record it was merged into (following a chain of merges, never a loop)."""
    customer = get_customer(session, customer_id)
    seen = {customer_id}
    while customer.merged_into_id is not None and customer.merged_into_id not in seen:
        seen.add(customer.merged_into_id)
        customer = get_customer(session, customer.merged_into_id)
    return customer


def _rows(session: Session, statement: SelectOfScalar[T], *order: Any, limit: int | None = None) -> list[T]:
    """The rows of ``statement`` in ``order``, at most ``limit`` of them."""
    return list(session.exec(statement.order_by(*order).limit(limit)))


def _sentiment_counts(session: Session, customer_id: int) -> dict[str, int]:
    """How many of the customer's mentions are negative, neutral and positive (unscored ones left out)."""
    rows = session.exec(
        select(Mention.sentiment, func.count())
        .where(Mention.customer_id == customer_id)
        .group_by(col(Mention.sentiment))
    )
    return {str(label): int(count) for label, count in rows if label is not None}


def export_customers_rows(session: Session) -> Iterator[dict[str, Any]]:
    """One row per active customer (prospects included, merged records left out), for ``export customers``."""
    last = 0
    while True:
        page = list(
            session.exec(
                select(Customer)
                .where(col(Customer.id) > last, col(Customer.merged_into_id).is_(None))
                .order_by(col(Customer.id))
                .limit(PAGE)
            )
        )
        if not page:
            return
        ids = [c.id for c in page]
        points: dict[int, dict[str, list[str]]] = {}
        for cid, kind, value in session.exec(
            select(ContactPoint.customer_id, ContactPoint.kind, ContactPoint.value)
            .where(col(ContactPoint.customer_id).in_(ids))
            .order_by(col(ContactPoint.id))
        ):
            points.setdefault(cid, {}).setdefault(kind, []).append(value)
        handles: dict[int, list[str]] = {}
        for cid, platform, handle in session.exec(
            select(Identity.customer_id, Identity.platform, Identity.handle)
            .where(col(Identity.customer_id).in_(ids))
            .order_by(col(Identity.id))
        ):
            handles.setdefault(cid, []).append(f"{platform}:{handle}")
        orders = dict(
            session.exec(
                select(Order.customer_id, func.count())
                .where(col(Order.customer_id).in_(ids))
                .group_by(col(Order.customer_id))
            ).all()
        )
        for c in page:
            assert c.id is not None
            yield {
                "customer_ref": c.customer_ref,
                "name": c.name,
                "company": c.company,
                "segment": c.segment,
                "tags": list(c.tags or []),
                "emails": points.get(c.id, {}).get("email", []),
                "phones": points.get(c.id, {}).get("phone", []),
                "identities": handles.get(c.id, []),
                "orders": int(orders.get(c.id, 0)),
                "is_prospect": c.is_prospect,
                "consent_marketing": c.consent_marketing,
                "consent_contact": c.consent_contact,
                "created_at": c.created_at.isoformat().replace("+00:00", "Z"),
                "updated_at": c.updated_at.isoformat().replace("+00:00", "Z"),
            }
        last = page[-1].id  # type: ignore[assignment]
