"""Per-source state kept by the core: cursor, health, backoff and counters."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import AutoString, Field, SQLModel

from socialcrm.models.columns import UTCDateTime, utcnow
from socialcrm.models.vocabulary import SourceStatus


class SourceState(SQLModel, table=True):
    """What the daemon knows about one configured source between polls and restarts."""

    name: str = Field(primary_key=True, max_length=64)
    type: str = Field(max_length=32)
    cursor: str | None = Field(default=None, sa_type=Text)
    state: SourceStatus = Field(default="new", sa_type=AutoString(length=16))
    backoff_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consecutive_failures: int = 0
    last_poll_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=Text)
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fetched_total: int = 0
    new_total: int = 0
    duplicate_total: int = 0
    error_total: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
