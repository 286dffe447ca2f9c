"""Fuzzy name (and company) matching of an author to customers: only ever a suggestion for review."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from socialcrm.linking.normalize import normalize_name
from socialcrm.models import Customer

MAX_CANDIDATES = 500
COMPANY_BONUS = 0.1


@dataclass(frozen=True)
class FuzzyMatch:
    """A customer whose name looks like the author's, with the score and what agreed."""

    customer_id: int
    score: float
    name: str
    company_in_text: bool


def name_score(left: str, right: str) -> float:
    """Similarity of two folded names in [0, 1], insensitive to word order."""
    if not left or not right:
        return 0.0
    direct = SequenceMatcher(None, left, right).ratio()
    ordered = SequenceMatcher(None, " ".join(sorted(left.split())), " ".join(sorted(right.split()))).ratio()
    return max(direct, ordered)


def fuzzy_matches(
    session: Session, author_name: str, text_words: tuple[str, ...], min_score: float
) -> list[FuzzyMatch]:
    """Customers whose name scores at least ``min_score`` against ``author_name`` (best first, at most 3).

    A name of one word is too weak to suggest anything. A company named in the text adds a bonus.
    """
    wanted = normalize_name(author_name)
    tokens = [t for t in wanted.split() if len(t) >= 3]
    if len(wanted.split()) < 2 or not tokens:
        return []
    lowered = func.lower(Customer.name)
    statement = (
        select(Customer)
        .where(col(Customer.is_prospect).is_(False), col(Customer.merged_into_id).is_(None))
        .where(or_(*[lowered.like(f"%{token[:4]}%") for token in tokens[:4]]))
        .limit(MAX_CANDIDATES)
    )
    words = set(text_words)
    matches: list[FuzzyMatch] = []
    for customer in session.exec(statement):
        if customer.id is None or not customer.name:
            continue
        score = name_score(wanted, normalize_name(customer.name))
        company_words = normalize_name(customer.company or "").split()
        in_text = bool(company_words) and all(w in words for w in company_words)
        if in_text:
            score = min(1.0, score + COMPANY_BONUS)
        if score >= min_score:
            matches.append(FuzzyMatch(customer.id, round(score, 3), customer.name, in_text))
    matches.sort(key=lambda m: -m.score)
    return matches[:3]
