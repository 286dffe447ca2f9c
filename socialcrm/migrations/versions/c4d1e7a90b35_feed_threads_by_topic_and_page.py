"""Feed mentions stored as their own thread join their forum topic or page (t/812#p1 -> t/812).

The first release stored every feed entry without a comment reference as its own thread, so the
replies of a forum topic (``t/812#p1``, ``t/812#p2``) opened a ticket each. New mentions now get
the topic or page as thread (socialcrm/threads.py); this brings stored ones and their tickets to
the same key, so the next reply in a thread that is being worked joins its ticket. The two rules
are copied here as they were when this revision was written (a migration must not change later).

Revision ID: c4d1e7a90b35
Revises: 2f3b419f19f2
Create Date: 2026-12-01 02:10:00
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import op

revision = "c4d1e7a90b35"
down_revision = "2f3b419f19f2"
branch_labels = None
depends_on = None

_DISCOURSE_TOPIC = re.compile(r"^/t/(?:[^/]+/)?(\d+)(?:/\d+)?/?$")
_BATCH = 1000


def _thread_from_link(url: str | None) -> str | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    match = _DISCOURSE_TOPIC.match(parts.path)
    if match is not None:
        return urlunsplit((parts.scheme, parts.netloc, f"/t/{match.group(1)}", "", ""))
    if parts.fragment:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
    return None


def upgrade() -> None:
    bind = op.get_bind()
    mention = sa.table(
        "mention",
        sa.column("id", sa.Integer),
        sa.column("source", sa.String),
        sa.column("source_type", sa.String),
        sa.column("external_id", sa.String),
        sa.column("url", sa.String),
        sa.column("thread_id", sa.String),
    )
    ticket = sa.table("ticket", sa.column("thread_key", sa.String))
    moved: dict[tuple[str, str], str] = {}
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(mention.c.id, mention.c.source, mention.c.url, mention.c.thread_id)
            .where(
                mention.c.source_type == "feed",
                mention.c.thread_id == mention.c.external_id,
                mention.c.id > last_id,
            )
            .order_by(mention.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        last_id = rows[-1].id
        for row in rows:
            thread = _thread_from_link(row.url)
            if thread is None or thread == row.thread_id:
                continue
            thread = thread[:512]
            bind.execute(sa.update(mention).where(mention.c.id == row.id).values(thread_id=thread))
            moved[(row.source, row.thread_id)] = thread
    for (source, old), new in moved.items():
        bind.execute(
            sa.update(ticket).where(ticket.c.thread_key == f"{source}:{old}").values(thread_key=f"{source}:{new}")
        )


def downgrade() -> None:
    """Nothing to undo: the first release reads any thread id."""
