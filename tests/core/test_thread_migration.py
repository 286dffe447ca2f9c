"""Upgrading joins stored forum replies to their topic: the migration after the first release's threads."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from socialcrm.db import Database, alembic_config

FIRST_RELEASE = "b3e59832a6ed"
FORUM = "https://forum.homebarista.example/t/812"
STORED = [  # (source, type, external id, url, thread as the first release stored it)
    ("coffee-forum", "feed", f"{FORUM}#p1", f"{FORUM}#p1", f"{FORUM}#p1"),
    ("coffee-forum", "feed", f"{FORUM}#p2", f"{FORUM}#p2", f"{FORUM}#p2"),
    (
        "blog",
        "feed",
        "https://blog.example/p/1#comment-3",
        "https://blog.example/p/1#comment-3",
        "https://blog.example/p/1",
    ),
    ("blog", "feed", "https://blog.example/p/2", "https://blog.example/p/2", "https://blog.example/p/2"),
    ("masto", "mastodon", "109", "https://social.example/@a/109#x", "109"),
]


def _migrate(db: Database, revision: str, *, down: bool = False) -> None:
    with db.engine.begin() as connection:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(cfg, revision)


def test_stored_forum_replies_and_their_ticket_move_to_the_topic_thread(db: Database) -> None:
    _migrate(db, FIRST_RELEASE, down=True)
    with db.engine.begin() as c:  # the first release's schema: written as plain SQL, as its code wrote it
        for n, (source, source_type, external_id, url, thread) in enumerate(STORED):
            c.execute(
                text(
                    "INSERT INTO mention (source, source_type, external_id, url, kind, thread_id, text, truncated,"
                    " tags, author_metrics, published_at, fetched_at)"
                    " VALUES (:s, :st, :e, :u, 'post', :th, '', false, '[]', '{}', :at, :at)"
                ),
                {
                    "s": source,
                    "st": source_type,
                    "e": external_id,
                    "u": url,
                    "th": thread,
                    "at": f"2026-11-25 0{n}:00:00",
                },
            )
        for key in (f"coffee-forum:{FORUM}#p1", "blog:https://blog.example/p/2"):
            c.execute(
                text(
                    "INSERT INTO ticket (status, priority, subject, thread_key, created_at, updated_at)"
                    " VALUES ('open', 'normal', 'x', :k, '2026-11-25 00:00:00', '2026-11-25 00:00:00')"
                ),
                {"k": key},
            )
    _migrate(db, "head")
    with db.engine.connect() as c:
        threads = dict(c.execute(text("SELECT external_id, thread_id FROM mention")).all())
        keys = sorted(c.execute(text("SELECT thread_key FROM ticket")).scalars())
    assert threads == {
        f"{FORUM}#p1": FORUM,
        f"{FORUM}#p2": FORUM,
        "https://blog.example/p/1#comment-3": "https://blog.example/p/1",
        "https://blog.example/p/2": "https://blog.example/p/2",
        "109": "109",
    }
    assert keys == ["blog:https://blog.example/p/2", f"coffee-forum:{FORUM}"]
