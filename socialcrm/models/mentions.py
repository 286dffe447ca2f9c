"""Mentions (stored posts), the sentiment corrections people make to them, and the key erased ones are hashed with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import AutoString, Field, SQLModel

from socialcrm.models.columns import JSONType, UTCDateTime, utcnow
from socialcrm.models.vocabulary import LinkMethod, SentimentLabel


class Mention(SQLModel, table=True):
    """One post from one source; (source, external_id) is unique, so re-polling stores nothing twice."""

    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_mention_source_external_id"),
        # Ranges on published_at; customer_id and tags ride along so the dashboard's lead figures read
        # the index alone on SQLite instead of every row of the range.
        Index("ix_mention_published_customer_tags", "published_at", "customer_id", "tags"),
        Index("ix_mention_source_published", "source", "published_at"),
        # The sources with erased mentions, found without reading their other mentions: the duplicate
        # check asks for erased post ids' hashes only there (pipeline._known_ids). Partial: ingest,
        # whose rows all have no erased_at, writes nothing to it.
        Index(
            "ix_mention_erased_source",
            "source",
            sqlite_where=text("erased_at IS NOT NULL"),
            postgresql_where=text("erased_at IS NOT NULL"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    source_type: str = Field(max_length=32)
    external_id: str = Field(max_length=512)
    url: str = Field(default="", max_length=2048)
    kind: str = Field(default="post", max_length=16)
    thread_id: str | None = Field(default=None, index=True, max_length=512)
    parent_id: str | None = Field(default=None, max_length=512)
    author: str | None = Field(default=None, index=True, max_length=256)
    author_name: str | None = Field(default=None, max_length=256)
    author_url: str | None = Field(default=None, max_length=1024)
    title: str | None = Field(default=None, sa_type=Text)
    text: str = Field(default="", sa_type=Text)
    truncated: bool = False
    language: str | None = Field(default=None, index=True, max_length=8)
    sentiment: SentimentLabel | None = Field(default=None, index=True, sa_type=AutoString(length=16))
    sentiment_score: float | None = None
    classifier: str | None = Field(default=None, max_length=128)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    link_method: LinkMethod | None = Field(default=None, sa_type=AutoString(length=32))
    link_confidence: float | None = None
    group: str | None = Field(default=None, index=True, max_length=64)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    author_metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    raw: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    published_at: datetime = Field(sa_type=UTCDateTime)
    fetched_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # personal data wiped on request


class ErasureKey(SQLModel, table=True):
    """The installation's secret that an erased mention's post id is hashed with (services/erased_posts.py).

    One row, made at upgrade; never shown, exported or changed (a new key would let every erased post
    be stored again when next fetched).
    """

    __tablename__ = "erasure_key"
    id: int | None = Field(default=None, primary_key=True)
    secret: str = Field(max_length=64)


class SentimentCorrection(SQLModel, table=True):
    """A person's correction of a mention's sentiment; feeds classifier retraining."""

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mention.id", index=True)
    old_label: SentimentLabel | None = Field(default=None, sa_type=AutoString(length=16))
    new_label: SentimentLabel = Field(sa_type=AutoString(length=16))
    corrected_by: str = Field(max_length=64)
    corrected_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MentionChanges(SQLModel, table=True):
    """How often stored mentions were deleted or had a counted field changed: the sum of the rows, kept by triggers.

    The triggers (migrations 19748987c8d9, 5c1e0d7b9a43) count a DELETE (or TRUNCATE) of mentions and an
    UPDATE that changes a mention's sentiment, published_at, source or group (on PostgreSQL: each UPDATE
    statement that sets one of them); inserts are not counted. SQLite keeps one row; PostgreSQL up to 16,
    one per writer's backend process modulo 16, so concurrent writers do not queue for one row. The
    dashboard's rollup compares the sum with the one it last saw instead of counting every mention.
    """

    id: int | None = Field(default=None, primary_key=True)
    changes: int = Field(default=0, sa_type=BigInteger)


class MentionRetry(SQLModel, table=True):
    """A stored mention whose linking or rules failed: retried later until it succeeds or a person dismisses it."""

    __table_args__ = (Index("ix_mentionretry_due", "dismissed_at", "next_attempt_at"),)
    mention_id: int = Field(foreign_key="mention.id", primary_key=True)
    source: str = Field(index=True, max_length=64)
    error: str = Field(sa_type=Text)
    attempts: int = 1
    first_failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    dismissed_by: str | None = Field(default=None, max_length=64)
    dismissed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
