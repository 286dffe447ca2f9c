"""Custom labels people teach with examples ("cancellation", "purchase intent"), and their predictions per mention."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from socialcrm.models.columns import UTCDateTime, utcnow


class CustomLabel(SQLModel, table=True):
    """A label people define and teach; once trained and switched on it is predicted for every new mention.

    ``name`` is what rules (``label = ["churn"]``), filters and exports use. The trained head and the
    cross-validated estimate of its precision and recall (on the marked examples only) live here too.
    """

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, index=True, max_length=64)
    title: str = Field(default="", max_length=200)
    description: str = Field(default="", sa_type=Text)
    threshold: float = 0.5
    enabled: bool = False
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    head: bytes | None = Field(default=None, sa_type=LargeBinary)  # float32 weights then the bias
    features: str | None = Field(default=None, max_length=160)  # what the head reads: "words-v1" or "vectors:<model>"
    trained_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    trained_by: str | None = Field(default=None, max_length=64)
    positives: int = 0  # examples the current head was trained on
    negatives: int = 0
    cv_precision: float | None = None  # estimated by cross-validation on the marked examples
    cv_recall: float | None = None
    cv_folds: int = 0


class LabelExample(SQLModel, table=True):
    """A marked example: a mention (or a written text) that has the label (positive) or has not."""

    __table_args__ = (UniqueConstraint("label_id", "mention_id", name="uq_labelexample_label_mention"),)
    id: int | None = Field(default=None, primary_key=True)
    label_id: int = Field(foreign_key="customlabel.id", index=True)
    mention_id: int | None = Field(default=None, foreign_key="mention.id", index=True)
    text: str | None = Field(default=None, sa_type=Text)  # only for examples without a mention (written or imported)
    language: str | None = Field(default=None, max_length=8)
    positive: bool = True
    added_by: str = Field(default="", max_length=64)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MentionLabel(SQLModel, table=True):
    """A label predicted for a mention (stored only when its score reached the label's threshold)."""

    __table_args__ = (Index("ix_mentionlabel_label_mention", "label_id", "mention_id"),)
    mention_id: int = Field(foreign_key="mention.id", primary_key=True)
    label_id: int = Field(foreign_key="customlabel.id", primary_key=True)
    score: float
    predicted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
