"""Mentions per custom label and bucket (day or week) in a date range: the dashboard's label panel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlmodel import Session, col, select

from socialcrm.models import CustomLabel, Mention, MentionLabel


def label_counts(
    session: Session, start: datetime, end: datetime, buckets: Sequence[date], bucket: str, zone: tzinfo = UTC
) -> dict[str, list[int]]:
    """Per switched-on label (by title order of names): mentions published in each bucket (days in ``zone``)."""
    index = {b: i for i, b in enumerate(buckets)}
    names = session.exec(
        select(CustomLabel.name).where(col(CustomLabel.enabled).is_(True)).order_by(col(CustomLabel.name))
    ).all()
    counts = {name: [0] * len(buckets) for name in names}
    rows = session.exec(
        select(CustomLabel.name, Mention.published_at)
        .join(MentionLabel, col(MentionLabel.label_id) == CustomLabel.id)
        .join(Mention, col(Mention.id) == MentionLabel.mention_id)
        .where(
            col(CustomLabel.enabled).is_(True),
            col(Mention.published_at) >= start,
            col(Mention.published_at) < end,
        )
    )
    for name, published in rows:
        day = published.astimezone(zone).date()
        slot = index.get(day - timedelta(days=day.weekday()) if bucket == "week" else day)
        if slot is not None:
            counts[name][slot] += 1
    return counts
