"""Periodic housekeeping: retention of raw payloads and old mentions, expired web sessions.

Deleting an old mention also deletes the webhook payloads sent about it (a copy of its text and
author) and, afterwards, every prospect (with its identities) that no mention or anything else
refers to any more: an unknown author we saw once is not kept after their posts are gone.
A webhook about a mention still waiting to be delivered keeps that mention until it is settled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, delete, exists, or_, update
from sqlmodel import Session, SQLModel, col, select

from socialcrm.config import Config
from socialcrm.models import (
    ActionKey,
    Customer,
    Identity,
    LinkSuggestion,
    Mention,
    MergeCandidate,
    OutboxItem,
    utcnow,
)
from socialcrm.services import auth
from socialcrm.services.actions import webhook_outbox_key

logger = logging.getLogger(__name__)


def run_housekeeping(session: Session, config: Config) -> dict[str, int]:
    """Apply the retention settings and drop expired sessions; return what was done."""
    now = utcnow()
    done: dict[str, int] = {}
    raw_cutoff = now - timedelta(days=config.retention.raw_payload_days)
    result = session.exec(
        update(Mention).where(col(Mention.fetched_at) < raw_cutoff, col(Mention.raw).is_not(None)).values(raw=None)
    )
    done["raw_payloads_dropped"] = result.rowcount or 0
    if config.retention.mention_days:
        cutoff = now - timedelta(days=config.retention.mention_days)
        # Mentions that work items refer to are kept until those are gone; the rest go entirely.
        referenced = [exists().where(column == col(Mention.id)) for column in _mention_keys(work_items=True)]
        found = session.exec(
            select(Mention.id).where(col(Mention.published_at) < cutoff, ~or_(*referenced)).limit(10000)
        )
        old_ids, done["webhook_payloads_deleted"] = _drop_webhooks(session, found)
        if old_ids:
            # Whatever else was derived from them (decisions, action keys, predicted labels...) goes too.
            for column in _mention_keys(work_items=False):
                session.exec(delete(column.table).where(column.in_(old_ids)))
            session.exec(delete(Mention).where(col(Mention.id).in_(old_ids)))
        done["mentions_deleted"] = len(old_ids)
        done["prospects_deleted"] = drop_orphan_prospects(session)
    done["sessions_expired"] = auth.purge_expired_sessions(session, now)
    if any(done.values()):
        logger.info("Housekeeping: %s", ", ".join(f"{k}={v}" for k, v in done.items()))
    return done


# Work items a person made from a mention: they keep it until they are gone.
_KEEP_MENTION = frozenset({"ticketmention", "replydraft", "labelexample"})


def _mention_keys(*, work_items: bool) -> list[Column[Any]]:
    """The columns with a key to a mention (from the schema): of the work-item tables, or of all the others."""
    mention = Mention.__table__  # type: ignore[attr-defined]
    found: list[Column[Any]] = []
    for table in SQLModel.metadata.sorted_tables:
        if table is mention or (table.name in _KEEP_MENTION) != work_items:
            continue
        found.extend(c for c in table.columns if any(k.column.table is mention for k in c.foreign_keys))
    return found


def _drop_webhooks(session: Session, found: Iterable[int | None]) -> tuple[list[int], int]:
    """Delete the settled webhook rows about these mentions; return the mentions free to go, and the count.

    A mention whose webhook is still pending or being sent stays until the delivery is settled.
    """
    mention_ids = [m for m in found if m is not None]
    if not mention_ids:
        return [], 0
    query = select(ActionKey.key, ActionKey.mention_id).where(col(ActionKey.mention_id).in_(mention_ids))
    by_outbox_key = {webhook_outbox_key(key): mention for key, mention in session.exec(query)}
    rows = list(
        session.exec(
            select(OutboxItem.id, OutboxItem.idempotency_key, OutboxItem.status).where(
                col(OutboxItem.kind) == "webhook", col(OutboxItem.idempotency_key).in_(list(by_outbox_key))
            )
        )
    )
    waiting = {by_outbox_key[key] for _, key, status in rows if status in ("pending", "sending")}
    settled = [row_id for row_id, key, _ in rows if by_outbox_key[key] not in waiting]
    if settled:
        session.exec(delete(OutboxItem).where(col(OutboxItem.id).in_(settled)))
    return [m for m in mention_ids if m not in waiting], len(settled)


# Deleted together with a prospect: they only say who the prospect might be.
_OWNED_BY_PROSPECT = frozenset({"identity", "linksuggestion", "mergecandidate"})


def drop_orphan_prospects(session: Session, limit: int = 10000) -> int:
    """Delete prospects that no mention, ticket, draft, note, order or other record refers to; return how many.

    Every table with a key to a customer counts (found in the schema, so one added later does
    too), except the prospect's own identities, link suggestions and merge candidates.
    """
    customer = Customer.__table__  # type: ignore[attr-defined]
    unused: list[ColumnElement[bool]] = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name in _OWNED_BY_PROSPECT:
            continue
        referrer = table.alias() if table is customer else table
        for column in referrer.columns:
            if any(key.column.table is customer for key in column.foreign_keys):
                unused.append(~exists().where(column == col(Customer.id)))
    query = select(Customer.id).where(col(Customer.is_prospect), col(Customer.merged_into_id).is_(None), *unused)
    ids = [i for i in session.exec(query.limit(limit)) if i is not None]
    if ids:
        session.exec(delete(Identity).where(col(Identity.customer_id).in_(ids)))
        session.exec(delete(LinkSuggestion).where(col(LinkSuggestion.customer_id).in_(ids)))
        either = or_(col(MergeCandidate.customer_a_id).in_(ids), col(MergeCandidate.customer_b_id).in_(ids))
        session.exec(delete(MergeCandidate).where(either))
        session.exec(delete(Customer).where(col(Customer.id).in_(ids)))
    return len(ids)
