"""Mention retries: mentions whose linking or rules failed wait here to be tried again or dismissed.

Revision ID: c7d41f0a9b21
Revises: 5e2b8d9c4a17
Create Date: 2026-12-01 01:30:19.394396
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import socialcrm.models.columns

revision = "c7d41f0a9b21"
down_revision = "5e2b8d9c4a17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mentionretry",
        sa.Column("mention_id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dismissed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("dismissed_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["mention_id"], ["mention.id"]),
        sa.PrimaryKeyConstraint("mention_id"),
    )
    with op.batch_alter_table("mentionretry", schema=None) as batch_op:
        batch_op.create_index("ix_mentionretry_due", ["dismissed_at", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_mentionretry_source"), ["source"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mentionretry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mentionretry_source"))
        batch_op.drop_index("ix_mentionretry_due")
    op.drop_table("mentionretry")
