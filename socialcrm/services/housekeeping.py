"""Periodic housekeeping: retention of raw payloads and old mentions, expired web sessions."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, exists, update
from sqlmodel import Session, col, select

from socialcrm.config import Config
from socialcrm.models import (
    ActionKey,
    Decision,
    LinkSuggestion,
    Mention,
    ReplyDraft,
    SentimentCorrection,
    TicketMention,
    utcnow,
)
from socialcrm.services import auth

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
        referenced = exists().where(col(TicketMention.mention_id) == col(Mention.id)) | exists().where(
            col(ReplyDraft.mention_id) == col(Mention.id)
        )
        old_ids = list(
            session.exec(select(Mention.id).where(col(Mention.published_at) < cutoff, ~referenced).limit(10000))
        )
        if old_ids:
            for table in (Decision, ActionKey, LinkSuggestion, SentimentCorrection):
                session.exec(delete(table).where(col(table.mention_id).in_(old_ids)))
            session.exec(delete(Mention).where(col(Mention.id).in_(old_ids)))
        done["mentions_deleted"] = len(old_ids)
    done["sessions_expired"] = auth.purge_expired_sessions(session, now)
    if any(done.values()):
        logger.info("Housekeeping: %s", ", ".join(f"{k}={v}" for k, v in done.items()))
    return done
