"""Procrastinate's job-queue schema, applied by our Alembic migrations on PostgreSQL (and skipped on SQLite).

Procrastinate ships two things in its wheel: ``sql/schema.sql``, the whole schema of the installed
version, and ``sql/migrations/xx.yy.zz_NN_[pre_|post_]name.sql``, one script per schema change, named
after the release that brought it. It keeps no record of what a database holds; that is left to the
project's own migration tool (Procrastinate's docs, "Migrate the Procrastinate schema").

Here Alembic stays the one tool a user runs. ``upgrade_procrastinate_schema`` applies ``schema.sql`` to
a database without Procrastinate's tables, or else every shipped script newer than the version the
database records, and then records the installed version in a comment on ``procrastinate_jobs`` (a
comment travels with pg_dump/pg_restore, so a restored backup keeps it).

pyproject.toml pins Procrastinate to one minor series. Raising the pin takes a new Alembic revision
that calls ``upgrade_procrastinate_schema`` again: it then applies the scripts of the releases in
between (pre and post alike, since socialcrm upgrades with its processes stopped). ``schema_problem``
tells a worker at start when the database is behind the installed Procrastinate.
"""

from __future__ import annotations

import re
from importlib import metadata, resources
from importlib.resources.abc import Traversable

from sqlalchemy import text
from sqlalchemy.engine import Connection

from socialcrm.errors import DatabaseError

MARKER = "socialcrm: procrastinate schema "
TABLES = ("procrastinate_jobs", "procrastinate_workers", "procrastinate_periodic_defers", "procrastinate_events")
_SCRIPT = re.compile(r"^(\d+)\.(\d+)\.(\d+)_(\d+)_.*\.sql$")

Version = tuple[int, int, int]


def is_procrastinate_table(name: str | None) -> bool:
    """True for Procrastinate's own tables, which our models do not describe."""
    return bool(name) and str(name).startswith("procrastinate_")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name`` hook: compare our tables only, never Procrastinate's."""
    return not (type_ == "table" and is_procrastinate_table(name))


def installed_version() -> Version:
    """The version of the installed Procrastinate, as (major, minor, patch)."""
    return _version(metadata.version("procrastinate"))


def _version(value: str) -> Version:
    numbers = [int(part) for part in re.findall(r"\d+", value)[:3]]
    numbers += [0] * (3 - len(numbers))
    return numbers[0], numbers[1], numbers[2]


def _sql_folder() -> Traversable:
    return resources.files("procrastinate") / "sql"


def shipped_scripts() -> list[tuple[Version, int, str]]:
    """Every migration script in the installed Procrastinate: (version, serial, file name), in order."""
    scripts = []
    for entry in (_sql_folder() / "migrations").iterdir():
        match = _SCRIPT.match(entry.name)
        if match:
            major, minor, patch, serial = (int(g) for g in match.groups())
            scripts.append(((major, minor, patch), serial, entry.name))
    return sorted(scripts)


def scripts_after(version: Version) -> list[str]:
    """The names of the shipped scripts that a database at ``version`` has not had yet, in order."""
    return [name for script_version, _, name in shipped_scripts() if script_version > version]


def recorded_version(connection: Connection) -> Version | None:
    """The Procrastinate version whose schema the database holds, or None when it has none."""
    if not _has_jobs_table(connection):
        return None
    comment = connection.execute(text("SELECT obj_description('procrastinate_jobs'::regclass, 'pg_class')")).scalar()
    if not isinstance(comment, str) or not comment.startswith(MARKER):
        raise DatabaseError(
            "the database has Procrastinate tables that socialcrm did not create (no version recorded on "
            "procrastinate_jobs); use a database of its own for socialcrm"
        )
    return _version(comment[len(MARKER) :])


def _has_jobs_table(connection: Connection) -> bool:
    return connection.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar() is True


def upgrade_procrastinate_schema(connection: Connection) -> list[str]:
    """Bring Procrastinate's schema to the installed version; return what was applied (nothing on SQLite)."""
    if connection.dialect.name != "postgresql":
        return []
    recorded = recorded_version(connection)
    folder = _sql_folder()
    if recorded is None:
        applied = ["schema.sql"]
        _execute_script(connection, (folder / "schema.sql").read_text(encoding="utf-8"))
    else:
        applied = scripts_after(recorded)
        for name in applied:
            _execute_script(connection, (folder / "migrations" / name).read_text(encoding="utf-8"))
    version = ".".join(str(part) for part in installed_version())
    # COMMENT takes no bind parameters; the version is digits and dots only.
    connection.exec_driver_sql(f"COMMENT ON TABLE procrastinate_jobs IS '{MARKER}{version}'")
    return applied


def _execute_script(connection: Connection, sql: str) -> None:
    """Run a whole SQL file in the migration's transaction, on the driver's cursor.

    The driver's own cursor without parameters runs several statements at once and leaves ``%`` alone
    (Procrastinate's functions use it in RAISE formats).
    """
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(sql)


def schema_problem(connection: Connection) -> str | None:
    """Why workers cannot use this database's queue yet (schema missing or behind), or None."""
    recorded = recorded_version(connection)
    if recorded is None:
        return "the database has no job queue yet: run `socialcrm db upgrade`"
    missing = scripts_after(recorded)
    if missing:
        shown = ".".join(str(p) for p in recorded)
        return (
            f"the job queue schema is Procrastinate {shown}, older than the installed one "
            f"({len(missing)} migration(s) missing): run `socialcrm db upgrade`"
        )
    return None
