"""Batch lookups by a list of values (``db_lists.among``) find exactly the values asked for, on both backends."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, select

from socialcrm.db import Database
from socialcrm.db_lists import among

SHORT = Table("short_keys", MetaData(), Column("k", String(8)))


def test_a_value_longer_than_its_column_matches_nothing(db: Database) -> None:
    """On PostgreSQL the array went out cast to the column's VARCHAR(8)[]: an explicit cast cuts a longer
    value, so 'abcdefghXYZ' was found as the stored 'abcdefgh'."""
    with db.write() as session:
        SHORT.create(session.connection())
        session.execute(SHORT.insert(), [{"k": "abcdefgh"}, {"k": "abc"}])
    with db.read() as session:

        def found(values: list[str]) -> list[str]:
            return sorted(session.execute(select(SHORT.c.k).where(among(session, SHORT.c.k, values))).scalars())

        assert found(["abcdefghXYZ"]) == []
        assert found(["abcdefgh", "abc", "zzz"]) == ["abc", "abcdefgh"]
