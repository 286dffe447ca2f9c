"""Match keys for duplicate detection by index: customer.name_key, contactpoint.match_key (filled for existing rows).

Revision ID: 0b0e1a144c2f
Revises: 3289ef14de92
Create Date: 2026-11-30 23:18:38.147253
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from socialcrm.models.keys import PHONE_MATCH_DIGITS, name_key

revision = "0b0e1a144c2f"
down_revision = "3289ef14de92"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contactpoint", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("match_key", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False, server_default="")
        )
        batch_op.create_index("ix_contactpoint_kind_match_key", ["kind", "match_key"], unique=False)
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True))
        batch_op.create_index(batch_op.f("ix_customer_name_key"), ["name_key"], unique=False)
    _fill_keys()
    with op.batch_alter_table("contactpoint", schema=None) as batch_op:
        batch_op.alter_column("match_key", server_default=None)


def _fill_keys() -> None:
    """Existing rows get the keys the flush hooks in models/crm.py give new ones (models/keys.py)."""
    bind = op.get_bind()
    tail = "substr(value, -:digits)" if bind.dialect.name == "sqlite" else "right(value, :digits)"
    bind.execute(sa.text("UPDATE contactpoint SET match_key = value WHERE kind <> 'phone'"))
    bind.execute(
        sa.text(f"UPDATE contactpoint SET match_key = {tail} WHERE kind = 'phone'"), {"digits": PHONE_MATCH_DIGITS}
    )
    rows = bind.execute(
        sa.text("SELECT id, name, company FROM customer WHERE name IS NOT NULL AND company IS NOT NULL")
    ).all()
    keys = [{"key": name_key(name, company), "id": id_} for id_, name, company in rows]
    if keys:
        bind.execute(sa.text("UPDATE customer SET name_key = :key WHERE id = :id"), keys)


def downgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_name_key"))
        batch_op.drop_column("name_key")
    with op.batch_alter_table("contactpoint", schema=None) as batch_op:
        batch_op.drop_index("ix_contactpoint_kind_match_key")
        batch_op.drop_column("match_key")
