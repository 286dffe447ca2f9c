"""Tie new mentions to customers, with a method, a confidence and the evidence; never merge silently.

Order of evidence: the author's platform identity (certain), then e-mail, phone, order or customer
numbers in the text (strong; the mention is linked and the identity waits in the review list), then a
fuzzy name match (a suggestion only). An author with no identity becomes a prospect: one customer
record per (platform, handle).

A batch is linked with a few set-based queries (identities, customers, each kind of text evidence,
name candidates, earlier suggestions), then decided in memory mention by mention, in order, so a later
mention of the batch sees the prospect an earlier one created. ``link_mention`` is a batch of one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, inspect, select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from socialcrm.config import LinkingConfig
from socialcrm.db_rows import update_rows
from socialcrm.linking.customers import CustomerCache, resolve_customer
from socialcrm.linking.evidence import Clue, TextEvidence, find_clues_batch
from socialcrm.linking.fuzzy import FuzzyMatch, NameQuery, fuzzy_matches_batch
from socialcrm.linking.prospects import (
    NewAuthor,
    author_key,
    ensure_prospect,
    ensure_prospects,
    find_identities,
    prospect_ref,
)
from socialcrm.models import Customer, Identity, LinkMethod, LinkSuggestion, Mention, table_of, unsaved
from socialcrm.rules.facts import mention_text
from socialcrm.rules.text import words

logger = logging.getLogger(__name__)
AGREEMENT_BONUS = 0.05
MAX_TEXT_CONFIDENCE = 0.98
LOOKUP_CHUNK = 500
STILL_COUNTS = ("pending", "rejected")  # an author is not suggested for a customer twice while these stand


@dataclass
class LinkResult:
    """What linking did to one mention."""

    customer_id: int | None
    method: LinkMethod | None
    confidence: float | None
    evidence: dict[str, Any] = field(default_factory=dict)
    suggestion_rows: list[dict[str, Any]] = field(default_factory=list)  # the review items stored, with their ids
    prospect: Customer | None = None  # set when a prospect was created for this author

    @property
    def suggestions(self) -> list[LinkSuggestion]:
        """The review items made for this mention, as objects (built when asked: the batch path never reads them)."""
        return [LinkSuggestion(**row) for row in self.suggestion_rows]


def link_mention(session: Session, mention: Mention, config: LinkingConfig, now: datetime) -> LinkResult:
    """Set mention.customer_id / link_method / link_confidence; add prospects and review suggestions."""
    return link_mentions(session, [mention], config, now)[0]


def link_mentions(
    session: Session,
    mentions: Sequence[Mention],
    config: LinkingConfig,
    now: datetime,
    customers: CustomerCache | None = None,
) -> list[LinkResult]:
    """Link every mention of a batch (stored, with ids), in order; one result per mention."""
    return _Linker(session, config, now, customers or CustomerCache(session)).run(mentions)


def expect_links(session: Session, rows: Sequence[dict[str, Any]], config: LinkingConfig, now: datetime) -> None:
    """Set in new mention rows, before they are stored, the link that linking them will most likely decide.

    Read before the person locks, with the batch's identities, customers and clues as they stand; what
    ``link_mentions`` decides under the locks stays the answer, and it writes only the mentions whose
    link it decides otherwise (an identity or prospect made meanwhile, a merge). A known author's
    mentions are usually stored linked, without the UPDATE that made every link of a batch under the
    locks (on PostgreSQL a change of an indexed column: new entries in each of the mention's indexes).
    An author who needs a prospect gets no link here. Nothing read is kept in the session: the
    decision under the locks reads every customer and identity afresh.
    """
    if not rows:
        return
    held = set(session.identity_map.keys())
    try:
        mentions = [unsaved(Mention, {**row, "id": None}) for row in rows]
        expected = _Linker(session, config, now, CustomerCache(session)).expect(mentions)
    finally:
        for key in set(session.identity_map.keys()) - held:
            session.expunge(session.identity_map[key])
    for row, result in zip(rows, expected, strict=True):
        if result is not None:
            row.update(customer_id=result.customer_id, link_method=result.method, link_confidence=result.confidence)


@dataclass
class _Suggestion:
    mention: Mention
    customer_id: int
    method: LinkMethod
    confidence: float
    evidence: dict[str, Any]
    result: LinkResult


class _Linker:
    """The lookups of one batch, then the decisions in order, then the review items in one insert."""

    def __init__(self, session: Session, config: LinkingConfig, now: datetime, customers: CustomerCache) -> None:
        self.session = session
        self.config = config
        self.now = now
        self.customers = customers
        self._suggestions: list[_Suggestion] = []

    def run(self, mentions: Sequence[Mention]) -> list[LinkResult]:
        keys, identities, known, texts, owned = self._read(mentions)
        created = self._prospects(mentions, keys, known, identities)
        fuzzy = self._fuzzy(mentions, keys, owned, texts, created)
        results = []
        for index, mention in enumerate(mentions):
            key = keys[index]
            identity = identities.get(key) if key is not None else None
            made_here = key is not None and created.get(key) == index
            results.append(self._decide(mention, identity, known[index], owned[index], made_here, fuzzy.get(index, [])))
        _store_links(self.session, mentions, results)
        self._write_suggestions(self._suggestions)
        return results

    def expect(self, mentions: Sequence[Mention]) -> list[LinkResult | None]:
        """What ``run`` would decide for each mention now, without writing; None for an author who needs a prospect."""
        keys, identities, known, _texts, owned = self._read(mentions)
        expected: list[LinkResult | None] = []
        for index, mention in enumerate(mentions):
            key = keys[index]
            identity = identities.get(key) if key is not None else None
            if key is not None and (identity is None or self.customers.resolve(identity.customer_id) is None):
                expected.append(None)  # its prospect is made under the person locks: its id is not known yet
                continue
            expected.append(self._decide(mention, identity, known[index], owned[index], False, []))
        return expected

    def _read(
        self, mentions: Sequence[Mention]
    ) -> tuple[
        list[tuple[str, str] | None],
        dict[tuple[str, str], Identity],
        list[Customer | None],
        list[str],
        list[dict[int, list[Clue]]],
    ]:
        """The batch's lookups: author keys, identities, known customers, texts read for clues, clues by customer."""
        keys = [author_key(m) for m in mentions]
        identities = find_identities(self.session, [k for k in keys if k is not None])
        self.customers.load(i.customer_id for i in identities.values())
        known = [self._known_customer(identities.get(k) if k else None) for k in keys]
        texts = [mention_text(m) if customer is None else "" for m, customer in zip(mentions, known, strict=True)]
        evidence = [TextEvidence.of(t, self.config) if t else TextEvidence() for t in texts]
        clues = find_clues_batch(self.session, evidence) if any(evidence) else [[] for _ in mentions]
        self.customers.load(c.customer_id for found in clues for c in found)
        return keys, identities, known, texts, [self._owned(found) for found in clues]

    def _known_customer(self, identity: Identity | None) -> Customer | None:
        """The real (not prospect) customer an existing identity belongs to, if any."""
        if identity is None:
            return None
        owner = self.customers.resolve(identity.customer_id)
        return owner if owner is not None and not owner.is_prospect else None

    def _prospects(
        self,
        mentions: Sequence[Mention],
        keys: list[tuple[str, str] | None],
        known: list[Customer | None],
        identities: dict[tuple[str, str], Identity],
    ) -> dict[tuple[str, str], int]:
        """Create the prospects the batch needs; return the index of the mention each new one was made for."""
        authors: dict[tuple[str, str], tuple[int, NewAuthor]] = {}
        for index, (mention, key, customer) in enumerate(zip(mentions, keys, known, strict=True)):
            if key is None or customer is not None or key in authors:
                continue
            identity = identities.get(key)
            if identity is not None and self.customers.resolve(identity.customer_id) is not None:
                continue
            name = mention.author_name or mention.author or key[1]
            authors[key] = (index, NewAuthor(key[0], key[1], name, mention.author_name, mention.author_url))
        made = ensure_prospects(self.session, [a for _, a in authors.values()], identities, self.customers, self.now)
        return {key: authors[key][0] for key in made}

    def _fuzzy(
        self,
        mentions: Sequence[Mention],
        keys: list[tuple[str, str] | None],
        owned: list[dict[int, list[Clue]]],
        texts: list[str],
        created: dict[tuple[str, str], int],
    ) -> dict[int, list[FuzzyMatch]]:
        """Name matches for each new author with a name and nothing in the text, looked up together."""
        wanted = [
            index
            for index, (mention, key) in enumerate(zip(mentions, keys, strict=True))
            if key is not None and created.get(key) == index and mention.author_name and not owned[index]
        ]
        if not wanted:
            return {}
        queries = [NameQuery(mentions[i].author_name or "", words(texts[i])) for i in wanted]
        found = fuzzy_matches_batch(self.session, queries, self.config.fuzzy_min_score)
        return dict(zip(wanted, found, strict=True))

    def _owned(self, clues: list[Clue]) -> dict[int, list[Clue]]:
        """The clues that point at known customers, grouped by the record that survived merges."""
        by_customer: dict[int, list[Clue]] = {}
        for clue in clues:
            customer = self.customers.get(clue.customer_id)
            if customer is None or customer.is_prospect:
                continue
            survivor = self.customers.resolve(clue.customer_id)
            if survivor is not None and survivor.id is not None:
                by_customer.setdefault(survivor.id, []).append(clue)
        return by_customer

    def _decide(
        self,
        mention: Mention,
        identity: Identity | None,
        customer: Customer | None,
        by_customer: dict[int, list[Clue]],
        prospect_made_here: bool,
        fuzzy: list[FuzzyMatch],
    ) -> LinkResult:
        if customer is not None and identity is not None:
            return LinkResult(customer.id, "identity", 1.0, {"identity": f"{identity.platform}:{identity.handle}"})
        owner = self.customers.resolve(identity.customer_id) if identity is not None else None
        if len(by_customer) == 1:
            customer_id, found = next(iter(by_customer.items()))
            result = self._link_on_text(mention, customer_id, found)
        else:
            if owner is not None and identity is not None:
                result = LinkResult(owner.id, "prospect", 1.0, {"identity": f"{mention.source_type}:{identity.handle}"})
            else:
                result = LinkResult(None, None, None, {})
            for customer_id, found in by_customer.items():  # several customers named: a person decides
                best = max(found, key=lambda c: c.confidence)
                evidence = {**_evidence(found), "ambiguous": True}
                self._suggest(mention, result, customer_id, best.method, round(best.confidence / 2, 3), evidence)
            for match in fuzzy:
                hint: dict[str, Any] = {"name": mention.author_name, "customer_name": match.name}
                if match.company_in_text:
                    hint["company_in_text"] = True
                self._suggest(mention, result, match.customer_id, "fuzzy_name", match.score, hint)
        result.prospect = owner if prospect_made_here else None
        return result

    def _link_on_text(self, mention: Mention, customer_id: int, found: list[Clue]) -> LinkResult:
        """One customer named in the text: link to it (agreeing clues add confidence); the identity waits for review."""
        methods = {c.method for c in found}
        best = max(found, key=lambda c: c.confidence)
        confidence = min(MAX_TEXT_CONFIDENCE, best.confidence + AGREEMENT_BONUS * (len(methods) - 1))
        evidence = _evidence(found)
        result = LinkResult(customer_id, best.method, confidence, evidence)
        if mention.author:
            self._suggest(mention, result, customer_id, best.method, confidence, evidence)
        return result

    def _suggest(
        self,
        mention: Mention,
        result: LinkResult,
        customer_id: int,
        method: LinkMethod,
        confidence: float,
        evidence: dict[str, Any],
    ) -> None:
        self._suggestions.append(_Suggestion(mention, customer_id, method, confidence, evidence, result))

    def _write_suggestions(self, suggestions: list[_Suggestion]) -> None:
        """Add the review items, leaving out any author already suggested for (or rejected as) that customer."""
        if not suggestions:
            return
        taken = _earlier_suggestions(self.session, suggestions)
        rows: list[dict[str, Any]] = []
        kept: list[_Suggestion] = []
        for item in suggestions:
            assert item.mention.id is not None, "linking needs stored mentions"
            who = (item.mention.source_type, item.mention.author, item.customer_id)
            if who in taken:
                continue
            taken.add(who)
            kept.append(item)
            rows.append(
                {
                    "mention_id": item.mention.id,
                    "customer_id": item.customer_id,
                    "method": item.method,
                    "confidence": item.confidence,
                    "evidence": {**item.evidence, "platform": item.mention.source_type, "handle": item.mention.author},
                    "status": "pending",
                    "created_at": self.now,
                }
            )
        ids = {
            (mention_id, customer_id): suggestion_id
            for suggestion_id, mention_id, customer_id in _insert_suggestions(self.session, rows)
        }
        for item, row in zip(kept, rows, strict=True):
            item.result.suggestion_rows.append({"id": ids.get((row["mention_id"], row["customer_id"])), **row})


def _insert_suggestions(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    if not rows:
        return []
    table = table_of(LinkSuggestion)
    returned = session.connection().execute(
        table.insert().returning(table.c.id, table.c.mention_id, table.c.customer_id), rows
    )
    return [(r[0], r[1], r[2]) for r in returned]


def _earlier_suggestions(session: Session, suggestions: list[_Suggestion]) -> set[tuple[str, str | None, int]]:
    """(platform, author, customer) of suggestions already pending or rejected for these authors."""
    authors = sorted({s.mention.author for s in suggestions if s.mention.author})
    customer_ids = sorted({s.customer_id for s in suggestions})
    found: set[tuple[str, str | None, int]] = set()
    for start in range(0, len(authors), LOOKUP_CHUNK):
        rows = session.execute(earlier_suggestions_statement(authors[start : start + LOOKUP_CHUNK], customer_ids))
        found.update(
            (platform, author, customer_id) for platform, author, customer_id, status in rows if status in STILL_COUNTS
        )
    return found


def earlier_suggestions_statement(authors: Sequence[str], customer_ids: Sequence[int]) -> Select[Any]:
    """The suggestions for these customers made to posts of these authors, with their status.

    The status is read, not filtered on: SQLite without statistics would walk ``ix_linksuggestion_status``
    (every pending suggestion, a list that grows with the review backlog) instead of the customer's index.
    """
    suggestion, mention = table_of(LinkSuggestion), table_of(Mention)
    return (
        select(mention.c.source_type, mention.c.author, suggestion.c.customer_id, suggestion.c.status)
        .join_from(suggestion, mention, mention.c.id == suggestion.c.mention_id)
        .where(mention.c.author.in_(authors), suggestion.c.customer_id.in_(customer_ids))
    )


def _evidence(clues: list[Clue]) -> dict[str, Any]:
    evidence: dict[str, Any] = {}
    for clue in clues:
        evidence.setdefault(clue.method, [])
        if clue.value not in evidence[clue.method]:
            evidence[clue.method].append(clue.value)
    return evidence


def _store_links(session: Session, mentions: Sequence[Mention], results: Sequence[LinkResult]) -> None:
    """Set each mention's link and write the changed ones in one UPDATE, now (as a flush would, but once).

    A stored mention without unwritten changes gets its link as committed values, so the session has
    nothing left to flush for it; any other mention is set as usual and written by the next flush.
    """
    rows = []
    for mention, result in zip(mentions, results, strict=True):
        values = {"customer_id": result.customer_id, "link_method": result.method, "link_confidence": result.confidence}
        state = inspect(mention)
        if not state.persistent or state.modified:
            _set(mention, result)
            continue
        if any(getattr(mention, name) != value for name, value in values.items()):
            rows.append({"id": mention.id, **values})
        for name, value in values.items():
            set_committed_value(mention, name, value)
    update_rows(session, table_of(Mention), rows)


def _set(mention: Mention, result: LinkResult) -> LinkResult:
    mention.customer_id = result.customer_id
    mention.link_method = result.method
    mention.link_confidence = result.confidence
    return result


# Older callers import these from here; they live in linking/customers.py and linking/prospects.py.
__all__ = [
    "LinkResult",
    "ensure_prospect",
    "expect_links",
    "link_mention",
    "link_mentions",
    "prospect_ref",
    "resolve_customer",
]
