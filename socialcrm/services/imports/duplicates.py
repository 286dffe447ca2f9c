"""Duplicate customers after an import, found through the match-key indexes, never by a scan of every customer.

Pairs of active customers that share an e-mail, a phone (its last nine digits) or name and company,
at least one of them from this import, become merge candidates for a person to decide; nothing is
merged. A pair already listed (open, merged or dismissed) is not listed again. A key shared by very
many customers (a switchboard number, an info@ address) is named in a note rather than as every
possible pair.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

from sqlalchemy import BindParameter, bindparam, text
from sqlmodel import Session, select

from socialcrm.models import Customer, MergeCandidate, utcnow
from socialcrm.services import audit
from socialcrm.services.bulk import Bulk, batches
from socialcrm.services.imports.report import ImportReport, Progress, no_progress
from socialcrm.services.merges import GROUP_LIMIT  # customers sharing one key; above this the key is noted

KINDS = ("email", "phone", "name")  # the first shared key found names a pair
_LABEL = {"email": "e-mail", "phone": "phone"}


# "mine" are a batch of the imported customers, "other" whoever else holds the same key. On SQLite, CROSS JOIN
# keeps the batch as the outer loop (its planner, without statistics, would walk every key of the kind instead).
_SHARED_POINTS = """
SELECT mine.customer_id, other.customer_id, mine.kind, mine.match_key
FROM contactpoint AS mine {join} contactpoint AS other ON other.kind = mine.kind AND other.match_key = mine.match_key
JOIN customer AS holder ON holder.id = other.customer_id
WHERE mine.customer_id {among} AND other.customer_id <> mine.customer_id
  AND NOT holder.is_prospect AND holder.merged_into_id IS NULL
"""
_SHARED_NAMES = """
SELECT mine.id, other.id, mine.name_key
FROM customer AS mine {join} customer AS other ON other.name_key = mine.name_key
WHERE mine.id {among} AND mine.name_key IS NOT NULL AND other.id <> mine.id
  AND NOT other.is_prospect AND other.merged_into_id IS NULL
"""


def _shared_keys(bulk: Bulk, ids: Sequence[int]) -> dict[tuple[str, str], set[int]]:
    """(kind, key) -> the active customers holding it, for every key one of ``ids`` shares with another customer.

    One self-join per batch and key type: the database probes the match-key index with each of the
    batch's keys and returns only the keys held by more than one customer (few), not every key.
    """
    join, among = ("CROSS JOIN", "IN :ids") if not bulk.postgres else ("JOIN", "= ANY(:ids)")
    expanding: list[BindParameter[Any]] = [] if bulk.postgres else [bindparam("ids", expanding=True)]
    statements = [
        text(sql.format(join=join, among=among)).bindparams(*expanding) for sql in (_SHARED_POINTS, _SHARED_NAMES)
    ]
    groups: dict[tuple[str, str], set[int]] = defaultdict(set)
    for chunk in batches(ids):
        for a, b, kind, key in bulk.session.execute(statements[0], {"ids": list(chunk)}):
            if kind in _LABEL:
                groups[(kind, key)].update((a, b))
        for a, b, key in bulk.session.execute(statements[1], {"ids": list(chunk)}):
            groups[("name", key)].update((a, b))
    return groups


def _why(kind: str, key: str) -> str:
    if kind == "name":
        name, _, company = key.partition("|")
        return f"same name and company ({name} / {company})"
    return f"same {_LABEL[kind]} {key}"


def _pairs(groups: dict[tuple[str, str], set[int]], focus: set[int], notes: list[str]) -> dict[tuple[int, int], str]:
    """Each pair of customers sharing a key, one of them in ``focus``, with the first reason found."""
    shared = sorted(((KINDS.index(kind), key), sorted(owners)) for (kind, key), owners in groups.items())
    reasons: dict[tuple[int, int], str] = {}
    for (rank, key), members in shared:
        why = _why(KINDS[rank], key)
        if len(members) > GROUP_LIMIT:
            notes.append(f"{why}: {len(members)} customers; not listed as merge candidates")
            continue
        for a, b in combinations(members, 2):
            if a in focus or b in focus:
                reasons.setdefault((a, b), why[:256])
    return reasons


def _listed(bulk: Bulk, pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    firsts = sorted({a for a, _ in pairs})
    listed: set[tuple[int, int]] = set()
    for chunk in batches(firsts):
        statement = select(MergeCandidate.customer_a_id, MergeCandidate.customer_b_id).where(
            bulk.among(MergeCandidate.customer_a_id, chunk)
        )
        listed.update((a, b) for a, b in bulk.session.exec(statement))
    return listed


def _refs(bulk: Bulk, ids: Iterable[int]) -> dict[int, str]:
    refs: dict[int, str] = {}
    for chunk in batches(sorted(set(ids))):
        statement = select(Customer.id, Customer.customer_ref).where(bulk.among(Customer.id, chunk))
        refs.update((i, ref) for i, ref in bulk.session.exec(statement) if i is not None)
    return refs


def list_duplicates(
    session: Session, customer_ids: Iterable[int], report: ImportReport, *, actor: str, progress: Progress = no_progress
) -> None:
    """Add merge candidates for the imported customers' duplicates to ``report`` (and store them)."""
    focus, bulk = set(customer_ids), Bulk(session)
    progress("duplicates", 0, len(focus))
    with bulk.custom_plans():
        groups = _shared_keys(bulk, sorted(focus))
        reasons = _pairs(groups, focus, report.notes)
        listed = _listed(bulk, reasons)
    now = utcnow()
    created = [
        MergeCandidate(customer_a_id=a, customer_b_id=b, reason=reason, created_at=now)
        for (a, b), reason in sorted(reasons.items())
        if (a, b) not in listed
    ]
    session.add_all(created)
    session.flush()
    with bulk.custom_plans():
        refs = _refs(bulk, [i for c in created for i in (c.customer_a_id, c.customer_b_id)])
    for candidate in created:
        detail = {"other": candidate.customer_b_id, "reason": candidate.reason}
        audit.record(session, actor, "merge_candidate.create", "customer", candidate.customer_a_id, detail)
        assert candidate.id is not None
        ref_a, ref_b = refs[candidate.customer_a_id], refs[candidate.customer_b_id]
        report.duplicates.append((candidate.id, ref_a, ref_b, candidate.reason))
    report.merge_candidates.extend(created)
    progress("duplicates", len(focus), len(focus))
