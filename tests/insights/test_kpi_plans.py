"""The KPI figures (dashboard, weekly digest) read the tickets of their range through ix_ticket_created_at.

Without the index PostgreSQL scanned every ticket for each figure (200,000 tickets, a 7-day range:
42 ms against 1-5 ms; see the migration 3192261197c1). The plan is asked of the query the code sends,
on SQLite and PostgreSQL; PostgreSQL is told to avoid sequential scans, as it would on a table of
that size rather than on the few rows of a test database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from socialcrm.db import Database
from socialcrm.insights.kpis import Kpis, _add_responses


def test_the_kpi_ticket_range_is_read_through_its_index(db: Database) -> None:
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    end = datetime(2026, 11, 30, tzinfo=UTC)
    try:
        with db.read() as session:
            _add_responses(session, end - timedelta(days=7), end, [], Kpis())
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    statement, parameters = next((s, p) for s, p in sent if "FROM ticket" in s)
    with db.engine.connect() as connection:
        if db.is_sqlite:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        else:
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
    assert "ix_ticket_created_at" in str(plan), plan
