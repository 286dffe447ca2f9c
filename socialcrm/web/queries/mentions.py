"""Recent mentions, filtered and paged by id (newest first)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from socialcrm.insights.kpis import tag_condition
from socialcrm.insights.themes import mentions_phrase, theme_text
from socialcrm.models import Customer, Mention
from socialcrm.services.label_predictions import has_label

PAGE_SIZE = 50
# A theme is matched in Python (as themes are counted): at most this many mentions are read per page.
THEME_SCAN = 5000


@dataclass(frozen=True, slots=True)
class MentionFilter:
    """What the mention list shows: source, sentiment, language, group, customer, dates, tag, theme, label."""

    source: str | None = None
    sentiment: str | None = None
    language: str | None = None
    group: str | None = None
    customer_id: int | None = None
    label: str | None = None
    since: datetime | None = None
    before_id: int | None = None
    limit: int = PAGE_SIZE
    until: datetime | None = None
    tag: str | None = None
    theme: str | None = None
    brand: frozenset[str] = frozenset()  # the brand words themes leave out, to match a theme as it was counted


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
    if where.label:
        query = query.where(has_label(where.label))
    if where.since is not None:
        query = query.where(col(Mention.published_at) >= where.since)
    if where.until is not None:
        query = query.where(col(Mention.published_at) < where.until)
    if where.tag:
        query = query.where(tag_condition((where.tag,)))
    if where.before_id is not None:
        query = query.where(col(Mention.id) < where.before_id)
    if where.theme:
        return _with_theme(session, query, where)
    rows: list[tuple[Mention, Customer | None]] = [(mention, customer) for mention, customer in session.exec(query)]
    next_before = None
    if len(rows) > where.limit:
        rows = rows[: where.limit]
        next_before = rows[-1][0].id
    return rows, next_before


def _with_theme(
    session: Session, query: Any, where: MentionFilter
) -> tuple[list[tuple[Mention, Customer | None]], int | None]:
    """A page of the mentions that use the theme ``where.theme``, reading at most THEME_SCAN candidates."""
    assert where.theme is not None
    rows: list[tuple[Mention, Customer | None]] = []
    scanned = 0
    last_id: int | None = None
    for mention, customer in session.exec(query.limit(THEME_SCAN)):
        scanned += 1
        last_id = mention.id
        if mentions_phrase(theme_text(mention.title, mention.text), where.theme, where.brand):
            rows.append((mention, customer))
            if len(rows) > where.limit:
                break
    if len(rows) > where.limit:
        rows = rows[: where.limit]
        return rows, rows[-1][0].id
    # Not all candidates read: the next page goes on after the last one read.
    return rows, (last_id if scanned >= THEME_SCAN else None)


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
