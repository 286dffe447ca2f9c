"""The worker processes serving the job queue on PostgreSQL, by the id Procrastinate gave them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from socialcrm.models.columns import UTCDateTime, utcnow


class WorkerProcess(SQLModel, table=True):
    """Who a Procrastinate worker is: its host and process id, for `socialcrm sources` and the admin page.

    Procrastinate keeps only an id and a heartbeat per worker (``procrastinate_workers``); a row here
    names the process behind that id. Rows of workers Procrastinate no longer knows are dropped.
    """

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(max_length=128)  # host:pid
    role: str = Field(max_length=16)  # worker | run
    version: str = Field(max_length=32)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
