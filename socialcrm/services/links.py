"""The link review list: uncertain matches of mentions to customers, confirmed or rejected by a person.

Confirming ties the author's platform identity to the customer (a prospect standing for that
author is merged into the customer, so its earlier mentions follow); rejecting returns the mention
to the author's own record and the pair is not suggested again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from socialcrm.errors import ConflictError, NotFoundError
from socialcrm.linking.link import ensure_prospect, resolve_customer
from socialcrm.linking.normalize import normalize_handle
from socialcrm.models import TEXT_LINK_METHODS, Customer, Identity, LinkSuggestion, Mention, utcnow
from socialcrm.services import audit
from socialcrm.services.merges import merge_customers


@dataclass
class SuggestionView:
    """A pending suggestion with the mention, the suggested customer and the mention's current record."""

    suggestion: LinkSuggestion
    mention: Mention
    customer: Customer
    current: Customer | None


def get_suggestion(session: Session, suggestion_id: int) -> LinkSuggestion:
    """The link suggestion with this id; NotFoundError when there is none."""
    suggestion = session.get(LinkSuggestion, suggestion_id)
    if suggestion is None:
        raise NotFoundError(f"no link suggestion with id {suggestion_id}")
    return suggestion


def pending(session: Session, *, limit: int = 100, offset: int = 0) -> list[SuggestionView]:
    """Suggestions waiting for review, most confident first."""
    statement = (
        select(LinkSuggestion)
        .where(LinkSuggestion.status == "pending")
        .order_by(col(LinkSuggestion.confidence).desc(), col(LinkSuggestion.id))
        .offset(offset)
        .limit(limit)
    )
    views = []
    for suggestion in session.exec(statement):
        mention = session.get(Mention, suggestion.mention_id)
        customer = session.get(Customer, suggestion.customer_id)
        if mention is None or customer is None:
            continue
        current = session.get(Customer, mention.customer_id) if mention.customer_id else None
        views.append(SuggestionView(suggestion, mention, customer, current))
    return views


def confirm(session: Session, suggestion_id: int, *, actor: str) -> LinkSuggestion:
    """Confirm: the mention's author is this customer. Creates (or moves) the Identity and relinks."""
    suggestion = get_suggestion(session, suggestion_id)
    if suggestion.status != "pending":
        raise ConflictError(f"link suggestion {suggestion_id} is already {suggestion.status}")
    mention = session.get(Mention, suggestion.mention_id)
    target = resolve_customer(session, suggestion.customer_id)
    if mention is None or target is None or target.id is None:
        raise NotFoundError(f"link suggestion {suggestion_id} points at a deleted mention or customer")
    now = utcnow()
    detail: dict[str, object] = {"mention_id": mention.id, "customer_id": target.id}
    if mention.author:
        handle = normalize_handle(mention.source_type, mention.author)
        identity = session.exec(
            select(Identity).where(Identity.platform == mention.source_type, Identity.handle == handle)
        ).first()
        owner = resolve_customer(session, identity.customer_id) if identity else None
        if owner is not None and owner.id != target.id and not owner.is_prospect:
            raise ConflictError(
                f"{mention.source_type} handle {handle!r} already belongs to customer {owner.customer_ref}; "
                "merge the two customers instead "
                f"(socialcrm customers merge {target.customer_ref} {owner.customer_ref})"
            )
        if owner is not None and owner.is_prospect and owner.id != target.id:
            merge_customers(session, target.id, owner.id, actor=actor)  # type: ignore[arg-type]
            detail["merged_prospect"] = owner.customer_ref
        elif identity is None:
            session.add(
                Identity(
                    platform=mention.source_type,
                    handle=handle,
                    customer_id=target.id,
                    display_name=mention.author_name,
                    profile_url=mention.author_url,
                    created_at=now,
                )
            )
        detail["identity"] = f"{mention.source_type}:{handle}"
    mention.customer_id = target.id
    mention.link_method = "confirmed"
    mention.link_confidence = 1.0
    session.add(mention)
    suggestion.status = "confirmed"
    suggestion.decided_by = actor
    suggestion.decided_at = now
    session.add(suggestion)
    _settle_siblings(session, suggestion, mention, actor, now)
    session.flush()
    audit.record(session, actor, "link.confirm", "link_suggestion", suggestion.id, detail)
    return suggestion


def _settle_siblings(session: Session, decided: LinkSuggestion, mention: Mention, actor: str, now: object) -> None:
    """Other pending suggestions for the same author are answered by this confirmation."""
    if not mention.author:
        return
    siblings = session.exec(
        select(LinkSuggestion)
        .join(Mention, col(Mention.id) == col(LinkSuggestion.mention_id))
        .where(
            LinkSuggestion.status == "pending",
            col(LinkSuggestion.id) != decided.id,
            Mention.source_type == mention.source_type,
            Mention.author == mention.author,
        )
    ).all()
    for sibling in siblings:
        sibling.status = "confirmed" if sibling.customer_id == decided.customer_id else "rejected"
        sibling.decided_by = actor
        sibling.decided_at = now  # type: ignore[assignment]
        session.add(sibling)


def reject(session: Session, suggestion_id: int, *, actor: str) -> LinkSuggestion:
    """Reject: not this customer. A mention linked on that evidence goes back to its author's record."""
    suggestion = get_suggestion(session, suggestion_id)
    if suggestion.status != "pending":
        raise ConflictError(f"link suggestion {suggestion_id} is already {suggestion.status}")
    mention = session.get(Mention, suggestion.mention_id)
    now = utcnow()
    detail: dict[str, object] = {"customer_id": suggestion.customer_id}
    linked_on_text = mention is not None and mention.link_method in TEXT_LINK_METHODS
    if mention is not None and mention.customer_id == suggestion.customer_id and linked_on_text:
        if mention.author:
            _, prospect, _ = ensure_prospect(session, mention, now)
            mention.customer_id, mention.link_method, mention.link_confidence = prospect.id, "prospect", 1.0
        else:
            mention.customer_id, mention.link_method, mention.link_confidence = None, None, None
        session.add(mention)
        detail["relinked_to"] = mention.customer_id
    suggestion.status = "rejected"
    suggestion.decided_by = actor
    suggestion.decided_at = now
    session.add(suggestion)
    audit.record(session, actor, "link.reject", "link_suggestion", suggestion.id, detail)
    return suggestion
