"""Putting work that leaves the system into the outbox: one function for replies and webhooks alike.

A row is written in the caller's transaction, so it exists exactly when the decision behind it (an
approval, a fired rule) was stored. Its idempotency key is unique: the same reply or webhook cannot
be queued twice. The worker that delivers the rows is ``socialcrm.outbox``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session, select

from socialcrm.models import OutboxItem

OutboxKind = Literal["reply", "webhook"]


def reply_key(draft_id: int) -> str:
    """The idempotency key of the reply of one draft."""
    return f"reply:{draft_id}"


def enqueue(
    session: Session,
    kind: OutboxKind,
    idempotency_key: str,
    payload: Mapping[str, Any],
    *,
    now: datetime,
    source: str | None = None,
    draft_id: int | None = None,
) -> OutboxItem:
    """Queue one reply or webhook, due now, in the caller's transaction."""
    item = OutboxItem(
        kind=kind,
        idempotency_key=idempotency_key,
        source=source,
        draft_id=draft_id,
        payload=dict(payload),
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    return item


def find(session: Session, idempotency_key: str) -> OutboxItem | None:
    """The queued row with this key, if any."""
    return session.exec(select(OutboxItem).where(OutboxItem.idempotency_key == idempotency_key)).first()
