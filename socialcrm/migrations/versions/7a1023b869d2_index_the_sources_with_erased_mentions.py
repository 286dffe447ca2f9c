"""Index the sources with erased mentions (partial: only rows with erased_at).

The duplicate check of each fetched page asks for erased post ids' keyed hashes only for a source
that has erased mentions (pipeline._known_ids); this index answers "has it?" without reading the
source's other mentions. Ingest stores rows without erased_at, so it writes nothing to it.

Revision ID: 7a1023b869d2
Revises: 19748987c8d9
Create Date: 2026-12-01 20:27:55.950775
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "7a1023b869d2"
down_revision = "19748987c8d9"
branch_labels = None
depends_on = None

ERASED = sa.text("erased_at IS NOT NULL")


def upgrade() -> None:
    """Add ix_mention_erased_source."""
    with op.batch_alter_table("mention", schema=None) as batch_op:
        batch_op.create_index("ix_mention_erased_source", ["source"], sqlite_where=ERASED, postgresql_where=ERASED)


def downgrade() -> None:
    """Drop ix_mention_erased_source."""
    with op.batch_alter_table("mention", schema=None) as batch_op:
        batch_op.drop_index("ix_mention_erased_source")
