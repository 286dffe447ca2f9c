"""A PostgreSQL outage for one test's database: closed to new connections and every connection to it cut.

What a server restart does to a process's connections, without restarting the server other tests share.
"""

from __future__ import annotations

import time

import psycopg
from sqlalchemy.engine import make_url

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
