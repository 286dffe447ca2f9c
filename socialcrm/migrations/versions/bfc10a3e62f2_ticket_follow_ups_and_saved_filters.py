"""Ticket follow-ups (a new ticket linked to the closed one it follows), filters saved per user, audit by entity.

Revision ID: bfc10a3e62f2
Revises: c4d1e7a90b35
Create Date: 2026-12-01 01:13:38.202306
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import socialcrm.models.columns

revision = "bfc10a3e62f2"
down_revision = "c4d1e7a90b35"
branch_labels = None
depends_on = None

FOLLOW_UP_FK = "fk_ticket_follow_up_of_id_ticket"


def upgrade() -> None:
    op.create_table(
        "savedfilter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("page", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("query", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("created_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "page", "name", name="uq_savedfilter_user_page_name"),
    )
    op.create_index(op.f("ix_savedfilter_user_id"), "savedfilter", ["user_id"], unique=False)
    # Added in place, never by copying the table (batch mode): SQLite cannot drop a table that other
    # rows point to while foreign keys are enforced, so a copy fails on every database with tickets.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE ticket ADD COLUMN follow_up_of_id INTEGER REFERENCES ticket (id)")
    else:
        op.add_column("ticket", sa.Column("follow_up_of_id", sa.Integer(), nullable=True))
        op.create_foreign_key(FOLLOW_UP_FK, "ticket", "ticket", ["follow_up_of_id"], ["id"])
    op.create_index(op.f("ix_ticket_follow_up_of_id"), "ticket", ["follow_up_of_id"], unique=False)
    op.create_index("ix_auditentry_entity", "auditentry", ["entity_type", "entity_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_auditentry_entity", table_name="auditentry")
    op.drop_index(op.f("ix_ticket_follow_up_of_id"), table_name="ticket")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE ticket DROP COLUMN follow_up_of_id")  # SQLite >= 3.35
    else:
        op.drop_constraint(FOLLOW_UP_FK, "ticket", type_="foreignkey")
        op.drop_column("ticket", "follow_up_of_id")
    op.drop_index(op.f("ix_savedfilter_user_id"), table_name="savedfilter")
    op.drop_table("savedfilter")
