"""Recent mentions, filtered and paged by id (newest first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from socialcrm.models import Customer, Mention

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class MentionFilter:
    """What the mention list shows: source, sentiment, language, group, customer, since; paged by id."""

    source: str | None = None
    sentiment: str | None = None
    language: str | None = None
    group: str | None = None
    customer_id: int | None = None
    since: datetime | None = None
    before_id: int | None = None
    limit: int = PAGE_SIZE


def recent_mentions(session: Session, where: MentionFilter) -> tuple[list[tuple[Mention, Customer | None]], int | None]:
    """A page of mentions with their linked customers, and the id to continue before (or None)."""
    query = (
        select(Mention, Customer)
        .join(Customer, col(Customer.id) == Mention.customer_id, isouter=True)
        .order_by(col(Mention.id).desc())
        .limit(where.limit + 1)
    )
    if where.source:
        query = query.where(Mention.source == where.source)
    if where.sentiment:
        query = query.where(Mention.sentiment == where.sentiment)
    if where.language:
        query = query.where(Mention.language == where.language)
    if where.group:
        query = query.where(Mention.group == where.group)
    if where.customer_id is not None:
        query = query.where(Mention.customer_id == where.customer_id)
    if where.since is not None:
        query = query.where(col(Mention.published_at) >= where.since)
    if where.before_id is not None:
        query = query.where(col(Mention.id) < where.before_id)
    rows: list[tuple[Mention, Customer | None]] = [(mention, customer) for mention, customer in session.exec(query)]
    next_before = None
    if len(rows) > where.limit:
        rows = rows[: where.limit]
        next_before = rows[-1][0].id
    return rows, next_before


def mention_thread(session: Session, mention: Mention, limit: int = 20) -> list[Mention]:
    """Other posts of the same thread, oldest first (the context a reviewer reads)."""
    if not mention.thread_id:
        return []
    query = (
        select(Mention)
        .where(
            Mention.source == mention.source,
            Mention.thread_id == mention.thread_id,
            col(Mention.id) != mention.id,
        )
        .order_by(col(Mention.published_at))
        .limit(limit)
    )
    return list(session.exec(query))
