"""Column types shared by the tables: tz-aware UTC datetimes and JSON that work on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, Table, TypeDecorator, inspect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlmodel import SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always returns tz-aware UTC datetimes (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC (without a zone on SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return a tz-aware UTC datetime whatever the database gave back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONType(TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        """JSONB on PostgreSQL, JSON elsewhere."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


def utcnow() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(UTC)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model, for bulk inserts and indexes on expressions."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


Model = TypeVar("Model", bound=SQLModel)


def as_stored(model: type[Model], values: Mapping[str, Any]) -> Model:
    """An instance for a row just written in bulk, as if read back: no ``__init__``, no query.

    ``values`` must hold every column (an absent one would be read from the database on first use).
    Added to a session the instance is persistent: a change to it is written as an UPDATE.
    """
    instance: Model = _class_manager(model).new_instance()
    instance.__dict__.update(values)
    make_transient_to_detached(instance)
    return instance


def unsaved(model: type[Model], values: Mapping[str, Any]) -> Model:
    """An instance holding ``values`` (every column), built without ``__init__``: a cheap copy of a row to read.

    It belongs to no session; adding one would insert it again.
    """
    instance: Model = _class_manager(model).new_instance()
    instance.__dict__.update(values)
    return instance


def _class_manager(model: type[SQLModel]) -> Any:
    """The model's instrumentation, complete: mappers are configured first (a few microseconds, once)."""
    mapper = inspect(model)
    if not mapper.configured:
        configure_mappers()  # instrumentation is complete only once the mappers are configured
    return mapper.class_manager
