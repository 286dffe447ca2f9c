"""Work items the rules create and people handle: service tickets, reply drafts and saved replies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import AutoString, Field, SQLModel

from socialcrm.models.columns import UTCDateTime, utcnow
from socialcrm.models.vocabulary import DraftStatus, Priority, TicketStatus


class Ticket(SQLModel, table=True):
    """A service ticket opened from one or more mentions."""

    __table_args__ = (Index("ix_ticket_status_due", "status", "resolution_due"),)
    id: int | None = Field(default=None, primary_key=True)
    status: TicketStatus = Field(default="new", index=True, sa_type=AutoString(length=16))
    priority: Priority = Field(default="normal", sa_type=AutoString(length=16))
    team: str | None = Field(default=None, index=True, max_length=64)
    assignee: str | None = Field(default=None, index=True, max_length=64)
    rule: str | None = Field(default=None, max_length=128)
    subject: str = Field(default="", max_length=512)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    thread_key: str | None = Field(default=None, index=True, max_length=700)
    idempotency_key: str | None = Field(default=None, unique=True, max_length=900)
    merged_into_id: int | None = Field(default=None, foreign_key="ticket.id")
    follow_up_of_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)  # KPI ranges
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    first_response_due: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution_due: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TicketMention(SQLModel, table=True):
    """Which mentions belong to a ticket (a further complaint in the thread joins it)."""

    ticket_id: int = Field(foreign_key="ticket.id", primary_key=True)
    mention_id: int = Field(foreign_key="mention.id", primary_key=True, index=True)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TicketNote(SQLModel, table=True):
    """A note on a ticket by an agent."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    author: str = Field(max_length=64)
    text: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReplyDraft(SQLModel, table=True):
    """A reply waiting for a person: pending -> approved | rejected -> sent | failed."""

    __table_args__ = (Index("ix_replydraft_status_created", "status", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    status: DraftStatus = Field(default="pending", sa_type=AutoString(length=16))
    rule: str | None = Field(default=None, max_length=128)
    template: str | None = Field(default=None, max_length=128)
    language: str | None = Field(default=None, max_length=8)
    text: str = Field(sa_type=Text)
    original_text: str = Field(sa_type=Text)
    mention_id: int = Field(foreign_key="mention.id", index=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    idempotency_key: str | None = Field(default=None, unique=True, max_length=900)
    assignee: str | None = Field(default=None, max_length=64)
    manual: bool = False
    created_by: str | None = Field(default=None, max_length=64)  # the person who wrote it; None: a rule
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    approved_by: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rejected_by: str | None = Field(default=None, max_length=64)
    rejected_reason: str | None = Field(default=None, sa_type=Text)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    external_reply_id: str | None = Field(default=None, max_length=512)
    external_reply_url: str | None = Field(default=None, max_length=2048)
    error: str | None = Field(default=None, sa_type=Text)


class SavedReply(SQLModel, table=True):
    """A canned response in one language, managed by admins and inserted into the composer by its key."""

    __table_args__ = (UniqueConstraint("key", "language", name="uq_savedreply_key_language"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=32)  # typed as /key in the composer; the same key in de and en is one reply
    language: str = Field(max_length=8)
    title: str = Field(max_length=128)
    text: str = Field(sa_type=Text)
    created_by: str = Field(max_length=64)
    updated_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DraftEdit(SQLModel, table=True):
    """Every edit of a draft's text, kept."""

    id: int | None = Field(default=None, primary_key=True)
    draft_id: int = Field(foreign_key="replydraft.id", index=True)
    editor: str = Field(max_length=64)
    old_text: str = Field(sa_type=Text)
    new_text: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
