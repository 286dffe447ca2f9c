"""The change counter the dashboard's rollup follows (table mentionchanges), bumped here for what its triggers miss.

The database's triggers count deletions of mentions and changes of their sentiment, day, source or
group (migrations 19748987c8d9, 5c1e0d7b9a43). Tags are left to the code: the rules tag most
mentions in the transaction that stores them, which the rollup counts as new rows anyway, and a
trigger would count those too. A stored mention tagged later (a retry) is counted here.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

SLOTS = 16  # PostgreSQL: the counter's rows, one per writer's backend process modulo SLOTS (5c1e0d7b9a43)

_BUMP = (
    "INSERT INTO mentionchanges (id, changes) VALUES ({slot}, 1) "
    "ON CONFLICT (id) DO UPDATE SET changes = mentionchanges.changes + 1"
)


def count_change(session: Session) -> None:
    """Count one change of stored mentions that the rollup must see (it counts the mentions again)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    slot = f"1 + mod(pg_backend_pid(), {SLOTS})" if postgres else "1"
    session.exec(text(_BUMP.format(slot=slot)))  # type: ignore[call-overload]
