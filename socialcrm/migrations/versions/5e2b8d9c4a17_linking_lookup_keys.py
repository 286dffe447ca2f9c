"""Linking by index: customer.fuzzy_key (the sound of a name, filled for existing rows), order and customer number keys.

Revision ID: 5e2b8d9c4a17
Revises: 25ed4eaee18c
Create Date: 2026-12-01 01:45:02.118604
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from socialcrm.models.name_keys import fuzzy_key

revision = "5e2b8d9c4a17"
down_revision = "25ed4eaee18c"
branch_labels = None
depends_on = None
FILL_PAGE = 5000


def upgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fuzzy_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_customer_fuzzy_key"), ["fuzzy_key"], unique=False)
    # Numbers in posts are compared upper-cased without dashes (models/crm.py number_key).
    op.create_index("ix_order_number_key", "order", [sa.text("replace(upper(order_number), '-', '')")])
    op.create_index("ix_customer_ref_key", "customer", [sa.text("replace(upper(customer_ref), '-', '')")])
    _fill_fuzzy_keys()


def _fill_fuzzy_keys() -> None:
    """Existing customers get the key the flush hook in models/crm.py gives new ones."""
    bind = op.get_bind()
    last_id = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, name FROM customer WHERE id > :last AND is_prospect = :no AND name IS NOT NULL "
                "ORDER BY id LIMIT :page"
            ),
            {"last": last_id, "no": False, "page": FILL_PAGE},
        ).all()
        if not rows:
            return
        keys = [{"key": fuzzy_key(name), "id": id_} for id_, name in rows]
        bind.execute(sa.text("UPDATE customer SET fuzzy_key = :key WHERE id = :id"), keys)
        last_id = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_customer_ref_key", table_name="customer")
    op.drop_index("ix_order_number_key", table_name="order")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_fuzzy_key"))
        batch_op.drop_column("fuzzy_key")
