"""Users' own time zone (an IANA name such as Europe/Berlin; NULL: the browser's, else the server's).

Revision ID: 21044f1af6e7
Revises: 25f9ec79a6b2
Create Date: 2026-12-01 06:11:22.914967
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "21044f1af6e7"
down_revision = "25f9ec79a6b2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("time_zone")
