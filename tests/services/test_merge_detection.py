"""Duplicate detection by the stored match keys finds the very candidates that comparing every record in Python did."""

from __future__ import annotations

import random
from collections import defaultdict
from itertools import combinations

from sqlmodel import Session, col, select

from socialcrm.linking.normalize import normalize_name, phone_suffix
from socialcrm.models import ContactPoint, Customer, MergeCandidate
from socialcrm.services import merges
from tests.rules import factories as f

NAMES = ["Jörg Müller", "Joerg Mueller", "jörg  müller", "Anna Schmidt", "Anna Schmid", "Ole Ölund", "Kim Krause"]
COMPANIES = ["Müller GmbH", "Mueller GmbH.", "Krause KG", None]
EMAILS = [f"info{n}@example.de" for n in range(25)]
PHONES = ["0171 2223334", "+49 171 2223334", "0049 171 2223334", "030 1234567", "+49 30 1234567", "0176 9998887"]


def _reference(session: Session, focus: set[int] | None) -> dict[tuple[int, int], str]:
    """The former detection: every active customer and contact point read and compared in Python.

    Points in the order SQLite's covering (kind, value, customer_id) index gave them, so that a pair
    sharing several keys is named by the same key as the new detection names it.
    """
    active = {
        c.id: c
        for c in session.exec(
            select(Customer).where(col(Customer.is_prospect).is_(False), col(Customer.merged_into_id).is_(None))
        )
    }
    reasons: dict[tuple[int, int], str] = {}

    def pair(a: int, b: int, reason: str) -> None:
        if a != b and (focus is None or a in focus or b in focus):
            reasons.setdefault((min(a, b), max(a, b)), reason)

    points = session.exec(
        select(ContactPoint.kind, ContactPoint.value, ContactPoint.customer_id).order_by(
            col(ContactPoint.kind), col(ContactPoint.value), col(ContactPoint.customer_id)
        )
    )
    groups: dict[tuple[str, str], set[int]] = defaultdict(set)
    for kind, value, customer_id in points:
        if customer_id in active:
            groups[(kind, value if kind == "email" else phone_suffix(value))].add(customer_id)
    for (kind, value), owners in groups.items():
        if len(owners) > merges.GROUP_LIMIT:  # too common a key (a switchboard number): noted, not paired
            continue
        for a, b in combinations(sorted(owners), 2):
            pair(a, b, f"same {'e-mail' if kind == 'email' else 'phone'} {value}")
    by_name: dict[tuple[str, str], list[int]] = defaultdict(list)
    for customer in active.values():
        name, company = normalize_name(customer.name or ""), normalize_name(customer.company or "")
        if name and company:
            by_name[(name, company)].append(customer.id)  # type: ignore[arg-type]
    for (name, company), same in by_name.items():
        if len(same) > merges.GROUP_LIMIT:
            continue
        for a, b in combinations(same, 2):
            pair(a, b, f"same name and company ({name} / {company})")
    return reasons


def _seed(session: Session) -> list[int]:
    rng = random.Random(8)
    ids = []
    for n in range(300):
        customer = f.customer(
            session,
            f"K-{n:04d}",
            rng.choice(NAMES) if rng.random() < 0.5 else f"Person {n}",
            email=rng.choice(EMAILS) if rng.random() < 0.3 else f"p{n}@example.com",
            phone=rng.choice(PHONES) if rng.random() < 0.2 else None,
            company=rng.choice(COMPANIES),
        )
        assert customer.id is not None
        ids.append(customer.id)
        if n % 17 == 0:
            customer.is_prospect = True  # an unknown author: never a candidate
        elif n % 23 == 0:
            customer.merged_into_id = ids[0]  # merged away: never a candidate
        session.add(customer)
    session.flush()
    return ids


def test_detection_finds_the_same_candidates_as_reading_every_record(db) -> None:
    with db.write() as session:
        ids = _seed(session)
        focus = set(ids[250:])
        expected_focus = _reference(session, focus)
        assert len(expected_focus) > 50
        found = merges.detect_candidates(session, focus)
        assert [((c.customer_a_id, c.customer_b_id), c.reason) for c in found] == sorted(expected_focus.items())

        dismissed = merges.dismiss_candidate(session, found[0].id, actor="lead")  # listed pairs are never repeated
        expected = {k: v for k, v in _reference(session, None).items() if k not in expected_focus}
        assert {"e-mail", "phone", "name"} <= {reason.split()[1] for reason in expected.values()}
        found = merges.detect_candidates(session)
        assert [((c.customer_a_id, c.customer_b_id), c.reason) for c in found] == sorted(expected.items())
        assert merges.detect_candidates(session) == []
        assert session.get(MergeCandidate, dismissed.id).status == "dismissed"
