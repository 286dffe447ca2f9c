"""Link suggestions waiting for review, with their mention and the suggested customer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from socialcrm.models import Customer, LinkSuggestion, Mention


@dataclass(slots=True)
class LinkReview:
    suggestion: LinkSuggestion
    mention: Mention
    customer: Customer
    current: Customer | None


def pending_links(session: Session, limit: int = 50) -> list[LinkReview]:
    """Pending suggestions, most confident first."""
    query = (
        select(LinkSuggestion, Mention, Customer)
        .join(Mention, col(Mention.id) == LinkSuggestion.mention_id)
        .join(Customer, col(Customer.id) == LinkSuggestion.customer_id)
        .where(LinkSuggestion.status == "pending")
        .order_by(col(LinkSuggestion.confidence).desc(), col(LinkSuggestion.id))
        .limit(limit)
    )
    rows = list(session.exec(query))
    current_ids = {m.customer_id for _s, m, _c in rows if m.customer_id is not None}
    current = (
        {c.id: c for c in session.exec(select(Customer).where(col(Customer.id).in_(current_ids)))}
        if current_ids
        else {}
    )
    return [LinkReview(s, m, c, current.get(m.customer_id) if m.customer_id else None) for s, m, c in rows]
