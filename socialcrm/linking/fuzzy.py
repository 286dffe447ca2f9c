"""Fuzzy name (and company) matching of an author to customers: only ever a suggestion for review.

Candidates come from an index, never a scan: customers whose name sounds like the author's in its
first and last word (``customer.fuzzy_key``, Kölner Phonetik: ``models/name_keys.py``), at most
``MAX_CANDIDATES`` per name. rapidfuzz then scores that short list: the better of the plain and the
word-order-insensitive similarity of the folded names. A company named in the text adds a bonus.

Which candidates a common name keeps is fixed, whatever else is in the batch: those whose key is
one of the name's exact keys before those found by an initial's key prefix, each by customer id
(the oldest records first), ``MAX_CANDIDATES`` per key read from the database.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlmodel import Session

from socialcrm.linking.normalize import normalize_name
from socialcrm.models import Customer, table_of
from socialcrm.models.name_keys import lookup_keys, prefix_end

MAX_CANDIDATES = 500
MAX_SUGGESTIONS = 3
COMPANY_BONUS = 0.1


@dataclass(frozen=True)
class FuzzyMatch:
    """A customer whose name looks like the author's, with the score and what agreed."""

    customer_id: int
    score: float
    name: str
    company_in_text: bool


@dataclass(frozen=True)
class NameQuery:
    """One author name to match, with the folded words of the post (for the company bonus)."""

    name: str
    text_words: tuple[str, ...]


def name_score(left: str, right: str, floor: float = 0.0) -> float:
    """Similarity of two folded names in [0, 1], insensitive to word order; 0 when below ``floor``."""
    if not left or not right:
        return 0.0
    cutoff = floor * 100
    best = max(fuzz.ratio(left, right, score_cutoff=cutoff), fuzz.token_sort_ratio(left, right, score_cutoff=cutoff))
    return best / 100


def fuzzy_matches(
    session: Session, author_name: str, text_words: tuple[str, ...], min_score: float
) -> list[FuzzyMatch]:
    """Customers whose name scores at least ``min_score`` against ``author_name`` (best first, at most 3)."""
    return fuzzy_matches_batch(session, [NameQuery(author_name, text_words)], min_score)[0]


def fuzzy_matches_batch(session: Session, queries: Sequence[NameQuery], min_score: float) -> list[list[FuzzyMatch]]:
    """The matches of every name, with the candidates of all names read in one indexed query.

    A name of one word, or of words shorter than three letters, is too weak to suggest anything.
    """
    keyed = [_keys(q.name) for q in queries]
    exact = sorted({k for keys, _ in keyed for k in keys})
    prefixes = sorted({p for _, found in keyed for p in found})
    candidates = _candidates(session, exact, prefixes)
    floor = max(0.0, min_score - COMPANY_BONUS)
    out: list[list[FuzzyMatch]] = []
    for query, (keys, found_prefixes) in zip(queries, keyed, strict=True):
        closest = {c for k in keys for c in candidates.get(k, ())}
        by_prefix = {
            c for p in found_prefixes for key, rows in candidates.items() if key.startswith(p) for c in rows
        } - closest
        pool = (sorted(closest) + sorted(by_prefix))[:MAX_CANDIDATES]
        out.append(_score(query, pool, floor, min_score))
    return out


def _keys(name: str) -> tuple[list[str], list[str]]:
    tokens = normalize_name(name).split()
    if len(tokens) < 2 or max(len(t) for t in tokens) < 3:
        return [], []
    return lookup_keys(name)


_Candidate = tuple[int, str, str | None]


def _key_filter(exact: Sequence[str], prefixes: Sequence[str]) -> ColumnElement[bool]:
    key = table_of(Customer).c.fuzzy_key
    wanted: list[ColumnElement[bool]] = [key.in_(exact)] if exact else []
    wanted += [and_(key >= p, key < prefix_end(p)) for p in prefixes]
    return or_(*wanted)


def candidate_statement(exact: Sequence[str], prefixes: Sequence[str]) -> Select[Any]:
    """The customers with these keys or key prefixes through ``ix_customer_fuzzy_key`` only, one past the bound at most.

    Whether a row is a prospect or merged away is read, not filtered on: SQLite without statistics
    would otherwise walk ``ix_customer_is_prospect`` (every customer) instead of the key's index.
    """
    table = table_of(Customer)
    columns = (
        table.c.fuzzy_key,
        table.c.id,
        table.c.name,
        table.c.company,
        table.c.merged_into_id,
        table.c.is_prospect,
    )
    return select(*columns).where(_key_filter(exact, prefixes)).limit(_bound(exact, prefixes) + 1)


def ranked_candidate_statement(exact: Sequence[str], prefixes: Sequence[str]) -> Select[Any]:
    """Per key the ``MAX_CANDIDATES`` lowest ids not merged away (a window over each key's rows, by the key's index).

    Several times dearer than ``candidate_statement`` on SQLite (it sorts every row found), so read only
    when that one's bound was reached. ``merged_into_id`` has no index to mislead the planner.
    """
    table = table_of(Customer)
    key = table.c.fuzzy_key
    rank = func.row_number().over(partition_by=key, order_by=table.c.id).label("rank")
    columns = (key, table.c.id, table.c.name, table.c.company, table.c.merged_into_id, table.c.is_prospect)
    where = and_(_key_filter(exact, prefixes), table.c.merged_into_id.is_(None))
    ranked = select(*columns, rank).where(where).subquery("ranked")
    return select(*[ranked.c[c.name] for c in columns]).where(ranked.c.rank <= MAX_CANDIDATES)


def _bound(exact: Sequence[str], prefixes: Sequence[str]) -> int:
    return MAX_CANDIDATES * (len(exact) + len(prefixes))


def _candidates(session: Session, exact: list[str], prefixes: list[str]) -> dict[str, list[_Candidate]]:
    """Customers (not prospects, not merged away) with these keys or key prefixes, grouped by key.

    Each key keeps its ``MAX_CANDIDATES`` lowest ids, so a key shared by thousands of namesakes neither
    crowds out the other keys of a batch nor keeps an arbitrary set. Usually every row fits under the
    bound of one plain read, and the cut is made here; past it (a common name), the database ranks.
    """
    if not exact and not prefixes:
        return {}
    grouped, read = _grouped(session.execute(candidate_statement(exact, prefixes)))
    if read > _bound(exact, prefixes):
        grouped, _ = _grouped(session.execute(ranked_candidate_statement(exact, prefixes)))
    for fuzzy_key, found in grouped.items():
        if len(found) > MAX_CANDIDATES:
            grouped[fuzzy_key] = sorted(found)[:MAX_CANDIDATES]
    return grouped


def _grouped(rows: Iterable[Any]) -> tuple[dict[str, list[_Candidate]], int]:
    """The usable candidates by key, and how many rows were read (streamed: a list of rows costs a third more)."""
    grouped: dict[str, list[_Candidate]] = {}
    read = 0
    for fuzzy_key, customer_id, name, company, merged_into_id, is_prospect in rows:
        read += 1
        if fuzzy_key is not None and name and merged_into_id is None and not is_prospect:
            grouped.setdefault(fuzzy_key, []).append((customer_id, name, company))
    return grouped, read


@functools.lru_cache(maxsize=65536)
def _folded(name: str) -> str:
    """``normalize_name`` remembered: the same few thousand names come back batch after batch."""
    return normalize_name(name)


def _score(query: NameQuery, pool: list[_Candidate], floor: float, min_score: float) -> list[FuzzyMatch]:
    """Score the pool against the author's name; namesakes (many customers share a name) are scored once."""
    wanted = _folded(query.name)
    words = set(query.text_words)
    scores: dict[str, float] = {}
    matches: list[FuzzyMatch] = []
    for customer_id, name, company in pool:
        folded = _folded(name)
        score = scores.get(folded)
        if score is None:
            score = scores[folded] = name_score(wanted, folded, floor)
        if score < floor or score == 0.0:
            continue
        company_words = _folded(company).split() if company else []
        in_text = bool(company_words) and all(w in words for w in company_words)
        if in_text:
            score = min(1.0, score + COMPANY_BONUS)
        if score >= min_score:
            matches.append(FuzzyMatch(customer_id, round(score, 3), name, in_text))
    matches.sort(key=lambda m: (-m.score, m.customer_id))
    return matches[:MAX_SUGGESTIONS]
