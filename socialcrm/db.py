"""The database: engine, sessions, one writer with BEGIN IMMEDIATE on SQLite, and Alembic upgrades.

SQLite runs in WAL mode; every write transaction starts with ``BEGIN IMMEDIATE`` (DESIGN.md:
deferred transactions lost 63 of 80 read-then-write races, immediate ones none) and, inside one
process, a lock keeps to one writer (on PostgreSQL too, where READ COMMITTED would otherwise lose
read-then-write updates). PostgreSQL uses the same code with ordinary transactions; there, writes
that are safe against any other writer (the pipeline's batch stores) skip that lock (``concurrent``).
The event loop never touches the database directly: async callers go through ``run_write`` /
``run_read``, which run the work in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import select
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, InvalidatePoolError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlmodel import Session, create_engine

import socialcrm.models  # noqa: F401  (registers every table)
from socialcrm.errors import DatabaseError

logger = logging.getLogger(__name__)
T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
UPGRADE_LOCK_KEY = 0x5C1A1C0DE  # pg_advisory_xact_lock key held while migrating a PostgreSQL database
# Concurrent writes (``Database.write(concurrent=True)``) one process runs at once on PostgreSQL.
CONCURRENT_WRITERS = 3
# A pooled PostgreSQL connection unused this long is pinged before it is handed out (see _ping_after_idle).
PING_AFTER_IDLE_SECONDS = 1.0
_OUTWARD = "socialcrm.commits_outward"  # session.info key set by ``commits_outward``


class Database:
    """One database, opened from a SQLAlchemy URL."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_size"] = 5  # checked on checkout after an idle spell instead of pool_pre_ping (below)
            kwargs["max_overflow"] = 10
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError, ValueError) as err:
            raise DatabaseError(f"cannot open database {redact_url(url)}: {err}") from err
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _ping_after_idle(self.engine, PING_AFTER_IDLE_SECONDS)
        self._write_engine = self.engine.execution_options(immediate=True)
        # One writer per process on both backends: read-then-write code stays race-free without
        # every service having to take row locks (cross-process writers rely on constraints and CAS).
        # A `socialcrm worker` on PostgreSQL lifts it (write_concurrently).
        self._write_lock: threading.Lock | None = threading.Lock()
        self._concurrent_slots = threading.BoundedSemaphore(CONCURRENT_WRITERS)

    def write_concurrently(self) -> None:
        """Let this process's write transactions run at once, on PostgreSQL (SQLite keeps one writer).

        For ``socialcrm worker`` processes: every job they run (a poll, a send, the scheduler) is already
        safe against the same job in another worker process, through constraints, insert-or-get, the
        person locks and the outbox fence, so the jobs of one process need no lock of their own either.
        Serialised, a worker's polls queued behind each other's stores: one worker's throughput was
        capped by its write lock, not by its job slots.
        """
        if not self.is_sqlite:
            self._write_lock = None

    def session(self) -> Session:
        """A session for reading (and small writes outside the daemon's hot path)."""
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def write(self, *, concurrent: bool = False, synchronous_commit: bool = True) -> Iterator[Session]:
        """A write transaction: BEGIN IMMEDIATE on SQLite, committed on success, rolled back on error.

        ``synchronous_commit=False``: on PostgreSQL the commit returns before its WAL is on disk
        (``SET LOCAL synchronous_commit = off``, this transaction only), as SQLite's WAL mode with
        ``synchronous=NORMAL`` always does. Only for writes that a crash may take back because they are
        made again (a stored page with its source's cursor: the next poll fetches the page again), and
        never for one that records something done outward: that commit flushes the WAL, and with it
        every earlier commit, so nothing sent can rest on a write a crash took back. One that queues
        something to go out (``commits_outward``) is committed synchronously all the same.

        ``concurrent``: the transaction is safe against any other writer, in this process or another
        (it keeps to constraints, insert-or-get, advisory locks and retries a deadlock, as the
        pipeline's batch stores do, which ``socialcrm worker`` processes run many at once). On
        PostgreSQL it then skips the process's one-writer lock, up to ``CONCURRENT_WRITERS`` at a
        time, so the server's work and commits overlap the process's own CPU work. SQLite keeps
        one writer for everything.
        """
        lock = self._write_lock
        synchronous = synchronous_commit or self.is_sqlite
        if concurrent and lock is not None and not self.is_sqlite:
            with self._concurrent_slots, self._transaction(synchronous) as session:
                yield session
            return
        if lock is not None:
            lock.acquire()
        try:
            with self._transaction(synchronous) as session:
                yield session
        finally:
            if lock is not None:
                lock.release()

    @contextmanager
    def _transaction(self, synchronous_commit: bool = True) -> Iterator[Session]:
        with Session(self._write_engine, expire_on_commit=False) as session:
            with session.begin():
                if not synchronous_commit:
                    session.connection().exec_driver_sql("SET LOCAL synchronous_commit = off")
                yield session
                if not synchronous_commit and session.info.get(_OUTWARD):
                    # It queued something to go out after all: its commit waits for the flush, as any other.
                    session.connection().exec_driver_sql("SET LOCAL synchronous_commit = on")

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; nothing it changes is committed."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    async def run_write(
        self, fn: Callable[[Session], T], *, concurrent: bool = False, synchronous_commit: bool = True
    ) -> T:
        """Run ``fn(session)`` in a write transaction on a worker thread (the options: see ``write``)."""

        def work() -> T:
            with self.write(concurrent=concurrent, synchronous_commit=synchronous_commit) as session:
                return fn(session)

        return await asyncio.to_thread(work)

    async def run_read(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` on a worker thread with a read session."""

        def work() -> T:
            with self.read() as session:
                return fn(session)

        return await asyncio.to_thread(work)

    def upgrade(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        from alembic import command

        try:
            with self.engine.begin() as connection:
                if not self.is_sqlite:
                    # Workers on several machines start at once: one migrates, the others wait and
                    # then find the schema at head (the lock ends with this transaction).
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK_KEY})")
                cfg = alembic_config(self.url)
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "head")
        except OperationalError as err:
            raise DatabaseError(f"cannot upgrade database {redact_url(self.url)}: {err.orig}") from err

    def current_revision(self) -> str | None:
        """The Alembic revision the database is at (None when it has none)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def has_tables(self) -> bool:
        """True when the database holds any table."""
        return bool(inspect(self.engine).get_table_names())

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


class GroupedWrites:
    """Small writes that many coroutines ask for at about the same time, done together in one transaction.

    A poll of a thousand unchanged feeds records a thousand source states: one write transaction each
    costs a thousand commits (each an fsync on PostgreSQL). ``write(fn)`` queues ``fn(session)``; while
    one group's transaction runs, the next group gathers, so the writes of concurrent callers share a
    commit. ``write`` returns once its own change is committed, with what ``fn`` returned, or raises
    what it raised. A group that fails is done again write by write, so one failing write costs only
    its own caller. Meant for one event loop at a time (a new loop starts a new queue).
    """

    def __init__(
        self,
        db: Database,
        prefetch: Callable[[Session, list[str]], object] | None = None,
        *,
        synchronous_commit: bool = True,
    ) -> None:
        self.db = db
        self.prefetch = prefetch  # reads the rows the group's writes name (``key``) in one query first
        self.synchronous_commit = synchronous_commit  # see ``Database.write``
        self._waiting: list[tuple[Callable[[Session], Any], str | None, asyncio.Future[Any]]] = []
        self._runner: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.transactions = 0  # how many write transactions the groups took (for tests and benchmarks)

    async def write(self, fn: Callable[[Session], T], *, key: str | None = None) -> T:
        """Run ``fn(session)`` in a write transaction shared with the writes queued meanwhile.

        ``key`` names the row ``fn`` reads, for ``prefetch`` to read with the others of the group.
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._waiting, self._runner = loop, [], None
        future: asyncio.Future[T] = loop.create_future()
        self._waiting.append((fn, key, future))
        if self._runner is None:
            self._runner = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        group: list[tuple[Callable[[Session], Any], str | None, asyncio.Future[Any]]] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                try:
                    results = await self._write([(fn, key) for fn, key, _ in group])
                except Exception:  # noqa: BLE001 - each write is tried alone below, its error goes to its caller
                    for fn, key, future in group:
                        await self._write_alone(fn, key, future)
                else:
                    for (_, _, future), result in zip(group, results, strict=True):
                        if not future.done():
                            future.set_result(result)
                group = []
        except asyncio.CancelledError:
            # The loop is closing: what was not written yet is dropped with its callers, never written later.
            for _, _, future in group + self._waiting:
                future.cancel()
            self._waiting = []
            raise
        finally:
            self._runner = None

    async def _write_alone(self, fn: Callable[[Session], Any], key: str | None, future: asyncio.Future[Any]) -> None:
        try:
            result = await self._write([(fn, key)])
        except Exception as err:  # noqa: BLE001 - handed to the caller who asked
            if not future.done():
                future.set_exception(err)
        else:
            if not future.done():
                future.set_result(result[0])

    async def _write(self, items: list[tuple[Callable[[Session], Any], str | None]]) -> list[Any]:
        self.transactions += 1
        keys = sorted({key for _, key in items if key is not None})

        def work(session: Session) -> list[Any]:
            # Held while the writes run: the session keeps rows only as long as someone refers to them.
            read = self.prefetch(session, keys) if self.prefetch is not None and keys else None
            results = [fn(session) for fn, _ in items]
            del read
            return results

        return await self.db.run_write(work, synchronous_commit=self.synchronous_commit)


def commits_outward(session: Session) -> None:
    """Mark the session's write transaction as one that queues something to leave the system (an outbox row).

    Its commit then waits for its WAL flush even where the transaction asked not to
    (``Database.write(synchronous_commit=False)``): an approval or a queued webhook is never taken
    back by a crash of the database server.
    """
    session.info[_OUTWARD] = True


def lock_across_processes(session: Session, names: Iterable[str]) -> None:
    """Hold a lock on each name until this write transaction ends; another one naming any of them waits.

    On PostgreSQL, workers on several machines store batches at once, and batches of different sources
    meet the same people: two would create the same prospect in the same moment, and two that create
    them in opposite orders would deadlock. Locking every person of a batch first, in one statement and
    in one fixed order (sorted 64-bit keys), serialises exactly the batches that share someone and
    cannot deadlock on those locks. SQLite needs none: ``BEGIN IMMEDIATE`` already makes every write
    transaction the only one.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted(
        {int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True) for name in names}
    )
    if keys:
        # unnest yields the array in order and count() takes the locks row by row, in that order.
        session.connection().execute(
            text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS k"), {"keys": keys}
        )


def must_restart_transaction(err: BaseException) -> bool:
    """True for a deadlock or serialisation failure: the whole transaction has to be run again."""
    code = getattr(getattr(err, "orig", None), "sqlstate", None)
    return code in ("40P01", "40001")


# SQLite's messages for a database file it cannot use now (another process holds its lock past busy_timeout,
# the disk is full or failing, the file cannot be opened); its other OperationalErrors are bugs or a schema
# out of step ("no such table"), not an outage.
_SQLITE_UNAVAILABLE = ("database is locked", "disk i/o error", "database or disk is full", "unable to open database")


def is_unavailable(err: BaseException) -> bool:
    """True when ``err`` says the database cannot be used just now (later it may), not that a statement is wrong.

    On PostgreSQL: no connection to be had (server down or restarting, closed to connections, too
    many clients), one that broke, and the server's operational errors (shutting down, out of disk,
    a cancelled statement). On SQLite: a file locked past ``busy_timeout``, a full or failing disk.
    A pool with no connection free within its timeout counts too.
    """
    if isinstance(err, SQLAlchemyTimeoutError):
        return True
    if not isinstance(err, DBAPIError):
        return False
    if err.connection_invalidated:
        return True
    if not isinstance(err, OperationalError):
        return False
    if type(err.orig).__module__.startswith("sqlite3"):
        message = str(err.orig).lower()
        return any(part in message for part in _SQLITE_UNAVAILABLE)
    return True


def cause_of(err: BaseException) -> str:
    """A database error on one line for a log: the driver's error class and first line, no SQL, no parameters.

    SQLAlchemy's own message adds the statement and its parameters, which may hold what a person typed or a post.
    """
    orig = err.orig if isinstance(err, DBAPIError) else err
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0].strip() if lines else ''}"


def _ping_after_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection on checkout when it lay unused for ``idle_seconds``; replace it if the ping fails.

    What ``pool_pre_ping`` did on every checkout, where it cost a round trip and 0.01 CPU ms per mention
    in the first poll (about three checkouts per page): a server restarted or a connection dropped
    while the pool held it is found here, and SQLAlchemy connects anew (an ``InvalidatePoolError`` from
    a checkout listener makes the pool drop the connections it holds and retry with a fresh one). A
    connection handed back less than ``idle_seconds`` ago is pinged only when its socket has something
    to read (``_server_spoke``): a server that restarted within that second closed it, and the first
    request after the restart would otherwise fail on it. A connection the server dropped without a
    word (a network cut) is found by the ping after ``idle_seconds``; a statement that fails on it
    makes SQLAlchemy drop every pooled connection.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN)  # none for a connection made just now (info goes with it)
        if since is None or (time.monotonic() - since < idle_seconds and not _server_spoke(dbapi_connection)):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as err:
            # As pool_pre_ping: the server probably restarted, so every connection pooled before now is dropped.
            raise InvalidatePoolError(f"pooled connection lost while idle: {err}") from err


_CHECKED_IN = "socialcrm.checked_in_at"


def _server_spoke(dbapi_connection: Any) -> bool:
    """True when an idle connection's socket has something to read: the server closed it, or is about to.

    A connection at rest between transactions is sent nothing, unless the server ends it: a restart,
    a shutdown or ``pg_terminate_backend`` sends its last message and closes the socket. One poll
    with no wait (no round trip, a few microseconds) finds such a connection before it is handed out.
    """
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except Exception:  # noqa: BLE001 - no socket to look at (closed already): let the ping decide
        return True


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin (SQLAlchemy docs, pysqlite).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("immediate"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def alembic_config(url: str) -> Any:
    """An Alembic Config pointing at the packaged migrations."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def redact_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown without its credentials part
        return url.split("@")[-1]


def open_database(config: Any, *, upgrade: bool = False) -> Database:
    """Open the configured database; with ``upgrade`` also migrate it to the newest schema."""
    database = Database(config.database_url(), echo=config.database.echo)
    if upgrade:
        database.upgrade()
    return database
