"""Link suggestions waiting for review, with their mention, the suggested customer and the evidence in words."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from socialcrm.linking.link import resolve_customer
from socialcrm.models import Customer, LinkSuggestion, Mention

Sentence = tuple[str, dict[str, str]]
"""A message of the UI catalogue and the values for its placeholders (translated by the page)."""
SETTLED_METHODS = ("identity", "confirmed")
_EVIDENCE_WORDS = {
    "email": "The post contains this customer's e-mail address {value}.",
    "phone": "The post contains this customer's phone number {value}.",
    "order": "The post names order {value}, which belongs to this customer.",
    "customer_ref": "The post names this customer's number {value}.",
}


_OTHER_WORDS = (
    "The author's name {name} is close to the customer's name {customer}.",
    "The post names the customer's company.",
    "The post names other customers too, so a person decides.",
    "{what}: {value}",
)
MESSAGES = (*_EVIDENCE_WORDS.values(), *_OTHER_WORDS)
"""Every sentence the evidence is told in (each has a German version in the catalogue)."""


@dataclass(slots=True)
class LinkReview:
    """One suggestion as the review list shows it."""

    suggestion: LinkSuggestion
    mention: Mention
    customer: Customer
    current: Customer | None
    evidence: list[Sentence] = field(default_factory=list)

    @property
    def already_linked(self) -> bool:
        """The mention is linked to the suggested customer already (on its text): only the author is in question."""
        return self.current is not None and self.current.id == self.customer.id


def _words(value: Any) -> str:
    if isinstance(value, list | tuple | set):
        return ", ".join(str(v) for v in value)
    return str(value)


def evidence_sentences(evidence: Mapping[str, Any]) -> list[Sentence]:
    """What made the link likely, as sentences: never a Python list or a dict."""
    sentences: list[Sentence] = []
    for key, value in evidence.items():
        if key in _EVIDENCE_WORDS:
            sentences.append((_EVIDENCE_WORDS[key], {"value": _words(value)}))
    if "customer_name" in evidence:
        sentences.append(
            (
                _OTHER_WORDS[0],
                {"name": _words(evidence.get("name", "")), "customer": _words(evidence["customer_name"])},
            )
        )
    if evidence.get("company_in_text"):
        sentences.append((_OTHER_WORDS[1], {}))
    if evidence.get("ambiguous"):
        sentences.append((_OTHER_WORDS[2], {}))
    known = {*_EVIDENCE_WORDS, "customer_name", "name", "company_in_text", "ambiguous", "platform", "handle"}
    for key, value in evidence.items():
        if key not in known:
            sentences.append((_OTHER_WORDS[3], {"what": key.replace("_", " "), "value": _words(value)}))
    return sentences


def pending_links(session: Session, limit: int = 50) -> list[LinkReview]:
    """Pending suggestions, most confident first; none for a customer the author is already confirmed as."""
    query = (
        select(LinkSuggestion, Mention, Customer)
        .join(Mention, col(Mention.id) == LinkSuggestion.mention_id)
        .join(Customer, col(Customer.id) == LinkSuggestion.customer_id)
        .where(LinkSuggestion.status == "pending")
        .order_by(col(LinkSuggestion.confidence).desc(), col(LinkSuggestion.id))
        .limit(limit)
    )
    reviews = []
    for suggestion, mention, customer in session.exec(query).all():
        suggested = resolve_customer(session, customer.id) or customer
        current = resolve_customer(session, mention.customer_id) if mention.customer_id else None
        if current is not None and current.id == suggested.id and mention.link_method in SETTLED_METHODS:
            continue  # the author is known to be this customer: there is nothing left to decide
        reviews.append(LinkReview(suggestion, mention, suggested, current, evidence_sentences(suggestion.evidence)))
    return reviews
