"""Merge candidates as a person reviews them: grouped by what the records share, with e-mail and phone side by side.

Ten customers called "Thomas Müller" at one company make 45 candidate pairs; a person sees one card
with the ten records and their contact details, keeps one and merges those that are the same
person, or says they are all different people. A pair whose records were merged meanwhile (through
another pair) is shown with the record that survived, and a pair that became one record is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, col, select

from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError
from socialcrm.linking.link import resolve_customer
from socialcrm.models import ContactPoint, Customer, Identity, MergeCandidate, Order
from socialcrm.services import merges

Sentence = tuple[str, dict[str, str]]
_REASONS = (
    (re.compile(r"^same e-mail (?P<value>.+)$"), "Same e-mail address: {value}"),
    (re.compile(r"^same phone (?P<value>.+)$"), "Same phone number (last digits {value})"),
    (
        re.compile(r"^same name and company \((?P<name>.*) / (?P<company>.*)\)$"),
        "Same name and company: {name}, {company}",
    ),
)
REASON_MESSAGES = tuple(message for _pattern, message in _REASONS)
"""The sentences a reason is told in (each has a German version in the web app's catalogue)."""


@dataclass
class RecordView:
    """One customer record of a group, with what tells it apart."""

    customer: Customer
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)
    orders: int = 0


@dataclass
class CandidateGroup:
    """Open candidates that share one reason, and the distinct records they name."""

    reason: str
    candidates: list[MergeCandidate]
    records: list[RecordView]

    @property
    def reason_words(self) -> Sentence:
        """The reason as a sentence of the UI catalogue (the stored text when it has no known shape)."""
        for pattern, message in _REASONS:
            match = pattern.match(self.reason)
            if match:
                values = match.groupdict()
                if "name" in values and self.records:  # the stored reason has the folded name: show it as written
                    first = self.records[0].customer
                    values = {"name": first.name or values["name"], "company": first.company or values["company"]}
                return message, values
        return "{value}", {"value": self.reason}


def candidate_groups(session: Session, limit: int = 100) -> list[CandidateGroup]:
    """Open candidates grouped by reason, oldest first, each with its records' contact details."""
    grouped: dict[str, tuple[list[MergeCandidate], dict[int, Customer]]] = {}
    statement = select(MergeCandidate).where(MergeCandidate.status == "open").order_by(col(MergeCandidate.id))
    for candidate in session.exec(statement):
        a = resolve_customer(session, candidate.customer_a_id)
        b = resolve_customer(session, candidate.customer_b_id)
        if a is None or b is None or a.id is None or b.id is None or a.id == b.id:
            continue
        if candidate.reason not in grouped and len(grouped) >= limit:
            continue
        candidates, records = grouped.setdefault(candidate.reason, ([], {}))
        candidates.append(candidate)
        records.setdefault(a.id, a)
        records.setdefault(b.id, b)
    ids = [customer_id for _c, records in grouped.values() for customer_id in records]
    details = _details(session, ids)
    return [
        CandidateGroup(reason, candidates, [details[i] for i in sorted(records)])
        for reason, (candidates, records) in grouped.items()
    ]


def _details(session: Session, ids: Sequence[int]) -> dict[int, RecordView]:
    """Each record with its e-mails, phones, platform handles and order count (four queries for all)."""
    views = {c.id: RecordView(c) for c in session.exec(select(Customer).where(col(Customer.id).in_(ids))) if c.id}
    for point in session.exec(
        select(ContactPoint).where(col(ContactPoint.customer_id).in_(ids)).order_by(col(ContactPoint.id))
    ):
        (views[point.customer_id].emails if point.kind == "email" else views[point.customer_id].phones).append(
            point.value
        )
    for identity in session.exec(select(Identity).where(col(Identity.customer_id).in_(ids)).order_by(col(Identity.id))):
        views[identity.customer_id].identities.append(f"{identity.platform}: {identity.handle}")
    for customer_id, count in session.exec(
        select(Order.customer_id, func.count()).where(col(Order.customer_id).in_(ids)).group_by(col(Order.customer_id))
    ):
        views[customer_id].orders = int(count)
    return views


def _open_candidates(session: Session, candidate_ids: Iterable[int]) -> list[MergeCandidate]:
    found = []
    for candidate_id in sorted(set(candidate_ids)):
        candidate = session.get(MergeCandidate, candidate_id)
        if candidate is None:
            raise NotFoundError(f"no merge candidate with id {candidate_id}")
        if candidate.status != "open":
            raise ConflictError(f"merge candidate {candidate_id} is already {candidate.status}; reload the page")
        found.append(candidate)
    if not found:
        raise InvalidInputError("candidate: name at least one merge candidate")
    return found


def merge_group(
    session: Session, candidate_ids: Iterable[int], keep_id: int, merge_ids: Iterable[int], *, actor: str
) -> Customer:
    """Merge the records ``merge_ids`` of the candidates' group into ``keep_id``; the others stay as they are."""
    candidates = _open_candidates(session, candidate_ids)
    in_group: set[int] = set()
    for candidate in candidates:
        for customer_id in (candidate.customer_a_id, candidate.customer_b_id):
            survivor = resolve_customer(session, customer_id)
            if survivor is not None and survivor.id is not None:
                in_group.add(survivor.id)
    wanted = set(merge_ids) - {keep_id}
    if keep_id not in in_group or not wanted <= in_group:
        raise InvalidInputError("keep, merge: choose records of this group only")
    if not wanted:
        raise InvalidInputError("merge: tick the records that are the same person as the one you keep")
    kept = session.get(Customer, keep_id)
    if kept is None:
        raise NotFoundError(f"no customer with id {keep_id}")
    for merge_id in sorted(wanted):
        kept = merges.merge_customers(session, keep_id, merge_id, actor=actor)
    for candidate in candidates:  # pairs of two merged records are settled too
        a = resolve_customer(session, candidate.customer_a_id)
        b = resolve_customer(session, candidate.customer_b_id)
        if candidate.status == "open" and a is not None and b is not None and a.id == b.id:
            candidate.status = "merged"
            candidate.decided_by = actor
            session.add(candidate)
    return kept


def dismiss_group(session: Session, candidate_ids: Iterable[int], *, actor: str) -> int:
    """Every candidate of the group names different people; none is suggested again. Returns how many."""
    candidates = _open_candidates(session, candidate_ids)
    for candidate in candidates:
        assert candidate.id is not None
        merges.dismiss_candidate(session, candidate.id, actor=actor)
    return len(candidates)
