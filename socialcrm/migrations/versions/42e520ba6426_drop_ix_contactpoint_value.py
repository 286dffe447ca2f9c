"""Contact points: drop ix_contactpoint_value; every lookup by value also names the kind (the unique index serves it).

E-mails are found by ``kind = 'email' AND value IN (...)`` and a customer's own point by customer, kind
and value: both through the unique (kind, value, customer_id) index. Phones go by match_key, the
search box by ``lower(value) LIKE '%...%'`` (which no plain index serves). The extra index only cost
writes: about a tenth of the server's time for the contact points of a 100,000-customer import.

Revision ID: 42e520ba6426
Revises: c7d41f0a9b21
Create Date: 2026-12-01 09:21:08.964832
"""

from __future__ import annotations

from alembic import op

revision = "42e520ba6426"
down_revision = "c7d41f0a9b21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contactpoint", schema=None) as batch_op:
        batch_op.drop_index("ix_contactpoint_value")


def downgrade() -> None:
    with op.batch_alter_table("contactpoint", schema=None) as batch_op:
        batch_op.create_index("ix_contactpoint_value", ["value"], unique=False)
