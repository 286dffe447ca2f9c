"""API tokens can expire (expires_at, NULL: until revoked) and be read-only (read_only, existing tokens: false)

Revision ID: 2f3b419f19f2
Revises: e8a9782725b7
Create Date: 2026-12-01 03:39:13.518179
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import socialcrm.models.columns

revision = "2f3b419f19f2"
down_revision = "e8a9782725b7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apitoken", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=True))
        # Tokens made before this revision keep reading and writing.
        batch_op.add_column(sa.Column("read_only", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("apitoken", schema=None) as batch_op:
        batch_op.alter_column("read_only", server_default=None)  # the model sets it for new tokens


def downgrade() -> None:
    with op.batch_alter_table("apitoken", schema=None) as batch_op:
        batch_op.drop_column("read_only")
        batch_op.drop_column("expires_at")
