"""A database made unusable for a while in a test: PostgreSQL cut, SQLite's file locked by another process.

PostgreSQL: the test's database is closed to new connections and every connection to it cut, what a
server restart does to a process's connections, without restarting the server other tests share.
SQLite: a second process holds the file's write lock (``BEGIN IMMEDIATE``), past the busy_timeout.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url

from socialcrm.db import Database
from socialcrm.jobs.worker import conninfo


def cut(database_url: str, closed: bool, *, until_gone: bool = False) -> None:
    """Close the database to new connections and end every connection to it, or open it again.

    ``until_gone``: return only once the server's processes of those connections have ended (each has
    closed its socket), as they have after a restart; ``pg_terminate_backend`` only signals them.
    """
    url = make_url(database_url)
    name = url.database
    with psycopg.connect(conninfo(url.set(database="postgres").render_as_string(False)), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if closed else "true"}')
        if not closed:
            return
        others = "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        admin.execute(f"SELECT pg_terminate_backend(pid) {others}", (name,))
        deadline = time.monotonic() + 10
        while until_gone and admin.execute(f"SELECT count(*) {others}", (name,)).fetchone() != (0,):
            assert time.monotonic() < deadline, "the cut connections did not end within 10 s"
            time.sleep(0.01)


HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
"""
BUSY_TIMEOUT_MS = 300


def short_busy_timeout(db: Database) -> None:
    """Let ``db``'s SQLite connections wait BUSY_TIMEOUT_MS for a lock instead of 30 s (PostgreSQL: nothing)."""
    if not db.is_sqlite:
        return

    @event.listens_for(db.engine, "connect")
    def _wait_briefly(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    db.dispose()  # pooled connections are made again, with the short timeout


class Outage:
    """The database made unusable from another process (SQLite) or by the server (PostgreSQL), and back."""

    def __init__(self, db: Database, url: str) -> None:
        self.db, self.url = db, url
        self.holder: subprocess.Popen[str] | None = None

    def begin(self) -> None:
        """Take the database away (returns once it is away)."""
        if self.db.is_sqlite:
            command = [sys.executable, "-c", HOLD_LOCK, str(make_url(self.url).database)]
            self.holder = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            assert self.holder.stdout is not None and self.holder.stdout.readline() == "locked\n"
        else:
            cut(self.url, True, until_gone=True)

    def end(self) -> None:
        """Give it back (again: nothing)."""
        if self.holder is not None:
            self.holder.communicate("")  # the holder ends, and its lock with it
            self.holder = None
        elif not self.db.is_sqlite:
            cut(self.url, False)
