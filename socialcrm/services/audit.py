"""The audit log: an append-only record of every state change and login."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final, Literal, get_args

from sqlmodel import Session, col, select

from socialcrm.models import AuditEntry, utcnow
from socialcrm.services.bulk import Bulk

DAEMON = "daemon"
_COLLECTED = "socialcrm.audit.collected"

AuditAction = Literal[
    # people and access
    "login.success",
    "login.failure",
    "login.throttled",
    "logout",
    "user.create",
    "user.update",
    "user.role",
    "user.disable",
    "user.enable",
    "user.access_ended",
    "user.sessions_ended",
    "session.end_others",
    "api_token.create",
    "api_token.revoke",
    # sources
    "source.pause",
    "source.resume",
    # customers
    "customer.create",
    "customer.update",
    "customer.contact_add",
    "customer.note",
    "customer.tag",
    "customer.merge",
    "customer.export",
    "customer.erase",
    "merge_candidate.create",
    "merge_candidate.dismiss",
    "import.customers",
    "import.orders",
    # mentions and links
    "mention.sentiment",
    "mention.retry_dismiss",
    "link.confirm",
    "link.reject",
    # tickets
    "ticket.create",
    "ticket.status",
    "ticket.assign",
    "ticket.priority",
    "ticket.note",
    "ticket.first_response",
    "ticket.mention_added",
    "ticket.merge",
    "ticket.merged_from",
    "ticket.reopen",
    "ticket.follow_up",
    # reply drafts
    "draft.create",
    "draft.edit",
    "draft.approve",
    "draft.reject",
    "draft.reassign",
    "draft.retry",
    "draft.sent",
    "draft.posted",
    "draft.failed",
    # saved replies
    "saved_reply.create",
    "saved_reply.update",
    "saved_reply.delete",
    # custom labels
    "label.define",
    "label.update",
    "label.train",
    "label.enable",
    "label.disable",
    "label.delete",
    "label.backfill",
]
"""Every action the audit log records, written once: ``record`` accepts no other name (mypy checks each call)."""
AUDIT_ACTIONS: Final[tuple[AuditAction, ...]] = get_args(AuditAction)


def record(
    session: Session,
    actor: str,
    action: AuditAction,
    entity_type: str,
    entity_id: object | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry | None:
    """Append one entry in the caller's transaction (so it commits or rolls back with the change).

    Inside ``collected`` the entry is kept as a row for one bulk insert (and None is returned).
    """
    row: dict[str, Any] = {
        "at": utcnow(),
        "actor": actor,
        "action": action,
        "entity_type": entity_type,
        "entity_id": None if entity_id is None else str(entity_id),
        "detail": dict(detail or {}),
    }
    collected_rows = session.info.get(_COLLECTED)
    if collected_rows is not None:
        collected_rows.append(row)
        return None
    entry = AuditEntry(**row)
    session.add(entry)
    return entry


def record_many(
    session: Session,
    actor: str,
    action: AuditAction,
    entity_type: str,
    entity_ids: Iterable[object],
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry per entity with one statement (a bulk import records thousands); returns how many."""
    now, shared = utcnow(), dict(detail or {})
    rows = [(now, actor, action, entity_type, str(entity_id), shared) for entity_id in entity_ids]
    columns = ("at", "actor", "action", "entity_type", "entity_id", "detail")
    return Bulk(session).insert(AuditEntry.__table__, columns, rows)  # type: ignore[attr-defined]


@contextmanager
def collected(session: Session) -> Iterator[list[dict[str, Any]]]:
    """Keep the entries recorded meanwhile as rows (the pipeline writes a batch's entries in one insert).

    The caller writes them in the same transaction (``BatchDesk.write``, with the batch's other rows); on
    an error they are dropped with the work they describe.
    """
    rows: list[dict[str, Any]] = []
    previous = session.info.get(_COLLECTED)
    session.info[_COLLECTED] = rows
    try:
        yield rows
    finally:
        if previous is None:
            session.info.pop(_COLLECTED, None)
        else:
            session.info[_COLLECTED] = previous


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
