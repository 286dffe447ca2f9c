"""The job queue for workers on PostgreSQL: Procrastinate's schema, and the names of worker processes.

Revision ID: 25f9ec79a6b2
Revises: 4294556e5dd9
Create Date: 2026-12-01 01:36:50.000674
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import socialcrm.models.columns
from socialcrm.jobs.schema import upgrade_procrastinate_schema

revision = "25f9ec79a6b2"
down_revision = "4294556e5dd9"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create workerprocess everywhere; on PostgreSQL also Procrastinate's tables, types and functions."""
    op.create_table(
        "workerprocess",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("started_at", socialcrm.models.columns.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # A no-op on SQLite, where one process does all the work (APScheduler) and there is no queue.
    upgrade_procrastinate_schema(op.get_bind())


def downgrade() -> None:
    """Drop workerprocess and, on PostgreSQL, everything of Procrastinate's (jobs in it are lost)."""
    op.drop_table("workerprocess")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs, "
            "procrastinate_workers CASCADE"
        )
        op.execute(
            """
            DO $$
            DECLARE f record;
            BEGIN
                FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                         JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE p.proname LIKE 'procrastinate\\_%' AND n.nspname = current_schema()
                LOOP
                    EXECUTE 'DROP FUNCTION IF EXISTS ' || f.sig || ' CASCADE';
                END LOOP;
            END $$;
            """
        )
        op.execute(
            "DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type, "
            "procrastinate_job_status CASCADE"
        )
