"""Lookups by a list of values: ``column IN (...)`` on SQLite, one array parameter (``= ANY``) on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Enum, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import NullType
from sqlmodel import Session, col


def among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` for a batch lookup; on PostgreSQL ``column = ANY(array)``, one parameter.

    An IN list is sent as one parameter per value (on PostgreSQL each with its own cast): every length
    of list is a statement text of its own, so psycopg converts each value on its own and never
    prepares the statement, and the server parses and plans it afresh. One array parameter keeps one
    text for any number of values: converted at once, prepared by psycopg after a few runs, planned
    once. SQLite has no arrays: there it stays an IN list.
    """
    if session.get_bind().dialect.name == "postgresql":
        return any_of(column, values)
    return _element(column).in_(values)  # type: ignore[no-any-return]


def any_of(column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """PostgreSQL's ``column = ANY(:values)``, the array typed as the column (text for an untyped expression).

    A string column's array is cast without the column's length: ``CAST(... AS VARCHAR(256)[])`` cuts a
    longer value, which would then match a stored value equal to its first 256 characters.
    """
    element = _element(column)
    kind = element.type
    bounded = isinstance(kind, String) and not isinstance(kind, Enum) and kind.length is not None
    item = String() if isinstance(kind, NullType) or bounded else kind
    return element == any_(bindparam(None, list(values), type_=ARRAY(item)))  # type: ignore[no-any-return]


def _element(column: Any) -> Any:
    """A model attribute as its column; an SQL expression (``models.crm.number_key``) as it is."""
    return column if isinstance(column, ColumnElement) else col(column)
