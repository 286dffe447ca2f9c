"""users: e-mail address and weekly digest opt-in

Revision ID: 25ed4eaee18c
Revises: 21044f1af6e7
Create Date: 2026-12-01 06:18:01.339723
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "25ed4eaee18c"
down_revision = "21044f1af6e7"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))
        batch_op.add_column(sa.Column("weekly_digest", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.alter_column("weekly_digest", server_default=None)  # the model sets it for new users


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("weekly_digest")
        batch_op.drop_column("email")
