"""Data-protection requests (GDPR Art. 15 and 17): export everything held about a person, or erase it.

A person is a customer record together with every record merged into it. Erasure removes the
personal data and keeps pseudonymised statistics, unlike tools that can only delete a person
with all their tickets:

- identities, e-mail addresses, phone numbers, orders, notes, link suggestions, merge candidates:
  deleted;
- their mentions: text, title, author, URLs and the raw payload are wiped, ``erased_at`` is set;
  source, dates, language, sentiment and predicted custom labels stay for the dashboards (a
  mention marked as a label's example drops out of training); the post's id becomes a keyed hash
  of it, which still tells a re-fetched post apart from a new one (services/erased_posts.py), and
  the sources' stored cursors forget it (a Reddit page anchor ``after=<fullname>``, the ids seen
  near the mark: connectors.forget_posts; the next poll reads those pages again, and drops them);
- tickets and drafts about them: unlinked from the customer, subject/texts/notes/edits wiped;
  status and SLA times stay for the KPIs;
- pending outbox deliveries of their drafts are cancelled and their payloads wiped;
- rule decisions on their mentions lose the values they quoted;
- audit entries about their records, mentions, tickets, drafts and link suggestions keep who did
  what and when, and lose their details (merge reasons, company changes, rejection reasons,
  confirmed identities);
- every other copy of their e-mail, phone, name, handles, order numbers and words, in any table
  (webhook and e-mail payloads in the outbox, audit details, decision explanations, somebody
  else's post that quotes their e-mail or phone) is redacted in place (services/erasure_sweep.py);
- the customer record itself is deleted; the audit log keeps only "customer erased" with the
  customer_ref and counts.

``export_person`` holds everything erasure removes: the records, and every copy the sweep finds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, update
from sqlmodel import Session, col, select

from socialcrm.models import (
    AuditEntry,
    ContactPoint,
    Customer,
    CustomerNote,
    Decision,
    DraftEdit,
    Identity,
    LabelExample,
    LinkSuggestion,
    Mention,
    MentionLabel,
    MergeCandidate,
    Order,
    OutboxItem,
    ReplyDraft,
    SentimentCorrection,
    Ticket,
    TicketMention,
    TicketNote,
    utcnow,
)
from socialcrm.services import audit, sources
from socialcrm.services.customers import find_by_ref
from socialcrm.services.erased_posts import erased_id, installation_key
from socialcrm.services.erasure_sweep import PersonTraces, Redactor, find_copies, redact_copies

ERASED = "[erased]"
# Never anyone's data: the schema's revision, and the erasure key (a random hex string in which a
# phone number's digits may well occur; redacted, it would no longer recognise erased posts).
NOT_SWEPT = ("alembic_version", "erasure_key")


def person_ids(session: Session, customer: Customer) -> list[int]:
    """The customer and every record merged into it (directly or through a chain), from the surviving record."""
    while customer.merged_into_id is not None:
        survivor = session.get(Customer, customer.merged_into_id)
        if survivor is None:
            break
        customer = survivor
    assert customer.id is not None
    ids = [customer.id]
    frontier = [customer.id]
    while frontier:
        merged = [i for i in session.exec(select(Customer.id).where(col(Customer.merged_into_id).in_(frontier))) if i]
        frontier = [i for i in merged if i not in ids]
        ids.extend(frontier)
    return ids


def _mention_ids(session: Session, ids: list[int]) -> list[int]:
    """Mentions linked to the person, and mentions by one of the person's platform identities."""
    handles = list(session.exec(select(Identity.platform, Identity.handle).where(col(Identity.customer_id).in_(ids))))
    clauses: list[Any] = [col(Mention.customer_id).in_(ids)]
    for platform, handle in handles:
        clauses.append((Mention.source_type == platform) & (Mention.author == handle))
    return [m for m in session.exec(select(Mention.id).where(or_(*clauses))) if m is not None]


def _rows(session: Session, model: Any, column: Any, ids: Iterable[int]) -> list[dict[str, Any]]:
    wanted = list(ids)
    if not wanted:
        return []
    return [row.model_dump(mode="json") for row in session.exec(select(model).where(col(column).in_(wanted)))]


def export_person(session: Session, customer_ref: str, *, actor: str) -> dict[str, Any]:
    """Everything stored about the person with this customer_ref, as one JSON-ready document."""
    customer = find_by_ref(session, customer_ref)
    ids = person_ids(session, customer)
    mention_ids = _mention_ids(session, ids)
    ticket_ids = _ticket_ids(session, ids, mention_ids)
    draft_ids = _draft_ids(session, ids, mention_ids)
    redactor = Redactor(person_traces(session, ids, mention_ids))
    document = {
        "customer_ref": customer.customer_ref,
        "exported_at": utcnow().isoformat(),
        "customers": _rows(session, Customer, Customer.id, ids),
        "contact_points": _rows(session, ContactPoint, ContactPoint.customer_id, ids),
        "identities": _rows(session, Identity, Identity.customer_id, ids),
        "orders": _rows(session, Order, Order.customer_id, ids),
        "notes": _rows(session, CustomerNote, CustomerNote.customer_id, ids),
        "mentions": _rows(session, Mention, Mention.id, mention_ids),
        "sentiment_corrections": _rows(session, SentimentCorrection, SentimentCorrection.mention_id, mention_ids),
        "custom_labels": _rows(session, MentionLabel, MentionLabel.mention_id, mention_ids),
        "label_examples": _rows(session, LabelExample, LabelExample.mention_id, mention_ids),
        "tickets": _rows(session, Ticket, Ticket.id, ticket_ids),
        "ticket_notes": _rows(session, TicketNote, TicketNote.ticket_id, ticket_ids),
        "drafts": _rows(session, ReplyDraft, ReplyDraft.id, draft_ids),
        "draft_edits": _rows(session, DraftEdit, DraftEdit.draft_id, draft_ids),
        "link_suggestions": _rows(session, LinkSuggestion, LinkSuggestion.customer_id, ids)
        + _rows(session, LinkSuggestion, LinkSuggestion.mention_id, mention_ids),
        "merge_candidates": _rows(session, MergeCandidate, MergeCandidate.customer_a_id, ids)
        + _rows(session, MergeCandidate, MergeCandidate.customer_b_id, ids),
        "decisions": _rows(session, Decision, Decision.mention_id, mention_ids),
        "outbox": _rows(session, OutboxItem, OutboxItem.draft_id, draft_ids),
        "audit_entries": [
            e.model_dump(mode="json") for e in _audit_entries(session, ids, mention_ids, ticket_ids, draft_ids)
        ],
        # Copies anywhere else (webhook payloads, audit details, other people's posts quoting her):
        # where each is and what of her it holds, not the rest of somebody else's post.
        "copies": [
            {"table": c.table, "id": c.row_id, "column": c.column, "holds": redactor.found(c.value)}
            for c in find_copies(session, redactor, skip_tables=NOT_SWEPT)
        ],
    }
    audit.record(session, actor, "customer.export", "customer", customer.id, {"customer_ref": customer.customer_ref})
    return document


def erase_person(session: Session, customer_ref: str, *, actor: str, now: datetime | None = None) -> dict[str, int]:
    """Erase the person with this customer_ref as described in the module docstring; return counts."""
    now = now or utcnow()
    customer = find_by_ref(session, customer_ref)
    ref = customer.customer_ref
    ids = person_ids(session, customer)
    mention_ids = _mention_ids(session, ids)
    ticket_ids = _ticket_ids(session, ids, mention_ids)
    draft_ids = _draft_ids(session, ids, mention_ids)
    counts = {"customers": len(ids), "mentions": len(mention_ids), "tickets": len(ticket_ids), "drafts": len(draft_ids)}
    # What identifies her, collected before her records go, to find the copies afterwards.
    redactor = Redactor(person_traces(session, ids, mention_ids))
    about_her = [e.id for e in _audit_entries(session, ids, mention_ids, ticket_ids, draft_ids) if e.id is not None]
    if about_her:
        session.exec(update(AuditEntry).where(col(AuditEntry.id).in_(about_her)).values(detail={"erased": True}))
    if mention_ids:
        _forget_in_cursors(session, mention_ids)
        _hash_post_ids(session, mention_ids)
        _wipe_mentions(session, mention_ids, now)
    if ticket_ids:
        _wipe_tickets(session, ticket_ids)
    if draft_ids:
        _wipe_drafts(session, draft_ids)
    _delete_customers(session, ids)
    session.flush()
    counts["copies"] = redact_copies(session, redactor, skip_tables=NOT_SWEPT)
    audit.record(session, actor, "customer.erase", "customer", None, {"customer_ref": ref, **counts})
    return counts


def person_traces(session: Session, ids: list[int], mention_ids: list[int]) -> PersonTraces:
    """Her e-mail addresses, phone numbers, names, handles, order numbers and longer texts."""
    traces = PersonTraces()
    for kind, value in session.exec(
        select(ContactPoint.kind, ContactPoint.value).where(col(ContactPoint.customer_id).in_(ids))
    ):
        if kind == "phone":
            traces.add_phone(value)
        else:
            traces.emails.add(value.lower())
    traces.names.update(n for n in session.exec(select(Customer.name).where(col(Customer.id).in_(ids))) if n)
    for handle, display_name in session.exec(
        select(Identity.handle, Identity.display_name).where(col(Identity.customer_id).in_(ids))
    ):
        traces.handles.add(handle)
        if display_name:
            traces.names.add(display_name)
    traces.order_numbers.update(session.exec(select(Order.order_number).where(col(Order.customer_id).in_(ids))))
    if mention_ids:
        for text, title, author_name in session.exec(
            select(Mention.text, Mention.title, Mention.author_name).where(col(Mention.id).in_(mention_ids))
        ):
            traces.add_text(text)
            traces.add_text(title)
            if author_name:
                traces.names.add(author_name)
    for note in session.exec(select(CustomerNote.text).where(col(CustomerNote.customer_id).in_(ids))):
        traces.add_text(note)
    return traces


def _audit_entries(
    session: Session,
    ids: list[int],
    mention_ids: list[int],
    ticket_ids: list[int],
    draft_ids: Iterable[int] = (),
) -> list[AuditEntry]:
    """Audit entries about her records, mentions, tickets, drafts and the link suggestions of her mentions."""
    suggestions = list(
        session.exec(
            select(LinkSuggestion.id).where(
                or_(col(LinkSuggestion.customer_id).in_(ids), col(LinkSuggestion.mention_id).in_(mention_ids or [-1]))
            )
        )
    )
    wanted = {
        "customer": ids,
        "mention": mention_ids,
        "ticket": ticket_ids,
        "draft": list(draft_ids),
        "link_suggestion": [s for s in suggestions if s is not None],
    }
    clauses = [
        and_(col(AuditEntry.entity_type) == kind, col(AuditEntry.entity_id).in_([str(i) for i in values]))
        for kind, values in wanted.items()
        if values
    ]
    return list(session.exec(select(AuditEntry).where(or_(*clauses)).order_by(col(AuditEntry.id)))) if clauses else []


def _ticket_ids(session: Session, ids: list[int], mention_ids: list[int]) -> list[int]:
    """The person's tickets, and the tickets that hold one of their mentions (they carry their words too)."""
    ticket_ids = [t for t in session.exec(select(Ticket.id).where(col(Ticket.customer_id).in_(ids))) if t]
    if mention_ids:
        holding = session.exec(select(TicketMention.ticket_id).where(col(TicketMention.mention_id).in_(mention_ids)))
        ticket_ids = sorted(set(ticket_ids) | set(holding))
    return ticket_ids


def _draft_ids(session: Session, ids: list[int], mention_ids: list[int]) -> list[int]:
    """Drafts for the person or answering one of their mentions."""
    about_them = or_(col(ReplyDraft.customer_id).in_(ids), col(ReplyDraft.mention_id).in_(mention_ids or [-1]))
    return [d for d in session.exec(select(ReplyDraft.id).where(about_them)) if d]


def _wipe_mentions(session: Session, mention_ids: list[int], now: datetime) -> None:
    """Mentions keep source, dates, language and sentiment; their words and links go, and so do the quotes."""
    session.exec(
        update(Mention)
        .where(col(Mention.id).in_(mention_ids))
        .values(
            text="",
            title=None,
            author=None,
            author_name=None,
            author_url=None,
            url="",
            raw=None,
            author_metrics={},
            customer_id=None,
            link_method=None,
            link_confidence=None,
            thread_id=None,
            parent_id=None,
            erased_at=now,
        )
    )
    session.exec(update(Decision).where(col(Decision.mention_id).in_(mention_ids)).values(explanation={"erased": True}))
    session.exec(delete(LinkSuggestion).where(col(LinkSuggestion.mention_id).in_(mention_ids)))


def _forget_in_cursors(session: Session, mention_ids: list[int]) -> None:
    """Her post ids leave the sources' stored cursors (a Reddit walk's ``after=<fullname>``, ids seen)."""
    post_ids: dict[str, set[str]] = defaultdict(set)
    for source, external_id in session.exec(
        select(Mention.source, Mention.external_id).where(
            col(Mention.id).in_(mention_ids), col(Mention.erased_at).is_(None)
        )
    ):
        post_ids[source].add(external_id)
    sources.forget_posts(session, post_ids)


def _hash_post_ids(session: Session, mention_ids: list[int]) -> None:
    """Each mention's post id becomes its keyed hash (once: a mention erased before keeps its hash)."""
    key = installation_key(session)
    rows = session.exec(
        select(Mention.id, Mention.source, Mention.external_id).where(
            col(Mention.id).in_(mention_ids), col(Mention.erased_at).is_(None)
        )
    ).all()
    if rows:
        statement = update(Mention).where(col(Mention.id) == bindparam("mid")).values(external_id=bindparam("eid"))
        session.connection().execute(
            statement, [{"mid": mid, "eid": erased_id(key, source, eid)} for mid, source, eid in rows]
        )


def _wipe_tickets(session: Session, ticket_ids: list[int]) -> None:
    """Tickets keep status and SLA times for the KPIs; subject and notes are wiped."""
    session.exec(
        update(Ticket).where(col(Ticket.id).in_(ticket_ids)).values(customer_id=None, subject=ERASED, thread_key=None)
    )
    session.exec(update(TicketNote).where(col(TicketNote.ticket_id).in_(ticket_ids)).values(text=ERASED))


def _wipe_drafts(session: Session, draft_ids: list[int]) -> None:
    """Drafts lose their texts and edits; their outbox rows their payload, and pending ones are cancelled."""
    session.exec(
        update(ReplyDraft)
        .where(col(ReplyDraft.id).in_(draft_ids))
        .values(customer_id=None, text=ERASED, original_text=ERASED, rejected_reason=None, error=None)
    )
    session.exec(delete(DraftEdit).where(col(DraftEdit.draft_id).in_(draft_ids)))
    session.exec(
        update(OutboxItem).where(col(OutboxItem.draft_id).in_(draft_ids)).values(payload={"erased": True}, result=None)
    )
    session.exec(
        update(OutboxItem)
        .where(col(OutboxItem.draft_id).in_(draft_ids), col(OutboxItem.status).in_(("pending", "sending")))
        .values(status="failed", last_error="cancelled: the person's data was erased")
    )


def _delete_customers(session: Session, ids: list[int]) -> None:
    """Delete the customer records and everything that is only about them."""
    for model in (ContactPoint, Identity, Order, CustomerNote, LinkSuggestion):
        session.exec(delete(model).where(col(model.customer_id).in_(ids)))
    either = or_(col(MergeCandidate.customer_a_id).in_(ids), col(MergeCandidate.customer_b_id).in_(ids))
    session.exec(delete(MergeCandidate).where(either))
    # Unhook the merge chain before deleting, so foreign keys never point at a removed row.
    session.exec(update(Customer).where(col(Customer.id).in_(ids)).values(merged_into_id=None))
    session.exec(delete(Customer).where(col(Customer.id).in_(ids)))
