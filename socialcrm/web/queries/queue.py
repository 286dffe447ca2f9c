"""The reply queue: pending drafts with the post, its thread, the customer and the rule's explanation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from socialcrm.models import Customer, Decision, Mention, ReplyDraft
from socialcrm.services import replies
from socialcrm.web.queries.mentions import mention_thread

PAGE_SIZE = 25
AGES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
AGE_CHOICES = ("1h", "24h", "7d", "older")


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the reply queue shows: source, language, sentiment, age, assignee and status; page."""

    source: str | None = None
    language: str | None = None
    sentiment: str | None = None
    age: str | None = None
    assignee: str | None = None
    status: str = "pending"
    page: int = 1
    limit: int = PAGE_SIZE


@dataclass(slots=True)
class QueueItem:
    """A reply draft with its mention, customer, the rule decision that made it and the thread around it."""

    draft: ReplyDraft
    mention: Mention
    customer: Customer | None
    decision: Decision | None
    thread: list[Mention]


def _conditions(where: QueueFilter, now: datetime) -> list[Any]:
    conditions: list[Any] = [ReplyDraft.status == where.status]
    if where.source:
        conditions.append(Mention.source == where.source)
    if where.language:
        conditions.append(Mention.language == where.language)
    if where.sentiment:
        conditions.append(Mention.sentiment == where.sentiment)
    if where.assignee:
        conditions.append(ReplyDraft.assignee == where.assignee)
    if where.age in AGES:
        conditions.append(col(ReplyDraft.created_at) >= now - AGES[where.age])
    elif where.age == "older":
        conditions.append(col(ReplyDraft.created_at) < now - AGES["7d"])
    return conditions


def queue_page(session: Session, where: QueueFilter, now: datetime) -> tuple[list[QueueItem], int]:
    """Oldest pending drafts first (first come, first served), with the total matching."""
    conditions = _conditions(where, now)
    query = (
        select(ReplyDraft, Mention, Customer)
        .join(Mention, col(Mention.id) == ReplyDraft.mention_id)
        .join(Customer, col(Customer.id) == ReplyDraft.customer_id, isouter=True)
        .where(*conditions)
        .order_by(col(ReplyDraft.created_at), col(ReplyDraft.id))
        .offset((where.page - 1) * where.limit)
        .limit(where.limit)
    )
    rows = list(session.exec(query))
    total = session.exec(
        select(func.count())
        .select_from(ReplyDraft)
        .join(Mention, col(Mention.id) == ReplyDraft.mention_id)
        .where(*conditions)
    ).one()
    decisions = _decisions(session, [(d.mention_id, d.rule) for d, _m, _c in rows])
    threads = threads_of(session, [mention for _d, mention, _c in rows], 5)
    items = [
        QueueItem(draft, mention, customer, decisions.get((draft.mention_id, draft.rule)), threads.get(mention.id, []))
        for draft, mention, customer in rows
    ]
    return items, int(total)


def threads_of(session: Session, mentions: list[Mention], per_thread: int) -> dict[int | None, list[Mention]]:
    """For each mention, up to ``per_thread`` other posts of its thread, oldest first (one query for all)."""
    thread_ids = sorted({m.thread_id for m in mentions if m.thread_id})
    if not thread_ids:
        return {}
    found: dict[tuple[str, str], list[Mention]] = {}
    query = select(Mention).where(col(Mention.thread_id).in_(thread_ids)).order_by(col(Mention.id).desc())
    for other in session.exec(query.limit(1000)):
        found.setdefault((other.source, other.thread_id or ""), []).append(other)
    result: dict[int | None, list[Mention]] = {}
    for mention in mentions:
        siblings = [m for m in found.get((mention.source, mention.thread_id or ""), []) if m.id != mention.id]
        siblings.sort(key=lambda m: (m.published_at, m.id or 0))
        result[mention.id] = siblings[:per_thread]
    return result


def _decisions(session: Session, keys: list[tuple[int, str | None]]) -> dict[tuple[int, str | None], Decision]:
    mention_ids = sorted({mention_id for mention_id, _rule in keys})
    if not mention_ids:
        return {}
    found: dict[tuple[int, str | None], Decision] = {}
    for decision in session.exec(
        select(Decision).where(col(Decision.mention_id).in_(mention_ids), col(Decision.fired).is_(True))
    ):
        found[(decision.mention_id, decision.rule)] = decision
    return found


def draft_item(session: Session, draft_id: int) -> QueueItem | None:
    """One draft as the queue shows it; None when it (or its mention) does not exist."""
    draft = session.get(ReplyDraft, draft_id)
    if draft is None:
        return None
    mention = session.get(Mention, draft.mention_id)
    if mention is None:
        return None
    customer = session.get(Customer, draft.customer_id) if draft.customer_id else None
    decision = _decisions(session, [(draft.mention_id, draft.rule)]).get((draft.mention_id, draft.rule))
    return QueueItem(draft, mention, customer, decision, mention_thread(session, mention, 20))


def to_post_by_hand(session: Session, limit: int = 25) -> list[QueueItem]:
    """Approved drafts the outbox could not post (read-only platform or a permanent failure)."""
    from socialcrm.models import OutboxItem

    query = (
        select(ReplyDraft, Mention, Customer)
        .join(Mention, col(Mention.id) == ReplyDraft.mention_id)
        .join(Customer, col(Customer.id) == ReplyDraft.customer_id, isouter=True)
        .join(OutboxItem, col(OutboxItem.draft_id) == ReplyDraft.id)
        .where(
            col(ReplyDraft.status).in_(("approved", "failed")),
            col(OutboxItem.status).in_(("manual", "failed")),
        )
        .order_by(col(ReplyDraft.approved_at), col(ReplyDraft.id))
        .limit(limit)
    )
    return [QueueItem(d, m, c, None, []) for d, m, c in session.exec(query)]


def can_reply_by_api(source_type: str) -> bool:
    """Whether the platform's connector posts replies itself (False: copy, open the post, mark as posted)."""
    return replies.policy_of(source_type).can_reply
