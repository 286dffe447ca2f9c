"""Mentions per custom label and bucket (day or week) in a date range: the dashboard's label panel.

The database counts per label and day (in the viewer's zone); only those few sums (labels x days)
reach Python, which folds days into weeks. A year of labelled mentions is never read row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from socialcrm.models import CustomLabel, Mention, MentionLabel
from socialcrm.web.queries.rollup import as_date, day_expression


def label_counts(
    session: Session, start: datetime, end: datetime, buckets: Sequence[date], bucket: str, zone: tzinfo = UTC
) -> dict[str, list[int]]:
    """Per switched-on label (by title order of names): mentions published in each bucket (days in ``zone``)."""
    index = {b: i for i, b in enumerate(buckets)}
    names = session.exec(
        select(CustomLabel.name).where(col(CustomLabel.enabled).is_(True)).order_by(col(CustomLabel.name))
    ).all()
    counts = {name: [0] * len(buckets) for name in names}
    day = day_expression(session, zone, start, end)
    statement: Any = (  # a SQL expression among the columns: past sqlmodel's typed overloads of select()
        sa_select(col(CustomLabel.name), day, func.count())
        .join(MentionLabel, col(MentionLabel.label_id) == CustomLabel.id)
        .join(Mention, col(Mention.id) == MentionLabel.mention_id)
        .where(
            col(CustomLabel.enabled).is_(True),
            col(Mention.published_at) >= start,
            col(Mention.published_at) < end,
        )
        .group_by(col(CustomLabel.name), day)
    )
    for name, raw_day, n in session.exec(statement):
        counted = as_date(raw_day)
        slot = index.get(counted - timedelta(days=counted.weekday()) if bucket == "week" else counted)
        if slot is not None and name in counts:
            counts[name][slot] += n
    return counts
