"""Saved replies (canned responses per language) and who wrote a reply draft (None: a rule)

Revision ID: 3289ef14de92
Revises: b3e59832a6ed
Create Date: 2026-12-01 01:09:54.883791
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import socialcrm.models.columns


revision = "3289ef14de92"
down_revision = "b3e59832a6ed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "savedreply",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", "language", name="uq_savedreply_key_language"),
    )
    with op.batch_alter_table("replydraft", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("replydraft", schema=None) as batch_op:
        batch_op.drop_column("created_by")

    op.drop_table("savedreply")
