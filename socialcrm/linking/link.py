"""Tie a new mention to a customer, with a method, a confidence and the evidence; never merge silently.

Order of evidence: the author's platform identity (certain), then e-mail, phone, order or customer
numbers in the text (strong; the mention is linked and the identity waits in the review list), then a
fuzzy name match (a suggestion only). An author with no identity becomes a prospect: one customer
record per (platform, handle).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from socialcrm.config import LinkingConfig
from socialcrm.linking.evidence import Clue, find_clues
from socialcrm.linking.fuzzy import fuzzy_matches
from socialcrm.linking.normalize import normalize_handle
from socialcrm.models import Customer, Identity, LinkMethod, LinkSuggestion, Mention
from socialcrm.rules.facts import mention_text
from socialcrm.rules.text import words

logger = logging.getLogger(__name__)
AGREEMENT_BONUS = 0.05
MAX_TEXT_CONFIDENCE = 0.98


@dataclass
class LinkResult:
    """What linking did to one mention."""

    customer_id: int | None
    method: LinkMethod | None
    confidence: float | None
    evidence: dict[str, Any] = field(default_factory=dict)
    suggestions: list[LinkSuggestion] = field(default_factory=list)
    prospect: Customer | None = None  # set when a prospect was created for this author


def resolve_customer(session: Session, customer_id: int | None) -> Customer | None:
    """The customer, following merges to the record that survived."""
    seen: set[int] = set()
    while customer_id is not None and customer_id not in seen:
        seen.add(customer_id)
        customer = session.get(Customer, customer_id)
        if customer is None or customer.merged_into_id is None:
            return customer
        customer_id = customer.merged_into_id
    return None


def prospect_ref(platform: str, handle: str) -> str:
    """A stable customer_ref for the prospect of one platform identity."""
    digest = hashlib.sha256(f"{platform}\x00{handle}".encode()).hexdigest()[:12]
    return f"prospect-{platform[:20]}-{digest}"


def find_identity(session: Session, platform: str, author: str | None) -> Identity | None:
    """The stored identity of ``author`` on ``platform``, if any."""
    if not author:
        return None
    handle = normalize_handle(platform, author)
    return session.exec(select(Identity).where(Identity.platform == platform, Identity.handle == handle)).first()


def ensure_prospect(session: Session, mention: Mention, now: datetime) -> tuple[Identity, Customer, bool]:
    """The identity of the mention's author, creating a prospect for it if it has none."""
    assert mention.author, "a prospect needs an author"
    platform = mention.source_type
    handle = normalize_handle(platform, mention.author)
    identity = session.exec(select(Identity).where(Identity.platform == platform, Identity.handle == handle)).first()
    if identity is not None:
        customer = resolve_customer(session, identity.customer_id)
        if customer is not None:
            return identity, customer, False
    prospect = session.exec(select(Customer).where(Customer.customer_ref == prospect_ref(platform, handle))).first()
    if prospect is None:
        prospect = Customer(
            customer_ref=prospect_ref(platform, handle),
            name=mention.author_name or mention.author,
            is_prospect=True,
            consent_marketing=False,
            created_at=now,
            updated_at=now,
        )
        session.add(prospect)
        session.flush()
    assert prospect.id is not None
    if identity is None:
        identity = Identity(
            platform=platform,
            handle=handle,
            customer_id=prospect.id,
            display_name=mention.author_name,
            profile_url=mention.author_url,
            created_at=now,
        )
        session.add(identity)
    else:
        identity.customer_id = prospect.id
    session.flush()
    return identity, prospect, True


def link_mention(session: Session, mention: Mention, config: LinkingConfig, now: datetime) -> LinkResult:
    """Set mention.customer_id / link_method / link_confidence; add prospects and review suggestions."""
    identity = find_identity(session, mention.source_type, mention.author)
    owner = resolve_customer(session, identity.customer_id) if identity else None
    if identity is not None and owner is not None and not owner.is_prospect:
        evidence = {"identity": f"{identity.platform}:{identity.handle}"}
        return _set(mention, LinkResult(owner.id, "identity", 1.0, evidence))

    text = mention_text(mention)
    by_customer = _clues_by_customer(session, text, config)
    prospect_created: Customer | None = None
    if mention.author:
        identity, owner, created = ensure_prospect(session, mention, now)
        prospect_created = owner if created else None

    if len(by_customer) == 1:
        result = _link_on_text(session, mention, *next(iter(by_customer.items())), now)
    else:
        if owner is not None and identity is not None:
            evidence = {"identity": f"{mention.source_type}:{identity.handle}"}
            result = LinkResult(owner.id, "prospect", 1.0, evidence)
        else:
            result = LinkResult(None, None, None, {})
        _suggest_ambiguous(session, mention, by_customer, result, now)
        if not by_customer and prospect_created is not None and mention.author_name:
            _suggest_fuzzy(session, mention, mention.author_name, text, config, result, now)
    result.prospect = prospect_created
    return _set(mention, result)


def _clues_by_customer(session: Session, text: str, config: LinkingConfig) -> dict[int, list[Clue]]:
    """The clues in ``text`` that point at known customers, grouped by the record that survived merges."""
    by_customer: dict[int, list[Clue]] = {}
    for clue in find_clues(session, text, config):
        if not _is_customer(session, clue):
            continue
        survivor = resolve_customer(session, clue.customer_id)
        if survivor is not None and survivor.id is not None:
            by_customer.setdefault(survivor.id, []).append(clue)
    return by_customer


def _link_on_text(session: Session, mention: Mention, customer_id: int, found: list[Clue], now: datetime) -> LinkResult:
    """One customer named in the text: link to it (agreeing clues add confidence); the identity waits for review."""
    methods = {c.method for c in found}
    best = max(found, key=lambda c: c.confidence)
    confidence = min(MAX_TEXT_CONFIDENCE, best.confidence + AGREEMENT_BONUS * (len(methods) - 1))
    evidence = _evidence(found)
    result = LinkResult(customer_id, best.method, confidence, evidence)
    if mention.author:
        _keep(result, _suggest(session, mention, customer_id, best.method, confidence, evidence, now))
    return result


def _suggest_ambiguous(
    session: Session, mention: Mention, by_customer: dict[int, list[Clue]], result: LinkResult, now: datetime
) -> None:
    """Several customers named in the text: a person decides (each suggested at half its confidence)."""
    for customer_id, found in by_customer.items():
        best = max(found, key=lambda c: c.confidence)
        evidence = {**_evidence(found), "ambiguous": True}
        confidence = round(best.confidence / 2, 3)
        _keep(result, _suggest(session, mention, customer_id, best.method, confidence, evidence, now))


def _suggest_fuzzy(
    session: Session,
    mention: Mention,
    author_name: str,
    text: str,
    config: LinkingConfig,
    result: LinkResult,
    now: datetime,
) -> None:
    """A new author with nothing in the text: customers with a similar name are suggested."""
    for match in fuzzy_matches(session, author_name, words(text), config.fuzzy_min_score):
        hint: dict[str, Any] = {"name": author_name, "customer_name": match.name}
        if match.company_in_text:
            hint["company_in_text"] = True
        _keep(result, _suggest(session, mention, match.customer_id, "fuzzy_name", match.score, hint, now))


def _keep(result: LinkResult, suggestion: LinkSuggestion | None) -> None:
    if suggestion is not None:
        result.suggestions.append(suggestion)


def _is_customer(session: Session, clue: Clue) -> bool:
    customer = session.get(Customer, clue.customer_id)
    return customer is not None and not customer.is_prospect


def _evidence(clues: list[Clue]) -> dict[str, Any]:
    evidence: dict[str, Any] = {}
    for clue in clues:
        evidence.setdefault(clue.method, [])
        if clue.value not in evidence[clue.method]:
            evidence[clue.method].append(clue.value)
    return evidence


def _suggest(
    session: Session,
    mention: Mention,
    customer_id: int,
    method: LinkMethod,
    confidence: float,
    evidence: dict[str, Any],
    now: datetime,
) -> LinkSuggestion | None:
    """Add a review item unless this author was already suggested for (or rejected as) this customer."""
    assert mention.id is not None, "link_mention needs a flushed mention"
    earlier = session.exec(
        select(LinkSuggestion.id)
        .join(Mention, col(Mention.id) == col(LinkSuggestion.mention_id))
        .where(
            LinkSuggestion.customer_id == customer_id,
            Mention.source_type == mention.source_type,
            Mention.author == mention.author,
            col(LinkSuggestion.status).in_(("pending", "rejected")),
        )
    ).first()
    if earlier is not None:
        return None
    suggestion = LinkSuggestion(
        mention_id=mention.id,
        customer_id=customer_id,
        method=method,
        confidence=confidence,
        evidence={**evidence, "platform": mention.source_type, "handle": mention.author},
        created_at=now,
    )
    session.add(suggestion)
    session.flush()
    return suggestion


def _set(mention: Mention, result: LinkResult) -> LinkResult:
    mention.customer_id = result.customer_id
    mention.link_method = result.method
    mention.link_confidence = result.confidence
    return result
