"""PostgreSQL: a change of mentions' counted fields is counted once a statement, on a row of the writer's own.

Revision ID: 5c1e0d7b9a43
Revises: 7a1023b869d2
Create Date: 2026-12-01 20:50:00.000000

The trigger for changed sentiments, days, sources and groups (19748987c8d9) fired for each changed
row: a bulk re-scoring bumped the counter once per mention, and every bump waited for the one row
that an earlier, still open transaction had bumped, so two transactions changing mentions (or
deleting them) ran one after the other.

Now it fires once per UPDATE statement that sets one of those columns (PostgreSQL allows no
transition tables on a trigger for named columns, and one for every UPDATE would fire on ingest's
link writes too), so a statement that sets a counted column to the value it had still counts: the
dashboard's rollup then counts once more, which is what it does after any change. Every bump,
the deletion trigger's too, goes to one of 16 rows chosen by the writer's backend process, and
the rollup reads their sum, which every committed bump raises; two writers share a row only when
their process ids do modulo 16. SQLite keeps its triggers (one writer, no statement triggers).
"""

from __future__ import annotations

from alembic import op

revision = "5c1e0d7b9a43"
down_revision = "7a1023b869d2"
branch_labels = None
depends_on = None

SLOTS = 16
_COUNTED = ("sentiment", "published_at", "source", '"group"')


def _bump_function(slot: str) -> str:
    return (
        "CREATE OR REPLACE FUNCTION mentionchanges_bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"INSERT INTO mentionchanges (id, changes) VALUES ({slot}, 1) "
        "ON CONFLICT (id) DO UPDATE SET changes = mentionchanges.changes + 1; RETURN NULL; END $$"
    )


def upgrade() -> None:
    """Count once a statement, on the writer's own row (PostgreSQL)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_bump_function(f"1 + pg_backend_pid() % {SLOTS}"))
    op.execute("DROP TRIGGER mention_counted_changed ON mention")
    op.execute(
        f"CREATE TRIGGER mention_counted_changed AFTER UPDATE OF {', '.join(_COUNTED)} ON mention "
        "FOR EACH STATEMENT EXECUTE FUNCTION mentionchanges_bump()"
    )


def downgrade() -> None:
    """Count each changed row on row 1 again (the other rows' counts are added to it)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _COUNTED)
    op.execute("DROP TRIGGER mention_counted_changed ON mention")
    op.execute(
        "UPDATE mentionchanges SET changes = (SELECT coalesce(sum(changes), 0) FROM mentionchanges) WHERE id = 1"
    )
    op.execute("DELETE FROM mentionchanges WHERE id <> 1")
    op.execute(_bump_function("1"))
    op.execute(
        f"CREATE TRIGGER mention_counted_changed AFTER UPDATE OF {', '.join(_COUNTED)} ON mention "
        f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION mentionchanges_bump()"
    )
