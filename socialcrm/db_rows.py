"""Writing rows without the ORM's unit of work: insert-or-skip, bulk inserts, one row with its id, ids ahead.

The pipeline stores thousands of rows a minute; these helpers send them as few statements as the
database allows (on PostgreSQL one prepared ``INSERT ... SELECT FROM unnest(...)`` per table) and build
the instances callers read back without ``__init__`` or a query (``models.as_stored``).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol, TypeVar

from pydantic_core import PydanticUndefined
from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import make_transient, make_transient_to_detached
from sqlalchemy.types import TypeEngine
from sqlmodel import Session, SQLModel

from socialcrm.models import as_stored, table_of

Model = TypeVar("Model", bound=SQLModel)
_BOUNDED_STRING = re.compile(r"VARCHAR\(\d+\)")


class Inserter(Protocol):
    """Stores one row of ``model`` (``insert_one``'s shape) and returns the instance with its id."""

    def __call__(self, session: Session, model: type[Model], values: Mapping[str, Any], /) -> Model:
        """Store the row (now, or numbered now and written later) and return its instance."""
        ...


def insert_missing(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    conflict: Sequence[str],
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert the rows whose ``conflict`` columns are not taken yet; return the inserted ones.

    Each returned row holds the ``returning`` columns (default: the ``conflict`` columns), in no
    particular order.

    ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL alike: of two processes inserting
    the same key at once, one inserts and the other skips it without an error, so the caller then
    reads the row either way (insert-or-get) and nothing fails on a race.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect
    names = list(rows[0])
    defaulted = {column.key for column in table.columns if column.default is not None}
    # Several rows naming the same columns, every column with a default among them (unnest sends only those).
    if (
        dialect.name == "postgresql"
        and len(rows) > 1
        and defaulted <= set(names)
        and all(list(r) == names for r in rows)
    ):
        return _insert_missing_unnested(session, table, rows, names, conflict, returning or conflict)
    insert: Any = postgresql_insert if dialect.name == "postgresql" else sqlite_insert
    returned = [table.c[name] for name in returning or conflict]
    statement = insert(table).on_conflict_do_nothing(index_elements=list(conflict)).returning(*returned)
    return [tuple(row) for row in session.connection().execute(statement, list(rows))]


def _insert_missing_unnested(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    conflict: Sequence[str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """``insert_missing`` on PostgreSQL: one array per column, ``INSERT ... SELECT FROM unnest(...)``.

    The same statement text for any number of rows, with one parameter per column: psycopg converts
    it once and prepares it, and the server plans it once. A multi-row ``VALUES`` list (50 mentions:
    1,350 parameters) was converted by psycopg and parsed and planned by the server afresh for every
    batch, its text too long for either's cache. unnest yields the rows in the arrays' order, so ids
    are given in the order of ``rows`` as before. Values go through each column type's own bind
    processing (JSON, UTC datetimes), exactly as SQLAlchemy's insert would send them.
    """
    dialect = session.get_bind().dialect
    plan = _unnest_plan(table, tuple(names), dialect)
    statement, results = _insert_missing_text(table, tuple(names), tuple(conflict), tuple(returning), dialect)
    return [
        tuple(value if result is None else result(value) for value, result in zip(row, results, strict=True))
        for row in session.connection().exec_driver_sql(statement, plan.arrays(rows))
    ]


class _UnnestPlan:
    """How rows naming ``names`` of ``table`` go to PostgreSQL as unnest arrays: casts and bind processing.

    Built once per table, columns and dialect (``_unnest_plan``): compiling the column types and
    looking up their bind processors for every batch took longer than the batch's values did.
    """

    def __init__(self, table: Table, names: tuple[str, ...], dialect: Dialect, prefix: str = "p") -> None:
        quote = dialect.identifier_preparer.quote
        columns = [table.c[name] for name in names]
        self.names = names
        self.parameters = [f"{prefix}{i}" for i in range(len(names))]
        # Binary format (``%b``): each value is dumped by its type's C dumper and prefixed with its length.
        # In the text format psycopg quoted and backslash-escaped every value with a regular expression
        # in Python (every '"' of every JSON value: 0.18 of the 0.96 CPU ms a mention cost the bench's
        # process). The server casts each array to its column's type either way, so what is stored is
        # the same, NULLs, JSON and time zones included (tests/core/test_database.py, awkward values).
        self.unnest = "unnest({})".format(
            ", ".join(
                f"CAST(%({p})b AS {_array_element(c.type, dialect)}[])"
                for p, c in zip(self.parameters, columns, strict=True)
            )
        )
        self.target = dialect.identifier_preparer.format_table(table)
        self.quoted = [quote(name) for name in names]
        self.processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]

    def arrays(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        """One array per column, its values bind-processed as SQLAlchemy's own insert would send them."""
        arrays: dict[str, list[Any]] = {}
        for parameter, name, process in zip(self.parameters, self.names, self.processors, strict=True):
            values = [row[name] for row in rows]
            arrays[parameter] = values if process is None else [process(v) for v in values]
        return arrays


def _array_element(column_type: TypeEngine[Any], dialect: Dialect) -> str:
    """The element type of a column's unnest array: its own, but a string's without its length.

    ``CAST(... AS VARCHAR(16)[])`` cut longer values silently (an explicit cast truncates), where a
    one-row insert refuses them. Cast to unbounded text, the column's own assignment checks the length:
    an over-long value fails the statement as it would one by one, and is never stored cut on
    PostgreSQL while SQLite keeps it whole. Callers clamp what they may cut (``pipeline._row``).
    """
    compiled = column_type.compile(dialect=dialect)
    return "VARCHAR" if _BOUNDED_STRING.fullmatch(compiled) else compiled


@lru_cache(maxsize=256)
def _unnest_plan(table: Table, names: tuple[str, ...], dialect: Dialect, prefix: str = "p") -> _UnnestPlan:
    """The plan for rows naming ``names`` of ``table`` (its parameters named ``prefix`` + number), built once."""
    return _UnnestPlan(table, names, dialect, prefix)


@lru_cache(maxsize=256)
def _insert_missing_text(
    table: Table, names: tuple[str, ...], conflict: tuple[str, ...], returning: tuple[str, ...], dialect: Dialect
) -> tuple[str, list[Any]]:
    """The statement of ``_insert_missing_unnested`` and the result processing of each returned column."""
    quote = dialect.identifier_preparer.quote
    statement = (
        f"{_unnest_insert_text(table, names, dialect)}"
        f" ON CONFLICT ({', '.join(quote(n) for n in conflict)}) DO NOTHING"
        f" RETURNING {', '.join(quote(n) for n in returning)}"
    )
    return statement, [table.c[name].type.dialect_impl(dialect).result_processor(dialect, None) for name in returning]


@lru_cache(maxsize=256)
def _unnest_insert_text(table: Table, names: tuple[str, ...], dialect: Dialect, prefix: str = "p") -> str:
    """PostgreSQL's ``INSERT INTO table (names) SELECT * FROM unnest(...)`` for rows naming ``names``."""
    plan = _unnest_plan(table, names, dialect, prefix)
    return f"INSERT INTO {plan.target} ({', '.join(plan.quoted)}) SELECT * FROM {plan.unnest}"


@lru_cache(maxsize=256)
def _inserts_text(tables: tuple[tuple[Table, tuple[str, ...]], ...], dialect: Dialect) -> str:
    """One PostgreSQL statement inserting into each table in turn: all but the last as a data-modifying WITH."""
    inserts = [_unnest_insert_text(table, names, dialect, f"t{i}p") for i, (table, names) in enumerate(tables)]
    *first, last = inserts
    return f"WITH {', '.join(f'w{i} AS ({text})' for i, text in enumerate(first))} {last}"


@lru_cache(maxsize=256)
def _unnest_update_text(table: Table, names: tuple[str, ...], dialect: Dialect) -> str:
    """PostgreSQL's ``UPDATE table SET ... FROM unnest(...) WHERE id = ...`` for rows naming ``id`` and ``names``."""
    plan, quote = _unnest_plan(table, names, dialect), dialect.identifier_preparer.quote
    changed = [quote(name) for name in names if name != "id"]
    return (
        f"UPDATE {plan.target} SET {', '.join(f'{n} = u.{n}' for n in changed)}"
        f" FROM {plan.unnest} AS u({', '.join(plan.quoted)})"
        f" WHERE {plan.target}.{quote('id')} = u.{quote('id')}"
    )


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each naming the same columns) in one statement; a taken unique key raises as usual.

    On PostgreSQL several rows go as one ``INSERT ... SELECT FROM unnest(...)`` (one prepared statement
    whatever their number, see ``_insert_missing_unnested``); else as SQLAlchemy's executemany insert.
    """
    if not rows:
        return
    names = list(rows[0])
    if session.get_bind().dialect.name == "postgresql" and len(rows) > 1 and all(list(r) == names for r in rows):
        dialect, key = session.get_bind().dialect, tuple(names)
        arrays = _unnest_plan(table, key, dialect).arrays(rows)
        session.connection().exec_driver_sql(_unnest_insert_text(table, key, dialect), arrays)
        return
    session.connection().execute(table.insert(), list(rows))


def insert_tables(session: Session, batches: Sequence[tuple[Table, Sequence[Mapping[str, Any]]]]) -> None:
    """Insert the rows of several tables (``insert_rows`` for each, in the order given); one statement on PostgreSQL.

    On PostgreSQL the tables' unnest inserts go as one statement (each but the last a data-modifying
    ``WITH``), one round trip instead of one per table. Its parts run together, but foreign keys are
    checked when the whole statement ends, so a row may refer to one inserted by an earlier part, and a
    taken unique key or a missing row still fails the statement. Elsewhere, or when the rows of a table
    name different columns, one ``insert_rows`` per table.
    """
    batches = [(table, rows) for table, rows in batches if rows]
    dialect = session.get_bind().dialect
    shapes = tuple((table, tuple(rows[0])) for table, rows in batches)
    if (
        dialect.name != "postgresql"
        or len(batches) < 2
        or not all(list(r) == list(names) for (_, rows), (_, names) in zip(batches, shapes, strict=True) for r in rows)
    ):
        for table, rows in batches:
            insert_rows(session, table, rows)
        return
    arrays: dict[str, list[Any]] = {}
    for index, ((table, names), (_, rows)) in enumerate(zip(shapes, batches, strict=True)):
        arrays.update(_unnest_plan(table, names, dialect, f"t{index}p").arrays(rows))
    session.connection().exec_driver_sql(_inserts_text(shapes, dialect), arrays)


def update_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Set columns of rows found by their ``id`` (each row names ``id`` and the same columns): one statement.

    On PostgreSQL ``UPDATE ... FROM unnest(...)``: one prepared statement and one plan for every row,
    where an executemany runs the UPDATE once per row; else SQLAlchemy's executemany.
    """
    if not rows:
        return
    names = list(rows[0])
    changed = [name for name in names if name != "id"]
    if session.get_bind().dialect.name == "postgresql" and len(rows) > 1 and all(list(r) == names for r in rows):
        dialect, key = session.get_bind().dialect, tuple(names)
        arrays = _unnest_plan(table, key, dialect).arrays(rows)
        text = _unnest_update_text(table, key, dialect)
        session.connection().exec_driver_sql(text, arrays)
        return
    statement = (
        table.update().where(table.c.id == bindparam("row_id")).values({n: bindparam(f"new_{n}") for n in changed})
    )
    session.connection().execute(statement, [{"row_id": r["id"], **{f"new_{n}": r[n] for n in changed}} for r in rows])


class NewIds:
    """Ids for rows written later in one insert, numbered as the database numbers rows inserted one by one.

    PostgreSQL: ``nextval`` of the id's sequence, one value per row taken (what the row's own insert
    would have drawn; other writers draw from the same sequence), several in one statement when the
    caller knows about how many it will take (``draw``). SQLite: an INTEGER PRIMARY KEY
    without AUTOINCREMENT gets the highest id + 1 (SQLite's rowid choice). The highest is read once
    per table; SQLite's write transactions run one at a time (``BEGIN IMMEDIATE``), so nobody else
    inserts meanwhile, and the caller inserts no row of these tables but those it numbered here until
    they are written. One instance serves one transaction.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"
        self._next: dict[str, int] = {}
        self._drawn: dict[str, deque[int]] = {}  # PostgreSQL: ids drawn ahead (``draw``), lowest first

    def draw(self, wanted: Mapping[Table, int]) -> None:
        """Draw up to ``wanted[table]`` ids of each table ahead, all in one statement, for ``take`` to hand out.

        On PostgreSQL each id costs a round trip when drawn by ``take`` alone: a batch opening twenty
        tickets and drafts waited for twenty. ``take`` hands the ids drawn here out lowest first and
        draws one more by itself only once they are used up. An id drawn and never taken is not used
        by anyone (a gap in the numbering, as a rolled-back insert leaves one), so ``wanted`` should be
        a close upper bound. SQLite numbers rows without asking the database: nothing to draw.
        """
        tables = [(table.name, count) for table, count in wanted.items() if count > 0]
        if not self._postgres or not tables:
            return
        parts: list[str] = []
        values: dict[str, Any] = {}
        for index, (name, count) in enumerate(tables):
            parts.append(
                f"SELECT %(t{index})s::text, nextval(pg_get_serial_sequence(%(t{index})s, 'id'))"
                f" FROM generate_series(1, %(n{index})s::integer)"
            )
            values |= {f"t{index}": name, f"n{index}": count}
        drawn: dict[str, list[int]] = {}
        for name, value in self.session.connection().exec_driver_sql(" UNION ALL ".join(parts), values):
            drawn.setdefault(name, []).append(int(value))
        for name, ids in drawn.items():
            self._drawn[name] = deque(sorted([*self._drawn.get(name, ()), *ids]))

    def take(self, table: Table) -> int:
        """The id of the next row of ``table`` (on PostgreSQL one drawn ahead by ``draw``, if any is left)."""
        if self._postgres:
            ahead = self._drawn.get(table.name)
            if ahead:
                return ahead.popleft()
            drawn = self.session.connection().exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence(%(table)s, 'id'))", {"table": table.name}
            )
            return int(drawn.scalar_one())
        if table.name not in self._next:
            highest = self.session.connection().execute(select(func.max(table.c.id))).scalar()
            self._next[table.name] = (highest or 0) + 1
        taken = self._next[table.name]
        self._next[table.name] = taken + 1
        return taken


def insert_one(session: Session, model: type[Model], values: Mapping[str, Any]) -> Model:
    """Insert one row of ``model`` (its defaults filled in) and return it as a persistent instance with its id.

    One ``INSERT ... RETURNING id`` instead of building the instance through ``__init__`` and flushing
    the session's unit of work for it: the pipeline opens tickets and drafts by the thousand. Objects
    waiting to be inserted are flushed first, so a row the new one refers to exists.
    """
    if session.new:
        session.flush()
    table = table_of(model)
    row = with_defaults(model, values)
    row.pop("id", None)
    new_id = session.connection().execute(table.insert().returning(table.c.id), row).scalar_one()
    instance = as_stored(model, {**dict.fromkeys(table.c.keys()), **row, "id": new_id})
    session.add(instance)
    return instance


def with_defaults(model: type[SQLModel], values: Mapping[str, Any]) -> dict[str, Any]:
    """A row of ``model``'s table: ``values`` over the default of every column that has one (factories called now)."""
    table = table_of(model)
    row = {name: value for name, value in _defaults(model).items() if name in table.c}
    row.update(values)
    return row


def _defaults(model: type[SQLModel]) -> dict[str, Any]:
    """The default of every field of ``model`` that has one (factories called now)."""
    found: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.default_factory is not None:
            found[name] = info.default_factory()  # type: ignore[call-arg]
        elif info.default is not PydanticUndefined:
            found[name] = info.default
    return found


class LaterRows:
    """New rows numbered now, with the ids they will keep, and written later in one insert per table.

    ``number`` has ``insert_one``'s shape: it returns the instance, detached from the session until
    ``write``, so no flush can write it too early or twice (a change made to it before ``write`` is
    written with it). ``write`` inserts the rows of ``models`` in that order (one referring to another
    comes after it), then adds the instances to the session as stored rows.
    """

    def __init__(self, session: Session, models: Sequence[type[SQLModel]]) -> None:
        self.session = session
        self._ids = NewIds(session)
        self._waiting: dict[type[Any], dict[int, Any]] = {model: {} for model in models}

    def number(self, session: Session, model: type[Model], values: Mapping[str, Any], /) -> Model:
        """The instance of a new row of ``model`` with its final id; its row waits for ``write``."""
        table = table_of(model)
        row = {**dict.fromkeys(table.c.keys()), **with_defaults(model, values), "id": self._ids.take(table)}
        instance = as_stored(model, row)
        self._waiting[model][row["id"]] = instance
        return instance

    def draw(self, wanted: Mapping[type[SQLModel], int]) -> None:
        """Draw ids ahead for up to ``wanted[model]`` new rows of each model, in one statement (``NewIds.draw``)."""
        self._ids.draw({table_of(model): count for model, count in wanted.items()})

    def waiting(self, model: type[Model]) -> list[Model]:
        """The numbered, not yet written instances of ``model``, in id order."""
        return list(self._waiting[model].values())

    def get(self, model: type[Model], row_id: int | None) -> Model | None:
        """The waiting instance of ``model`` with this id, if any."""
        found: Model | None = self._waiting[model].get(row_id) if row_id is not None else None
        return found

    def write(self, then: Sequence[tuple[Table, Sequence[Mapping[str, Any]]]] = ()) -> None:
        """Insert every waiting row (as its instance holds it), then the rows of ``then``; instances join the session.

        ``then`` holds rows of other tables that may refer to the waiting ones: all of them go in one
        ``insert_tables``, one statement on PostgreSQL.
        """
        batches: list[tuple[Table, Sequence[Mapping[str, Any]]]] = []
        for model, waiting in self._waiting.items():
            table = table_of(model)
            names = list(table.c.keys())
            batches.append((table, [{name: item.__dict__[name] for name in names} for item in waiting.values()]))
        insert_tables(self.session, [*batches, *then])
        for waiting in self._waiting.values():
            for instance in waiting.values():
                make_transient(instance)
                make_transient_to_detached(instance)  # what it holds is what was written: no UPDATE follows
                self.session.add(instance)
            waiting.clear()
