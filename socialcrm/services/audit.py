"""The audit log: an append-only record of every state change and login."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, col, select

from socialcrm.models import AuditEntry, utcnow

DAEMON = "daemon"


def record(
    session: Session,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: object | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (so it commits or rolls back with the change)."""
    entry = AuditEntry(
        at=utcnow(),
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id),
        detail=dict(detail or {}),
    )
    session.add(entry)
    return entry


def recent(
    session: Session,
    *,
    limit: int = 100,
    before_id: int | None = None,
    entity_type: str | None = None,
    entity_id: object | None = None,
) -> list[AuditEntry]:
    """Newest entries first, optionally for one entity, paged by id."""
    query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    if before_id is not None:
        query = query.where(col(AuditEntry.id) < before_id)
    if entity_type is not None:
        query = query.where(AuditEntry.entity_type == entity_type)
    if entity_id is not None:
        query = query.where(AuditEntry.entity_id == str(entity_id))
    return list(session.exec(query))
