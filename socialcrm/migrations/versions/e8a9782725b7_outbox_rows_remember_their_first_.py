"""Outbox rows remember their first attempt and the worker that holds them.

Revision ID: e8a9782725b7
Revises: 0b0e1a144c2f
Create Date: 2026-12-01 01:24:41.605248
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import socialcrm.models.columns

revision = "e8a9782725b7"
down_revision = "0b0e1a144c2f"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add first_attempt_at and lease_owner; rows tried before the upgrade look back to their creation."""
    with op.batch_alter_table("outboxitem", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_attempt_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
    # The first try of a row came after it was queued, so its creation is a safe point to look back to.
    op.execute("UPDATE outboxitem SET first_attempt_at = created_at WHERE attempts > 0")


def downgrade() -> None:
    """Drop the two columns."""
    with op.batch_alter_table("outboxitem", schema=None) as batch_op:
        batch_op.drop_column("lease_owner")
        batch_op.drop_column("first_attempt_at")
