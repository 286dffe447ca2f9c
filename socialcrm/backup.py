"""Backups and restores of the configured database: SQLite through its online backup API, PostgreSQL through pg_dump.

SQLite: the backup API copies the live database in one read transaction, so the daemon keeps
writing while it runs (WAL mode: readers never block the writer) and the copy is one consistent
moment; it is checked with ``PRAGMA integrity_check`` and written as a self-contained file.
PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean --single-transaction`` (Debian's
postgresql-client), with the password passed in ``PGPASSWORD``, never on a command line.
A backup is written under a temporary name and renamed when complete, readable only by its owner.
Restoring replaces the database's contents and then migrates it to this version's schema.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from socialcrm.db import Database, redact_url
from socialcrm.errors import SocialCRMError

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
SUFFIX = {"sqlite": ".sqlite3", "postgresql": ".pgdump"}
PG_TIMEOUT = 6 * 3600.0


class BackupError(SocialCRMError):
    """A backup or restore could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    """What ``backup`` wrote."""

    path: Path
    backend: str
    size: int
    revision: str | None


def backend_of(url: str) -> str:
    """``sqlite`` or ``postgresql`` for a SQLAlchemy URL; anything else cannot be backed up here."""
    name = make_url(url).get_backend_name()
    if name not in SUFFIX:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {name}")
    return name


def kind_of_file(path: Path) -> str:
    """Which backend wrote a backup file, from its first bytes."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as err:
        raise BackupError(f"cannot read {path}: {err.strerror}") from err
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is not a socialcrm backup (neither a SQLite file nor a pg_dump custom archive)")


def default_name(backend: str, now: datetime | None = None) -> str:
    """A time-stamped file name such as ``socialcrm-20261201-023000Z.sqlite3`` for the backend's format."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%SZ")
    return f"socialcrm-{stamp}{SUFFIX[backend]}"


def destination(output: str | os.PathLike[str] | None, backend: str) -> Path:
    """``--output``: a file name, or a folder that gets a time-stamped name (default: the current folder)."""
    target = Path(output) if output else Path.cwd()
    if target.is_dir():
        return target / default_name(backend)
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder")
    return target


def backup(url: str, output: str | os.PathLike[str] | None = None, *, pg_bin: str | None = None) -> BackupResult:
    """Copy the database at ``url`` into a new backup file."""
    backend = backend_of(url)
    target = destination(output, backend)
    if target.exists():
        raise BackupError(f"{target} exists; name a new file or a folder")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        if backend == "sqlite":
            _sqlite_backup(_sqlite_path(url), partial)
        else:
            _run_pg(pg_bin, "pg_dump", ["--format=custom", "--file", str(partial)], make_url(url))
        os.chmod(partial, 0o600)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(target, backend, target.stat().st_size, _revision(url))


def restore(url: str, source: Path, *, pg_bin: str | None = None) -> str | None:
    """Replace the contents of the database at ``url`` with the backup ``source``; return the schema revision."""
    backend = backend_of(url)
    kind = kind_of_file(source)
    if kind != backend:
        raise BackupError(
            f"{source} is a {kind} backup but the configured database is {backend}; "
            f"restore it into a {kind} database (set [database] url)"
        )
    if backend == "sqlite":
        _sqlite_restore(source, _sqlite_path(url))
    else:
        target = make_url(url)
        args = ["--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error"]
        # pg_restore needs --dbname (it ignores PGDATABASE); host, user and password still come from PG*.
        dbname = libpq_environment(target).get("PGDATABASE", "")
        _run_pg(pg_bin, "pg_restore", [*args, f"--dbname={dbname}", str(source)], target)
    database = Database(url)
    try:
        database.upgrade()  # a backup from an older version gets this version's schema
        return database.current_revision()
    finally:
        database.dispose()


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest time-stamped backups in ``folder``; return what was deleted."""
    found = sorted((p for suffix in SUFFIX.values() for p in folder.glob(f"socialcrm-*{suffix}")), key=lambda p: p.name)
    doomed = found[: max(0, len(found) - keep)]
    for path in doomed:
        path.unlink()
    return doomed


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError(f"{redact_url(url)}: only a SQLite database file can be backed up")
    return Path(database)


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.exists():
        raise BackupError(f"{source}: no database file (run `socialcrm init` or `socialcrm db upgrade`)")
    live = sqlite3.connect(source, timeout=60)
    copy = sqlite3.connect(target)
    try:
        live.execute("PRAGMA busy_timeout=60000")
        # All pages in one step: one read transaction, so the copy is a single moment even while
        # the daemon writes (step-wise copying restarts whenever another connection writes).
        live.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal/-shm beside it
        _check_integrity(copy, target)
    except sqlite3.Error as err:
        raise BackupError(f"SQLite backup of {source} failed: {err}") from err
    finally:
        copy.close()
        live.close()


def _sqlite_restore(source: Path, target: Path) -> None:
    backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        _check_integrity(backup_db, source)
        _check_revision(backup_db, source)
        target.parent.mkdir(parents=True, exist_ok=True)
        live = sqlite3.connect(target, timeout=60)
        try:
            live.execute("PRAGMA busy_timeout=60000")
            # The backup API writes through SQLite's own locking and journal, so the -wal and -shm
            # files stay consistent (copying the file over a WAL database would corrupt it).
            backup_db.backup(live)
            live.execute("PRAGMA journal_mode=WAL")
        finally:
            live.close()
    except sqlite3.Error as err:
        raise BackupError(f"SQLite restore from {source} failed: {err}") from err
    finally:
        backup_db.close()


def _check_revision(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a backup made by a newer socialcrm: this version could not run on (or migrate) it."""
    from alembic.script import ScriptDirectory

    from socialcrm.db import alembic_config

    try:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        raise BackupError(f"{path} holds no socialcrm schema (no alembic_version table)") from None
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()}
    if revision and revision[0] not in known:
        raise BackupError(
            f"{path} was made by a newer socialcrm (schema {revision[0]}); install that version to restore it"
        )


def _check_integrity(connection: sqlite3.Connection, path: Path) -> None:
    result = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise BackupError(f"{path} fails SQLite's integrity check: {'; '.join(result[:5])}")


def find_pg_tool(name: str, pg_bin: str | None = None) -> str:
    """``pg_dump``/``pg_restore``: from ``pg_bin``, else the PATH, else the newest of Debian's versioned folders."""
    if pg_bin:
        candidate = Path(pg_bin) / name
        if not os.access(candidate, os.X_OK):
            raise BackupError(f"{candidate} is not an executable")
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    versioned = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if versioned:
        return versioned[-1]
    raise BackupError(f"{name} not found: install the PostgreSQL client (Debian: apt-get install postgresql-client)")


def libpq_environment(url: URL) -> dict[str, str]:
    """The PG* variables that point libpq at ``url``, the password in PGPASSWORD (not on a command line)."""
    env = {
        "PGHOST": url.host or "",
        "PGPORT": str(url.port or ""),
        "PGUSER": url.username or "",
        "PGDATABASE": url.database or "",
        "PGPASSWORD": url.password or "",
    }
    options: dict[str, Any] = dict(url.query)
    for key, variable in (("host", "PGHOST"), ("port", "PGPORT"), ("sslmode", "PGSSLMODE")):
        value = options.pop(key, None)
        if value:
            env[variable] = value if isinstance(value, str) else value[0]
    if options:
        raise BackupError(f"unsupported options in the database URL for pg_dump: {', '.join(sorted(options))}")
    return {key: value for key, value in env.items() if value}


def _run_pg(pg_bin: str | None, tool: str, args: list[str], url: URL) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(libpq_environment(url))
    try:
        done = subprocess.run(
            [find_pg_tool(tool, pg_bin), "--no-password", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=PG_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise BackupError(f"{tool} did not finish within {PG_TIMEOUT / 3600:.0f} hours") from err
    if done.returncode != 0:
        message = done.stderr.strip() or f"exit status {done.returncode}"
        raise BackupError(f"{tool} failed for {redact_url(url.render_as_string(hide_password=False))}: {message}")


def _revision(url: str) -> str | None:
    database = Database(url)
    try:
        return database.current_revision()
    except SQLAlchemyError:  # the revision is a nicety in the report, never a reason to fail
        return None
    finally:
        database.dispose()
