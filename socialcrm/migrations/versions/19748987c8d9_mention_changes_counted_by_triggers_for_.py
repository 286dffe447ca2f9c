"""Mention changes counted by triggers (a deletion, a changed sentiment, day, source or group) for the dashboard rollup.

Revision ID: 19748987c8d9
Revises: 3192261197c1
Create Date: 2026-12-01 18:49:33.713272

The triggers fire on what ingest does not do: deleting mentions (retention, erasure, a person) and
changing a stored mention's counted fields (a sentiment correction). An insert, and an update of any
other column (tags set by rules in the storing transaction, linking, raw data dropped), fires nothing.
The counter is written with an upsert, so it keeps counting if its row was ever removed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "19748987c8d9"
down_revision = "3192261197c1"
branch_labels = None
depends_on = None

_BUMP = (
    "INSERT INTO mentionchanges (id, changes) VALUES (1, 1) "
    "ON CONFLICT (id) DO UPDATE SET changes = mentionchanges.changes + 1"
)
_COUNTED = ("sentiment", "published_at", "source", '"group"')


def upgrade() -> None:
    op.create_table(
        "mentionchanges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("changes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO mentionchanges (id, changes) VALUES (1, 0)")
    columns = ", ".join(_COUNTED)
    if op.get_bind().dialect.name == "postgresql":
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _COUNTED)
        op.execute(
            "CREATE FUNCTION mentionchanges_bump() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {_BUMP}; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER mention_deleted AFTER DELETE OR TRUNCATE ON mention "
            "FOR EACH STATEMENT EXECUTE FUNCTION mentionchanges_bump()"
        )
        op.execute(
            f"CREATE TRIGGER mention_counted_changed AFTER UPDATE OF {columns} ON mention "
            f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION mentionchanges_bump()"
        )
        return
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _COUNTED)
    op.execute(f"CREATE TRIGGER mention_deleted AFTER DELETE ON mention BEGIN {_BUMP}; END")
    op.execute(
        f"CREATE TRIGGER mention_counted_changed AFTER UPDATE OF {columns} ON mention WHEN {changed} BEGIN {_BUMP}; END"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS mention_counted_changed" + (" ON mention" if _postgres() else ""))
    op.execute("DROP TRIGGER IF EXISTS mention_deleted" + (" ON mention" if _postgres() else ""))
    if _postgres():
        op.execute("DROP FUNCTION IF EXISTS mentionchanges_bump()")
    op.drop_table("mentionchanges")


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"
