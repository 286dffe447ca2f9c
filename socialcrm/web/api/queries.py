"""Paged reads for the API: newest first, continued with an opaque cursor (the last id seen)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from socialcrm.models import Customer, Mention, ReplyDraft, Ticket, TicketMention


def _refs(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    return {c.id: c.customer_ref for c in session.exec(select(Customer).where(col(Customer.id).in_(wanted))) if c.id}


def page(
    session: Session, model: Any, filters: Sequence[Any], before: int | None, limit: int
) -> tuple[list[Any], int | None]:
    """Up to ``limit`` rows of ``model`` matching ``filters`` below id ``before``, newest first; and the next cursor."""
    query = select(model).where(*filters).order_by(col(model.id).desc()).limit(limit + 1)
    if before is not None:
        query = query.where(col(model.id) < before)
    rows = list(session.exec(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def mentions(
    session: Session, filters: Sequence[Any], before: int | None, limit: int
) -> tuple[list[tuple[Mention, str | None]], int | None]:
    """A page of mentions, each with its customer_ref."""
    rows, cursor = page(session, Mention, filters, before, limit)
    refs = _refs(session, {m.customer_id for m in rows})
    return [(m, refs.get(m.customer_id) if m.customer_id else None) for m in rows], cursor


def tickets(
    session: Session, filters: Sequence[Any], before: int | None, limit: int
) -> tuple[list[tuple[Ticket, list[int], str | None]], int | None]:
    """A page of tickets, each with its mention ids and customer_ref."""
    rows, cursor = page(session, Ticket, filters, before, limit)
    ids = [t.id for t in rows]
    links: dict[int, list[int]] = {i: [] for i in ids if i is not None}
    if ids:
        for link in session.exec(select(TicketMention).where(col(TicketMention.ticket_id).in_(ids))):
            links.setdefault(link.ticket_id, []).append(link.mention_id)
    refs = _refs(session, {t.customer_id for t in rows})
    return [
        (t, sorted(links.get(t.id or 0, [])), refs.get(t.customer_id) if t.customer_id else None) for t in rows
    ], cursor


def drafts(
    session: Session, filters: Sequence[Any], before: int | None, limit: int
) -> tuple[list[tuple[ReplyDraft, str | None]], int | None]:
    """A page of reply drafts, each with its customer_ref."""
    rows, cursor = page(session, ReplyDraft, filters, before, limit)
    refs = _refs(session, {d.customer_id for d in rows})
    return [(d, refs.get(d.customer_id) if d.customer_id else None) for d in rows], cursor
