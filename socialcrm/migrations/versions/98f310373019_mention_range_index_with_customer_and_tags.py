"""The mention range index carries customer_id and tags (replaces ix_mention_published_at).

Every query on a range of published_at uses it as before; the dashboard's lead figures (customers
with a lead-tagged mention in the range) read the index alone on SQLite instead of every row. One
index replaces another, so storing a mention writes no more indexes than before.

Revision ID: 98f310373019
Revises: 42e520ba6426
Create Date: 2026-12-01 08:56:25.186292
"""

from __future__ import annotations

from alembic import op

revision = "98f310373019"
down_revision = "42e520ba6426"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the wider index, then drop the one it replaces."""
    op.create_index("ix_mention_published_customer_tags", "mention", ["published_at", "customer_id", "tags"])
    op.drop_index("ix_mention_published_at", table_name="mention")


def downgrade() -> None:
    """Back to the index on published_at alone."""
    op.create_index("ix_mention_published_at", "mention", ["published_at"])
    op.drop_index("ix_mention_published_customer_tags", table_name="mention")
