"""Databases for benchmarks: a fresh, migrated SQLite file or PostgreSQL database per measurement.

PostgreSQL comes from ``--postgres URL`` (or SOCIALCRM_BENCH_DATABASE_URL): a server URL whose user
may create databases; each measurement gets a database of its own, dropped afterwards. Without one,
``postgres_server`` starts a private server from Debian's binaries on a free port, with PostgreSQL's
default durability (fsync and synchronous commit on, unlike the test suite's server), and stops it
and removes its folder at the end. Without Debian's postgresql, PostgreSQL is skipped.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from socialcrm.db import Database

BENCH_URL_ENV = "SOCIALCRM_BENCH_DATABASE_URL"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    """Run as the postgres user when we are root (initdb refuses root)."""
    if os.getuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@contextmanager
def postgres_server(url: str | None = None) -> Iterator[str | None]:
    """The URL of a PostgreSQL server to benchmark on (None when there is none), started here if needed."""
    url = url or os.environ.get(BENCH_URL_ENV)
    if url:
        yield url
        return
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="socialcrm-benchpg."))
    data, port = folder / "data", _free_port()
    if os.getuid() == 0:
        shutil.chown(folder, "postgres")
    initdb = [f"{binaries[-1]}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"]
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder}"
    ctl = [f"{binaries[-1]}/pg_ctl", "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60"]
    try:
        subprocess.run(_as_postgres([*initdb, "--locale=C.UTF-8"]), check=True, capture_output=True)
        subprocess.run(_as_postgres([*ctl, "start", "-o", options]), check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([*ctl, "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def describe_server(url: str) -> str:
    """``PostgreSQL 15.8, fsync on, synchronous_commit on``: what the figures were measured against."""
    engine = create_engine(make_url(url))
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
            fsync = conn.execute(text("SHOW fsync")).scalar()
            commit = conn.execute(text("SHOW synchronous_commit")).scalar()
    finally:
        engine.dispose()
    return f"PostgreSQL {version}, fsync {fsync}, synchronous_commit {commit}"


@contextmanager
def fresh_database(backend: str, server_url: str | None = None) -> Iterator[Database]:
    """An empty database at the newest schema: a SQLite file, or a new database on ``server_url``."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="socialcrm-bench.") as folder:
            db = Database(f"sqlite:///{Path(folder) / 'bench.db'}")
            db.upgrade()
            try:
                yield db
            finally:
                db.dispose()
        return
    assert server_url, "PostgreSQL needs a server URL"
    name = f"socialcrm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(make_url(server_url).set(database=name).render_as_string(hide_password=False))
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
