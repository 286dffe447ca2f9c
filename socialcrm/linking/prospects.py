"""Prospects: one customer record per unknown platform identity, created race-free (insert-or-get).

Two daemons (or a daemon and ``socialcrm poll``) may meet the same new author at the same moment. Both
then insert the same prospect and identity with ``ON CONFLICT DO NOTHING`` (``db.insert_missing``) and
read back whichever row won, so neither fails on the unique key and both link to the one record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from socialcrm.db_lists import among
from socialcrm.db_rows import insert_missing
from socialcrm.linking.customers import CustomerCache
from socialcrm.linking.normalize import normalize_handle
from socialcrm.models import Customer, Identity, Mention, table_of

LOOKUP_CHUNK = 500


def prospect_ref(platform: str, handle: str) -> str:
    """A stable customer_ref for the prospect of one platform identity."""
    digest = hashlib.sha256(f"{platform}\x00{handle}".encode()).hexdigest()[:12]
    return f"prospect-{platform[:20]}-{digest}"


def author_key(mention: Mention) -> tuple[str, str] | None:
    """(platform, normalised handle) of the mention's author; None without an author."""
    if not mention.author:
        return None
    return mention.source_type, normalize_handle(mention.source_type, mention.author)


def find_identities(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Identity]:
    """The stored identities for these (platform, handle) pairs (one query per platform and 500 handles)."""
    by_platform: dict[str, list[str]] = {}
    for platform, handle in sorted(set(keys)):
        by_platform.setdefault(platform, []).append(handle)
    found: dict[tuple[str, str], Identity] = {}
    for platform, handles in by_platform.items():
        for start in range(0, len(handles), LOOKUP_CHUNK):
            chunk = handles[start : start + LOOKUP_CHUNK]
            statement = select(Identity).where(Identity.platform == platform, among(session, Identity.handle, chunk))
            for identity in session.exec(statement):
                found[(identity.platform, identity.handle)] = identity
    return found


@dataclass(frozen=True)
class NewAuthor:
    """An author who needs a prospect: the platform identity and how the first mention names them."""

    platform: str
    handle: str
    name: str
    display_name: str | None
    profile_url: str | None


def ensure_prospects(
    session: Session,
    authors: Sequence[NewAuthor],
    identities: dict[tuple[str, str], Identity],
    customers: CustomerCache,
    now: datetime,
) -> set[tuple[str, str]]:
    """Give every author an identity whose record exists, creating prospects where needed.

    ``identities`` is updated in place. Returns the authors whose prospect this call created (a later
    mention of the same author, or another process that won the race, finds it instead).
    """
    if not authors:
        return set()
    # Sorted by key, so two processes inserting overlapping authors take their locks in one order.
    authors = sorted(authors, key=lambda a: (a.platform, a.handle))
    refs = {(a.platform, a.handle): prospect_ref(a.platform, a.handle) for a in authors}
    rows = sorted(
        (
            {
                "customer_ref": refs[(a.platform, a.handle)],
                "name": a.name,
                "tags": [],
                "is_prospect": True,
                "consent_marketing": False,
                "consent_contact": True,
                "created_at": now,
                "updated_at": now,
            }
            for a in authors
        ),
        key=lambda row: str(row["customer_ref"]),
    )
    created_refs = {row[0] for row in insert_missing(session, table_of(Customer), rows, ["customer_ref"])}
    prospects = _by_ref(session, sorted(refs.values()))
    for prospect in prospects.values():
        customers.add(prospect)
    _ensure_identities(session, authors, refs, prospects, identities, customers, now)
    return {key for key, ref in refs.items() if ref in created_refs}


def _ensure_identities(
    session: Session,
    authors: Sequence[NewAuthor],
    refs: dict[tuple[str, str], str],
    prospects: dict[str, Customer],
    identities: dict[tuple[str, str], Identity],
    customers: CustomerCache,
    now: datetime,
) -> None:
    missing: list[dict[str, Any]] = []
    for author in authors:
        key = (author.platform, author.handle)
        prospect_id = prospects[refs[key]].id
        identity = identities.get(key)
        if identity is None:
            missing.append(
                {
                    "platform": author.platform,
                    "handle": author.handle,
                    "customer_id": prospect_id,
                    "display_name": author.display_name,
                    "profile_url": author.profile_url,
                    "confirmed": True,
                    "created_at": now,
                }
            )
        elif customers.resolve(identity.customer_id) is None:  # its record is gone: the prospect takes over
            identity.customer_id = prospect_id  # type: ignore[assignment]
            session.add(identity)
    if missing:
        insert_missing(session, table_of(Identity), missing, ["platform", "handle"])
        identities.update(find_identities(session, [(a.platform, a.handle) for a in authors]))


def _by_ref(session: Session, refs: list[str]) -> dict[str, Customer]:
    found: dict[str, Customer] = {}
    for start in range(0, len(refs), LOOKUP_CHUNK):
        chunk = refs[start : start + LOOKUP_CHUNK]
        for customer in session.exec(select(Customer).where(among(session, Customer.customer_ref, chunk))):
            found[customer.customer_ref] = customer
    return found


def ensure_prospect(session: Session, mention: Mention, now: datetime) -> tuple[Identity, Customer, bool]:
    """The identity of the mention's author and its record, creating a prospect if it has none."""
    key = author_key(mention)
    assert key is not None, "a prospect needs an author"
    customers = CustomerCache(session)
    identities = find_identities(session, [key])
    identity = identities.get(key)
    if identity is not None:
        owner = customers.resolve(identity.customer_id)
        if owner is not None:
            return identity, owner, False
    author = NewAuthor(
        key[0], key[1], mention.author_name or mention.author or key[1], mention.author_name, mention.author_url
    )
    created = ensure_prospects(session, [author], identities, customers, now)
    identity = identities[key]
    owner = customers.resolve(identity.customer_id)
    assert owner is not None
    return identity, owner, key in created
