"""Mentions whose linking or rules failed: kept in view and tried again until they succeed or a person dismisses them.

A mention is always stored, even when linking it or acting on it fails (a bug in a rule, a database
conflict with another process). Such a mention gets a ``MentionRetry`` row: the error, how often it
failed and when it is tried next (after 1 minute, then 5, 30, 2 h, then every 6 h). The daemon retries
due ones in its housekeeping; ``socialcrm retries`` lists them, retries them now or dismisses them;
``socialcrm sources`` and the admin page count them per source. A retry that succeeds removes the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from socialcrm.models import Mention, MentionRetry
from socialcrm.services import audit

RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
LAST_DELAY = timedelta(hours=6)
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class WaitingMention:
    """One line of ``socialcrm retries``: the mention, where it came from and why it waits."""

    mention_id: int
    source: str
    url: str
    error: str
    attempts: int
    first_failed_at: datetime
    next_attempt_at: datetime
    dismissed_by: str | None


def delay_after(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure."""
    return RETRY_DELAYS[attempts - 1] if attempts <= len(RETRY_DELAYS) else LAST_DELAY


def record_failure(session: Session, mention: Mention, error: str, *, now: datetime) -> MentionRetry:
    """The mention's linking or rules failed (again): keep it for a later try."""
    assert mention.id is not None
    retry = session.get(MentionRetry, mention.id)
    if retry is None:
        retry = MentionRetry(
            mention_id=mention.id, source=mention.source, error="", attempts=0, first_failed_at=now, last_failed_at=now
        )
    retry.attempts += 1
    retry.error = error[:MAX_ERROR_CHARS]
    retry.last_failed_at = now
    retry.next_attempt_at = now + delay_after(retry.attempts)
    session.add(retry)
    session.flush()
    return retry


def succeeded(session: Session, mention_ids: Sequence[int]) -> None:
    """These mentions went through: they wait no longer."""
    for mention_id in mention_ids:
        retry = session.get(MentionRetry, mention_id)
        if retry is not None:
            session.delete(retry)


def due(session: Session, now: datetime, *, all_waiting: bool = False, limit: int = 200) -> list[Mention]:
    """Mentions whose next try is due (``all_waiting``: every one not dismissed), longest waiting first."""
    statement = (
        select(Mention)
        .join(MentionRetry, col(MentionRetry.mention_id) == col(Mention.id))
        .where(col(MentionRetry.dismissed_at).is_(None))
        .order_by(col(MentionRetry.next_attempt_at), col(MentionRetry.mention_id))
        .limit(limit)
    )
    if not all_waiting:
        statement = statement.where(col(MentionRetry.next_attempt_at) <= now)
    return list(session.exec(statement))


def waiting(session: Session, *, include_dismissed: bool = False, limit: int = 500) -> list[WaitingMention]:
    """The mentions that wait for a retry (and, if asked, those a person dismissed), oldest failure first."""
    statement = select(MentionRetry, Mention.url).join(Mention, col(Mention.id) == col(MentionRetry.mention_id))
    if not include_dismissed:
        statement = statement.where(col(MentionRetry.dismissed_at).is_(None))
    rows = session.exec(
        statement.order_by(col(MentionRetry.first_failed_at), col(MentionRetry.mention_id)).limit(limit)
    )
    return [
        WaitingMention(
            mention_id=retry.mention_id,
            source=retry.source,
            url=url,
            error=retry.error,
            attempts=retry.attempts,
            first_failed_at=retry.first_failed_at,
            next_attempt_at=retry.next_attempt_at,
            dismissed_by=retry.dismissed_by,
        )
        for retry, url in rows
    ]


def count_by_source(session: Session) -> dict[str, int]:
    """How many mentions of each source wait for a retry (dismissed ones left out)."""
    statement = (
        select(MentionRetry.source, func.count())
        .where(col(MentionRetry.dismissed_at).is_(None))
        .group_by(col(MentionRetry.source))
    )
    return {source: int(count) for source, count in session.exec(statement)}


def dismiss(session: Session, mention_ids: Sequence[int], *, actor: str, now: datetime) -> list[int]:
    """A person gives up on these mentions: they stay stored, without links or actions, and are not retried."""
    dismissed = []
    for mention_id in mention_ids:
        retry = session.get(MentionRetry, mention_id)
        if retry is None or retry.dismissed_at is not None:
            continue
        retry.dismissed_by = actor
        retry.dismissed_at = now
        session.add(retry)
        audit.record(session, actor, "mention.retry_dismiss", "mention", mention_id, {"error": retry.error[:200]})
        dismissed.append(mention_id)
    return dismissed
