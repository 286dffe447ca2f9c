"""Fuzzy name (and company) matching of an author to customers: only ever a suggestion for review."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

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


def name_score(left: str, right: str, floor: float = 0.0) -> float:
    """Similarity of two folded names in [0, 1], insensitive to word order; 0 when surely below ``floor``."""
    if not left or not right:
        return 0.0
    best = 0.0
    for a, b in ((left, right), (" ".join(sorted(left.split())), " ".join(sorted(right.split())))):
        matcher = SequenceMatcher(None, a, b, autojunk=False)
        if matcher.real_quick_ratio() < floor or matcher.quick_ratio() < floor:
            continue  # cheap upper bounds already rule this pair out
        best = max(best, matcher.ratio())
    return best


def fuzzy_matches(
    session: Session, author_name: str, text_words: tuple[str, ...], min_score: float
) -> list[FuzzyMatch]:
    """Customers whose name scores at least ``min_score`` against ``author_name`` (best first, at most 3).

    A name of one word is too weak to suggest anything. A company named in the text adds a bonus.
    Candidates have words starting like the first and the last word of the author's name (a cheap
    filter the database does), so typos inside words are found, a wrong first letter is not.
    """
    wanted = normalize_name(author_name)
    tokens = wanted.split()
    if len(tokens) < 2 or max(len(t) for t in tokens) < 3:
        return []
    lowered = func.lower(Customer.name)

    def has_word_starting(token: str) -> Any:
        return or_(lowered.like(f"{token[:2]}%"), lowered.like(f"% {token[:2]}%"))

    statement = (
        select(Customer.id, Customer.name, Customer.company)
        .where(col(Customer.is_prospect).is_(False), col(Customer.merged_into_id).is_(None))
        .where(has_word_starting(tokens[0]), has_word_starting(tokens[-1]))
        .limit(MAX_CANDIDATES)
    )
    words = set(text_words)
    floor = max(0.0, min_score - COMPANY_BONUS)
    matches: list[FuzzyMatch] = []
    for customer_id, name, company in session.exec(statement):
        if customer_id is None or not name:
            continue
        score = name_score(wanted, normalize_name(name), floor)
        if score < floor:
            continue
        company_words = normalize_name(company or "").split()
        in_text = bool(company_words) and all(w in words for w in company_words)
        if in_text:
            score = min(1.0, score + COMPANY_BONUS)
        if score >= min_score:
            matches.append(FuzzyMatch(customer_id, round(score, 3), name, in_text))
    matches.sort(key=lambda m: -m.score)
    return matches[:3]
