"""Putting work that leaves the system into the outbox: one function for replies, webhooks and e-mails alike.

A row is written in the caller's transaction, so it exists exactly when the decision behind it (an
approval, a fired rule) was stored. Its idempotency key is unique: the same reply or webhook cannot
be queued twice. The worker that delivers the rows is ``socialcrm.outbox``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, update
from sqlmodel import Session, col, select

from socialcrm.db import commits_outward
from socialcrm.models import OutboxItem, WebhookEvent
from socialcrm.secret_mask import mask_secrets

OutboxKind = Literal["reply", "webhook", "email"]


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
    """Queue one reply, webhook or e-mail, due now, in the caller's transaction (committed synchronously)."""
    commits_outward(session)
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


def enqueue_webhook(
    session: Session,
    webhook: str,
    event: WebhookEvent,
    idempotency_key: str,
    body: Mapping[str, Any],
    *,
    now: datetime,
) -> OutboxItem:
    """Queue one ``event`` message for the webhook named ``webhook``; its key makes it unique (and its webhook-id)."""
    payload = {"webhook": webhook, "event": event, "body": dict(body)}
    return enqueue(session, "webhook", idempotency_key, payload, now=now)


def hold_receiver(session: Session, webhook: str, until: datetime, *, now: datetime) -> int:
    """Move every waiting row for the webhook ``webhook`` that is due before ``until`` to ``until``; return how many.

    A receiver that answered Retry-After asked for quiet: the other rows queued for it wait too, on
    every worker, instead of each being refused in turn. Rows in flight elsewhere are left alone.
    """
    waiting = session.exec(
        select(OutboxItem.id, OutboxItem.payload).where(
            OutboxItem.kind == "webhook", OutboxItem.status == "pending", col(OutboxItem.next_attempt_at) < until
        )
    ).all()
    ids = [item_id for item_id, payload in waiting if isinstance(payload, dict) and payload.get("webhook") == webhook]
    for start in range(0, len(ids), 500):
        session.exec(
            update(OutboxItem)
            .where(col(OutboxItem.id).in_(ids[start : start + 500]), col(OutboxItem.status) == "pending")
            .values(next_attempt_at=until, updated_at=now)
        )
    return len(ids)


def find(session: Session, idempotency_key: str) -> OutboxItem | None:
    """The queued row with this key, if any."""
    return session.exec(select(OutboxItem).where(OutboxItem.idempotency_key == idempotency_key)).first()


# -- Delivering: a worker sends a row only while it holds it -------------------------------------
#
# Two workers (two daemons on one PostgreSQL database, or `poll --once` beside a running daemon)
# must never both send a row. A worker claims one row at a time with a compare-and-set in the
# database (the row's attempts count and due time must be what it read), which makes it the row's
# ``lease_owner`` until ``next_attempt_at``. Right before each step that talks to the outside world
# it renews the lease, again as a compare-and-set fenced by its owner token; if someone else holds
# the row by then, it sends nothing. A lease is at least twice the longest step, so a renewed lease
# cannot run out while that step is in flight. A crashed worker's rows become claimable when their
# lease runs out, and come back "sending": the next worker first looks for a reply that may be out.
# Clocks: leases compare the workers' own clocks; workers on several machines need them in sync
# (NTP) to well within the lease.


@dataclass(frozen=True)
class Claim:
    """A row a worker holds: what it needs to deliver it, and the token that proves it holds it."""

    item_id: int
    kind: str
    attempts: int
    was_sending: bool  # the previous try ended without knowing whether it got through
    source: str | None
    draft_id: int | None
    payload: Mapping[str, Any]
    idempotency_key: str
    first_attempt_at: datetime
    owner: str


def claim_next(
    session: Session,
    owner: str,
    *,
    now: datetime,
    lease: timedelta,
    skip: Collection[int] = (),
    only: int | None = None,
) -> Claim | None:
    """Claim the oldest due row (or the row ``only``, if due) for ``owner`` (compare-and-set), or None."""
    query = select(OutboxItem.id, OutboxItem.attempts, OutboxItem.status).where(
        col(OutboxItem.status).in_(("pending", "sending")), OutboxItem.next_attempt_at <= now
    )
    if only is not None:
        query = query.where(col(OutboxItem.id) == only)
    due = session.exec(query.order_by(col(OutboxItem.next_attempt_at), col(OutboxItem.id)).limit(len(skip) + 5)).all()
    for item_id, attempts, status in due:
        if item_id is None or item_id in skip:
            continue
        taken = session.exec(
            update(OutboxItem)
            .where(
                col(OutboxItem.id) == item_id,
                col(OutboxItem.attempts) == attempts,
                col(OutboxItem.status) == status,
                col(OutboxItem.next_attempt_at) <= now,
            )
            .values(
                status="sending",
                attempts=attempts + 1,
                lease_owner=owner,
                next_attempt_at=now + lease,
                first_attempt_at=func.coalesce(OutboxItem.first_attempt_at, now),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            continue  # another worker was faster
        item = session.get(OutboxItem, item_id, populate_existing=True)
        assert item is not None and item.first_attempt_at is not None
        return Claim(
            item_id=item_id,
            kind=item.kind,
            attempts=item.attempts,
            was_sending=status == "sending",
            source=item.source,
            draft_id=item.draft_id,
            payload=dict(item.payload),
            idempotency_key=item.idempotency_key,
            first_attempt_at=item.first_attempt_at,
            owner=owner,
        )
    return None


def _held(claim: Claim) -> ColumnElement[bool]:
    return and_(
        col(OutboxItem.id) == claim.item_id,
        col(OutboxItem.lease_owner) == claim.owner,
        col(OutboxItem.status) == "sending",
    )


def renew(session: Session, claim: Claim, *, now: datetime, lease: timedelta) -> bool:
    """Extend the lease if ``claim``'s worker still holds the row; False means: send nothing."""
    renewed = session.exec(
        update(OutboxItem)
        .where(_held(claim))
        .values(next_attempt_at=now + lease, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(renewed.rowcount == 1)


def release(
    session: Session,
    claim: Claim,
    status: str,
    *,
    now: datetime,
    error: str | None = None,
    result: Mapping[str, Any] | None = None,
    next_attempt_at: datetime | None = None,
) -> bool:
    """Leave the row in ``status`` if ``claim``'s worker still holds it (False if someone else does).

    "sending" with a ``next_attempt_at`` says: the outcome of this try is unknown; the next try
    looks first. Any other status ends the lease.
    """
    values: dict[str, Any] = {"status": status, "lease_owner": None, "updated_at": now}
    if error is not None:
        values["last_error"] = mask_secrets(error)[:2000]
    if result is not None:
        values["result"] = dict(result)
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    released = session.exec(
        update(OutboxItem).where(_held(claim)).values(**values).execution_options(synchronize_session=False)
    )
    return bool(released.rowcount == 1)


def mark_point_of_no_return(
    session: Session, claim: Claim, mark: Mapping[str, Any], *, now: datetime, lease: timedelta
) -> bool:
    """Record in the row that its work may be out from now on (and renew the lease), if ``claim`` still holds it.

    A worker that later claims the row and finds ``mark`` in its result knows not to send it again.
    """
    marked = session.exec(
        update(OutboxItem)
        .where(_held(claim))
        .values(result=dict(mark), next_attempt_at=now + lease, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(marked.rowcount == 1)


def result_of(session: Session, item_id: int) -> dict[str, Any]:
    """The result recorded in a row so far ({} when none)."""
    found = session.exec(select(OutboxItem.result).where(OutboxItem.id == item_id)).first()
    return dict(found or {})


def mark_delivered(session: Session, item_id: int, *, now: datetime, result: Mapping[str, Any]) -> None:
    """The row's work is out (whoever holds it now): done, so no worker sends it again."""
    session.exec(
        update(OutboxItem)
        .where(col(OutboxItem.id) == item_id)
        .values(status="done", lease_owner=None, result=dict(result), updated_at=now)
        .execution_options(synchronize_session=False)
    )
