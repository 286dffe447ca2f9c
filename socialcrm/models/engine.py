"""What the rules engine leaves behind: decisions with explanations, action keys, and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from socialcrm.models.columns import JSONType, UTCDateTime, utcnow


class Decision(SQLModel, table=True):
    """One rule's verdict on one mention, with the conditions' values: the answer to "why"."""

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mention.id", index=True)
    rule: str = Field(max_length=128)
    position: int = 0
    fired: bool
    explanation: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    actions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ActionKey(SQLModel, table=True):
    """The idempotency key of an action already taken: (rule, action, thread, customer)."""

    key: str = Field(primary_key=True, max_length=900)
    rule: str = Field(max_length=128)
    action: str = Field(max_length=32)
    mention_id: int = Field(foreign_key="mention.id")
    target: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OutboxItem(SQLModel, table=True):
    """Work that leaves the system (a reply, a webhook), written in the same transaction that decided it.

    A worker sends a row only while it holds it: ``lease_owner`` names the worker, and while the row
    is "sending" ``next_attempt_at`` is when the lease runs out (socialcrm/services/outbox.py).
    ``first_attempt_at`` is when the first try began: a retry looks back to it for a reply that
    may already be out.
    """

    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # reply | webhook
    idempotency_key: str = Field(unique=True, max_length=900)
    source: str | None = Field(default=None, max_length=64)
    draft_id: int | None = Field(default=None, foreign_key="replydraft.id", index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending | sending | done | failed | manual
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    first_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_owner: str | None = Field(default=None, max_length=128)
    last_error: str | None = Field(default=None, sa_type=Text)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """An append-only record of a state change or a login: who, what, when."""

    __table_args__ = (Index("ix_auditentry_entity", "entity_type", "entity_id"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(index=True, max_length=64)
    entity_type: str = Field(max_length=32)
    entity_id: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
