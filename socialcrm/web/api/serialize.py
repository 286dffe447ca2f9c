"""Records as JSON objects for the API: ISO 8601 UTC times, ids, and customer references."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from socialcrm.models import Customer, Mention, ReplyDraft, Ticket, TicketNote
from socialcrm.services.records import iso, mention_record

MENTION_FIELDS = (
    "id",
    "source",
    "source_type",
    "external_id",
    "url",
    "thread_id",
    "author",
    "author_name",
    "title",
    "text",
    "language",
    "sentiment",
    "sentiment_score",
    "customer_id",
    "customer_ref",
    "group",
    "tags",
    "published_at",
    "fetched_at",
    "labels",
)


def mention(m: Mention, customer_ref: str | None = None, labels: Iterable[str] = ()) -> dict[str, Any]:
    """A mention with the API's fields (``labels``: its custom labels), written as exports and webhooks are."""
    return mention_record(m, customer_ref, MENTION_FIELDS, list(labels))


def ticket(t: Ticket, mention_ids: list[int] | None = None, customer_ref: str | None = None) -> dict[str, Any]:
    """A ticket with its deadlines and, when given, the ids of its mentions."""
    data: dict[str, Any] = {
        "id": t.id,
        "status": t.status,
        "priority": t.priority,
        "team": t.team,
        "assignee": t.assignee,
        "rule": t.rule,
        "subject": t.subject,
        "customer_id": t.customer_id,
        "customer_ref": customer_ref,
        "merged_into_id": t.merged_into_id,
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
        "first_response_due": iso(t.first_response_due),
        "resolution_due": iso(t.resolution_due),
        "first_response_at": iso(t.first_response_at),
        "resolved_at": iso(t.resolved_at),
        "closed_at": iso(t.closed_at),
    }
    if mention_ids is not None:
        data["mention_ids"] = mention_ids
    return data


def note(n: TicketNote) -> dict[str, Any]:
    """A ticket's internal note."""
    return {"id": n.id, "author": n.author, "text": n.text, "created_at": iso(n.created_at)}


def draft(d: ReplyDraft, customer_ref: str | None = None) -> dict[str, Any]:
    """A reply draft with its review and delivery state."""
    return {
        "id": d.id,
        "status": d.status,
        "version": d.version,
        "rule": d.rule,
        "template": d.template,
        "language": d.language,
        "text": d.text,
        "original_text": d.original_text,
        "mention_id": d.mention_id,
        "customer_id": d.customer_id,
        "customer_ref": customer_ref,
        "assignee": d.assignee,
        "created_at": iso(d.created_at),
        "approved_by": d.approved_by,
        "approved_at": iso(d.approved_at),
        "rejected_by": d.rejected_by,
        "rejected_reason": d.rejected_reason,
        "sent_at": iso(d.sent_at),
        "external_reply_url": d.external_reply_url,
        "error": d.error,
    }


def customer(c: Customer) -> dict[str, Any]:
    """A customer record's own fields, without its contacts, orders or mentions."""
    return {
        "id": c.id,
        "customer_ref": c.customer_ref,
        "name": c.name,
        "company": c.company,
        "segment": c.segment,
        "tags": list(c.tags or []),
        "is_prospect": c.is_prospect,
        "merged_into_id": c.merged_into_id,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }
