"""Duplicate customers: detection (same e-mail, phone, or name and company) and merging on a person's command.

Detection only writes MergeCandidate rows for review; nothing merges unless a person (or an import
stating that a handle belongs to a customer) asks, and every merge is audited with what moved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from sqlalchemy import and_, func, update
from sqlmodel import Session, col, select

from socialcrm.errors import ConflictError, NotFoundError
from socialcrm.models import (
    ContactPoint,
    Customer,
    CustomerNote,
    Identity,
    LinkSuggestion,
    Mention,
    MergeCandidate,
    Order,
    ReplyDraft,
    Ticket,
    utcnow,
)
from socialcrm.services import audit

GROUP_LIMIT = 20
"""Customers sharing one key (a switchboard number, an info@ address) above which the key is named in a
note instead of paired: 190 pairs at most a key, where 1,000 holders would make 499,500. The import's
duplicate search uses the same limit."""


@dataclass
class CandidateView:
    """A merge candidate with both customer records."""

    candidate: MergeCandidate
    a: Customer
    b: Customer


def _is_active() -> tuple[Any, ...]:
    return col(Customer.is_prospect).is_(False), col(Customer.merged_into_id).is_(None)


def _shared_contacts(session: Session) -> dict[tuple[str, str], set[int]]:
    """(kind, match key) -> the active customers holding it, for the keys more than one active customer holds.

    The database groups the contact points by their stored match key (the e-mail, a phone's last nine
    digits) and returns only the shared keys' points.
    """
    shared = (
        select(ContactPoint.kind, ContactPoint.match_key)
        .join(Customer, col(Customer.id) == ContactPoint.customer_id)
        .where(*_is_active())
        .group_by(col(ContactPoint.kind), col(ContactPoint.match_key))
        .having(func.count(func.distinct(ContactPoint.customer_id)) > 1)
        .subquery()
    )
    points = session.exec(
        select(ContactPoint.kind, ContactPoint.match_key, ContactPoint.customer_id)
        .join(Customer, col(Customer.id) == ContactPoint.customer_id)
        .join(shared, and_(shared.c.kind == ContactPoint.kind, shared.c.match_key == ContactPoint.match_key))
        .where(*_is_active())
    )
    groups: dict[tuple[str, str], set[int]] = defaultdict(set)
    for kind, key, customer_id in points:
        groups[(kind, key)].add(customer_id)
    return groups


def _shared_names(session: Session) -> dict[str, list[int]]:
    """Name key (folded name and company) -> the active customers holding it, for the keys held more than once."""
    shared = (
        select(Customer.name_key)
        .where(*_is_active(), col(Customer.name_key).is_not(None))
        .group_by(col(Customer.name_key))
        .having(func.count() > 1)
    )
    holders = session.exec(
        select(Customer.name_key, Customer.id)
        .where(*_is_active(), col(Customer.name_key).in_(shared))
        .order_by(col(Customer.id))
    )
    groups: dict[str, list[int]] = defaultdict(list)
    for key, customer_id in holders:
        groups[key or ""].append(customer_id)  # type: ignore[arg-type]
    return groups


def _listed_pairs(session: Session, pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """The pairs among ``pairs`` that are already merge candidates (open, merged or dismissed)."""
    firsts = sorted({a for a, _ in pairs})
    listed: set[tuple[int, int]] = set()
    for start in range(0, len(firsts), 500):
        chunk = firsts[start : start + 500]
        statement = select(MergeCandidate.customer_a_id, MergeCandidate.customer_b_id).where(
            col(MergeCandidate.customer_a_id).in_(chunk)
        )
        listed.update((a, b) for a, b in session.exec(statement))
    return listed


def detect_candidates(
    session: Session,
    customer_ids: Iterable[int] | None = None,
    *,
    actor: str = "system",
    notes: list[str] | None = None,
) -> list[MergeCandidate]:
    """Find pairs of active customers sharing an e-mail, a phone, or name and company; store new pairs.

    With ``customer_ids`` only pairs involving those customers are looked for (after an import).
    Returns the candidates created now; pairs already listed (open, merged or dismissed) are not repeated.
    The database finds the shared keys through the stored match keys; only their holders reach Python.
    A key held by more than ``GROUP_LIMIT`` customers pairs nobody: it is told in ``notes`` instead.
    """
    focus = set(customer_ids) if customer_ids is not None else None
    reasons: dict[tuple[int, int], str] = {}
    told = notes if notes is not None else []

    def pair_all(owners: list[int], reason: str) -> None:
        if focus is not None and focus.isdisjoint(owners):
            return
        if len(owners) > GROUP_LIMIT:
            told.append(f"{reason}: {len(owners)} customers; not listed as merge candidates")
            return
        for a, b in combinations(owners, 2):
            if focus is None or a in focus or b in focus:
                reasons.setdefault((min(a, b), max(a, b)), reason)

    # A pair sharing several keys is named by the first: e-mails before phones (by key), then name and company.
    for (kind, value), owners in sorted(_shared_contacts(session).items()):
        pair_all(sorted(owners), f"same {'e-mail' if kind == 'email' else 'phone'} {value}")
    for key, same in _shared_names(session).items():
        name, _, company = key.partition("|")
        pair_all(same, f"same name and company ({name} / {company})")
    listed = _listed_pairs(session, reasons)
    created = []
    for (a, b), reason in sorted(reasons.items()):
        if (a, b) not in listed:
            candidate = MergeCandidate(customer_a_id=a, customer_b_id=b, reason=reason[:256], created_at=utcnow())
            session.add(candidate)
            created.append(candidate)
    session.flush()
    for candidate in created:
        audit.record(
            session,
            actor,
            "merge_candidate.create",
            "customer",
            candidate.customer_a_id,
            {"other": candidate.customer_b_id, "reason": candidate.reason},
        )
    return created


def list_candidates(session: Session, status: str | None = "open", limit: int = 200) -> list[CandidateView]:
    """Merge candidates for review, oldest first."""
    statement = select(MergeCandidate).order_by(col(MergeCandidate.id)).limit(limit)
    if status is not None:
        statement = statement.where(MergeCandidate.status == status)
    views = []
    for candidate in session.exec(statement):
        a = session.get(Customer, candidate.customer_a_id)
        b = session.get(Customer, candidate.customer_b_id)
        if a is not None and b is not None:
            views.append(CandidateView(candidate, a, b))
    return views


def dismiss_candidate(session: Session, candidate_id: int, *, actor: str) -> MergeCandidate:
    """Mark a candidate as not the same person; it is not suggested again."""
    candidate = session.get(MergeCandidate, candidate_id)
    if candidate is None:
        raise NotFoundError(f"no merge candidate with id {candidate_id}")
    if candidate.status != "open":
        raise ConflictError(f"merge candidate {candidate_id} is already {candidate.status}")
    candidate.status = "dismissed"
    candidate.decided_by = actor
    session.add(candidate)
    audit.record(
        session,
        actor,
        "merge_candidate.dismiss",
        "customer",
        candidate.customer_a_id,
        {"other": candidate.customer_b_id},
    )
    return candidate


def merge_customers(session: Session, keep_id: int, merge_id: int, *, actor: str) -> Customer:
    """Merge customer ``merge_id`` into ``keep_id``: identities, contacts, orders, mentions, tickets, drafts,
    notes and suggestions move; empty fields of the kept record are filled; the other is marked merged.
    """
    keep, other = _mergeable(session, keep_id, merge_id)
    if other.is_prospect:  # the author's posts were linked to a stand-in; now to the known customer
        session.exec(
            update(Mention)
            .where(col(Mention.customer_id) == merge_id, col(Mention.link_method) == "prospect")
            .values(link_method="identity", link_confidence=1.0)
        )
    moved = _move_owned_records(session, keep_id, merge_id)
    _fill_from(keep, other)
    other.merged_into_id = keep_id
    other.updated_at = utcnow()
    session.add(keep)
    session.add(other)
    session.flush()
    _settle_candidates(session, keep_id, merge_id, actor)
    audit.record(
        session,
        actor,
        "customer.merge",
        "customer",
        keep_id,
        {"merged": merge_id, "merged_ref": other.customer_ref, "moved": moved},
    )
    return keep


def _mergeable(session: Session, keep_id: int, merge_id: int) -> tuple[Customer, Customer]:
    """Both records, or the error that says why they cannot be merged."""
    if keep_id == merge_id:
        raise ConflictError("a customer cannot be merged into itself")
    keep = session.get(Customer, keep_id)
    other = session.get(Customer, merge_id)
    if keep is None or other is None:
        raise NotFoundError(f"no customer with id {keep_id if keep is None else merge_id}")
    if keep.merged_into_id is not None:
        raise ConflictError(f"customer {keep.customer_ref} was merged into another record; merge into that one")
    if other.merged_into_id is not None:
        raise ConflictError(f"customer {other.customer_ref} was already merged")
    return keep, other


def _move_owned_records(session: Session, keep_id: int, merge_id: int) -> dict[str, int]:
    """Move what belongs to ``merge_id`` to ``keep_id``; contact points and suggestions the kept record
    already has are dropped instead. Returns how many rows of each table moved."""
    moved: dict[str, int] = {}
    owned: tuple[Any, ...] = (Identity, Order, CustomerNote, Mention, Ticket, ReplyDraft)
    for model in owned:
        statement = update(model).where(col(model.customer_id) == merge_id).values(customer_id=keep_id)
        moved[model.__name__] = session.exec(statement).rowcount
    kept_points = {
        (p.kind, p.value) for p in session.exec(select(ContactPoint).where(ContactPoint.customer_id == keep_id))
    }
    for point in session.exec(select(ContactPoint).where(ContactPoint.customer_id == merge_id)).all():
        if (point.kind, point.value) in kept_points:
            session.delete(point)
        else:
            point.customer_id = keep_id
            session.add(point)
    for suggestion in session.exec(select(LinkSuggestion).where(LinkSuggestion.customer_id == merge_id)).all():
        clash = session.exec(
            select(LinkSuggestion.id).where(
                LinkSuggestion.mention_id == suggestion.mention_id, LinkSuggestion.customer_id == keep_id
            )
        ).first()
        if clash is not None:
            session.delete(suggestion)
        else:
            suggestion.customer_id = keep_id
            session.add(suggestion)
    return moved


def _fill_from(keep: Customer, other: Customer) -> None:
    """The kept record takes the other's name, company and segment where it has none, and its tags."""
    for field in ("name", "company", "segment"):
        if not getattr(keep, field) and getattr(other, field):
            setattr(keep, field, getattr(other, field))
    keep.tags = [*keep.tags, *[t for t in other.tags if t not in keep.tags]]
    if keep.is_prospect and not other.is_prospect:
        keep.is_prospect = False
    keep.updated_at = utcnow()


def _settle_candidates(session: Session, keep_id: int, merge_id: int, actor: str) -> None:
    """An open merge candidate for exactly these two records is now merged."""
    for candidate in session.exec(
        select(MergeCandidate).where(
            MergeCandidate.status == "open",
            (col(MergeCandidate.customer_a_id).in_((keep_id, merge_id)))
            & (col(MergeCandidate.customer_b_id).in_((keep_id, merge_id))),
        )
    ).all():
        candidate.status = "merged"
        candidate.decided_by = actor
        session.add(candidate)


def merge_by_ref(session: Session, keep_ref: str, merge_ref: str, *, actor: str) -> Customer:
    """``customers merge A B``: merge the customer with ref B into the one with ref A."""
    ids = []
    for ref in (keep_ref, merge_ref):
        found = session.exec(select(Customer.id).where(func.lower(Customer.customer_ref) == ref.lower())).first()
        if found is None:
            raise NotFoundError(f"no customer with customer_ref {ref!r}")
        ids.append(found)
    return merge_customers(session, ids[0], ids[1], actor=actor)
