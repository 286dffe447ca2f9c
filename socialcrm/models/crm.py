"""CRM core tables: customers, their contact points and platform identities, orders and notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint, event, func, literal
from sqlmodel import AutoString, Field, SQLModel

from socialcrm.models.columns import JSONType, UTCDateTime, table_of, utcnow
from socialcrm.models.keys import contact_key, name_key
from socialcrm.models.name_keys import fuzzy_key
from socialcrm.models.vocabulary import LinkMethod


class Customer(SQLModel, table=True):
    """A customer or a prospect (an unknown author we have seen)."""

    id: int | None = Field(default=None, primary_key=True)
    customer_ref: str = Field(unique=True, index=True, max_length=128)
    name: str | None = Field(default=None, max_length=256)
    company: str | None = Field(default=None, max_length=256)
    segment: str | None = Field(default=None, max_length=64)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    consent_marketing: bool = False
    consent_contact: bool = True
    is_prospect: bool = Field(default=False, index=True)
    merged_into_id: int | None = Field(default=None, foreign_key="customer.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Folded name and company (models/keys.py), kept by the flush hook below: duplicates by index.
    name_key: str | None = Field(default=None, index=True, max_length=1024)
    # The sound of the name's first and last word (models/name_keys.py), kept by the flush hook below:
    # fuzzy name suggestions look candidates up by this index. None for prospects and one-word names.
    fuzzy_key: str | None = Field(default=None, index=True, max_length=64)


class ContactPoint(SQLModel, table=True):
    """An e-mail address or phone number of a customer, stored normalised for lookup."""

    __table_args__ = (
        UniqueConstraint("kind", "value", "customer_id"),
        Index("ix_contactpoint_kind_match_key", "kind", "match_key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    kind: str = Field(max_length=8)  # email | phone
    value: str = Field(max_length=256)  # looked up with its kind: the unique (kind, value, customer_id) index
    # What two points are compared by (models/keys.py): the e-mail, or a phone's last nine digits.
    match_key: str = Field(default="", max_length=256)


class Identity(SQLModel, table=True):
    """A handle on a platform that belongs to a customer (platform + handle is unique)."""

    __table_args__ = (UniqueConstraint("platform", "handle"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    handle: str = Field(max_length=256)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    display_name: str | None = Field(default=None, max_length=256)
    profile_url: str | None = Field(default=None, max_length=1024)
    confirmed: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Order(SQLModel, table=True):
    """An order from the company's own systems, imported by CSV."""

    id: int | None = Field(default=None, primary_key=True)
    order_number: str = Field(unique=True, index=True, max_length=64)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    ordered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    products: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    status: str | None = Field(default=None, max_length=32)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerNote(SQLModel, table=True):
    """A free-text note on a customer's timeline."""

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    author: str = Field(max_length=64)
    text: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LinkSuggestion(SQLModel, table=True):
    """An uncertain match of a mention to a customer, waiting for a person to confirm or reject."""

    __table_args__ = (UniqueConstraint("mention_id", "customer_id"),)
    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mention.id", index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    method: LinkMethod = Field(sa_type=AutoString(length=32))
    confidence: float
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    status: str = Field(default="pending", index=True, max_length=16)  # pending | confirmed | rejected
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MergeCandidate(SQLModel, table=True):
    """Two customer records that look like one person; merged only by a person."""

    __table_args__ = (UniqueConstraint("customer_a_id", "customer_b_id"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_a_id: int = Field(foreign_key="customer.id", index=True)
    customer_b_id: int = Field(foreign_key="customer.id", index=True)
    reason: str = Field(max_length=256)
    status: str = Field(default="open", index=True, max_length=16)  # open | merged | dismissed
    decided_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


def number_key(column: Any) -> Any:
    """The SQL form numbers in posts are compared in: upper case, dashes dropped (``a-123`` = ``A123``).

    The dash and the empty string are written into the SQL, not bound: SQLite uses an expression
    index only for the very expression it was made on, and ``replace(upper(x), ?, ?)`` is not that.
    """
    return func.replace(func.upper(column), literal("-", literal_execute=True), literal("", literal_execute=True))


# Indexes on that form, so an order or customer number found in a post is one index lookup.
Index("ix_order_number_key", number_key(table_of(Order).c.order_number))
Index("ix_customer_ref_key", number_key(table_of(Customer).c.customer_ref))


@event.listens_for(Customer, "before_insert")
@event.listens_for(Customer, "before_update")
def _keep_fuzzy_key(_mapper: Any, _connection: Any, customer: Customer) -> None:
    customer.fuzzy_key = None if customer.is_prospect else fuzzy_key(customer.name)


@event.listens_for(Customer, "before_insert")
@event.listens_for(Customer, "before_update")
def _keep_name_key(_mapper: Any, _connection: Any, customer: Customer) -> None:
    customer.name_key = name_key(customer.name, customer.company)


@event.listens_for(ContactPoint, "before_insert")
@event.listens_for(ContactPoint, "before_update")
def _keep_match_key(_mapper: Any, _connection: Any, point: ContactPoint) -> None:
    point.match_key = contact_key(point.kind, point.value)
