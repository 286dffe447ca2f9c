"""Evidence in a mention's text: e-mail addresses, phone numbers, order and customer numbers.

Finding the numbers is pure (``TextEvidence.of``); looking them up is one indexed query per kind for
a whole batch of texts (``find_clues``): e-mails by their stored value, phones by the last nine
digits, order and customer numbers by their upper-cased form without dashes (``models.crm.number_key``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from socialcrm.config import LinkingConfig
from socialcrm.db_lists import among
from socialcrm.linking.normalize import normalize_email, normalize_phone, phone_suffix
from socialcrm.models import ContactPoint, Customer, Order, TextLinkMethod
from socialcrm.models.crm import number_key

_EMAIL_IN_TEXT = re.compile(r"(?<![@\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d \-/().]{6,20}\d(?!\w)")
CONFIDENCE: dict[TextLinkMethod, float] = {"email": 0.9, "phone": 0.85, "order": 0.9, "customer_ref": 0.9}
LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class Clue:
    """One piece of evidence that points at a customer."""

    method: TextLinkMethod
    value: str
    customer_id: int

    @property
    def confidence(self) -> float:
        """How sure this kind of evidence makes a link (0..1)."""
        return CONFIDENCE[self.method]


@dataclass(frozen=True)
class TextEvidence:
    """What one text names: e-mail addresses, phone numbers (normalised), order and customer numbers."""

    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    orders: tuple[str, ...] = ()
    customer_refs: tuple[str, ...] = ()

    @classmethod
    def of(cls, text: str, config: LinkingConfig) -> TextEvidence:
        """Find the evidence in ``text`` (no database)."""
        emails = sorted({e for raw in _EMAIL_IN_TEXT.findall(text) if (e := normalize_email(raw))})
        phones = sorted({p for raw in _PHONE_IN_TEXT.findall(text) if (p := normalize_phone(raw)) and len(p) >= 9})
        return cls(
            tuple(emails),
            tuple(phones),
            tuple(_captures(config.order_patterns, text)),
            tuple(_captures(config.customer_patterns, text)),
        )

    def __bool__(self) -> bool:
        return bool(self.emails or self.phones or self.orders or self.customer_refs)


@dataclass
class _Found:
    """What the database holds for the evidence of a batch: customer ids by e-mail, phone suffix and number."""

    emails: dict[str, list[int]] = field(default_factory=dict)
    phones: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    orders: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    refs: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def find_clues(session: Session, text: str, config: LinkingConfig) -> list[Clue]:
    """Every contact point, order number or customer number in ``text`` that belongs to a customer."""
    return find_clues_batch(session, [TextEvidence.of(text, config)])[0]


def find_clues_batch(session: Session, evidence: Sequence[TextEvidence]) -> list[list[Clue]]:
    """The clues of each text, looked up for all texts at once (one query per kind of evidence)."""
    found = _lookup(session, evidence)
    out: list[list[Clue]] = []
    for item in evidence:
        clues = [Clue("email", value, cid) for value in item.emails for cid in found.emails.get(value, ())]
        clues += [
            Clue("phone", phone, cid) for phone in item.phones for _, cid in found.phones.get(phone_suffix(phone), ())
        ]
        clues += [Clue("order", number, cid) for n in item.orders for number, cid in found.orders.get(_squash(n), ())]
        clues += [
            Clue("customer_ref", ref, cid) for n in item.customer_refs for ref, cid in found.refs.get(_squash(n), ())
        ]
        out.append(clues)
    return out


def _lookup(session: Session, evidence: Sequence[TextEvidence]) -> _Found:
    found = _Found()
    emails = sorted({e for item in evidence for e in item.emails})
    for chunk in _chunks(emails):
        rows = session.exec(
            select(ContactPoint.value, ContactPoint.customer_id).where(
                ContactPoint.kind == "email", among(session, ContactPoint.value, chunk)
            )
        )
        for value, customer_id in rows:
            found.emails.setdefault(value, []).append(customer_id)
    suffixes = sorted({phone_suffix(p) for item in evidence for p in item.phones})
    for chunk in _chunks(suffixes):
        rows = session.exec(
            # match_key is the phone's last digits (models/keys.py), the suffix compared here: indexed.
            select(ContactPoint.value, ContactPoint.customer_id).where(
                ContactPoint.kind == "phone", among(session, ContactPoint.match_key, chunk)
            )
        )
        for value, customer_id in rows:
            found.phones.setdefault(phone_suffix(value), []).append((value, customer_id))
    orders = sorted({_squash(n) for item in evidence for n in item.orders})
    for chunk in _chunks(orders):
        key = number_key(col(Order.order_number))
        for number, customer_id in session.exec(
            select(Order.order_number, Order.customer_id).where(among(session, key, chunk))
        ):
            found.orders.setdefault(_squash(number), []).append((number, customer_id))
    refs = sorted({_squash(n) for item in evidence for n in item.customer_refs})
    for chunk in _chunks(refs):
        key = number_key(col(Customer.customer_ref))
        for ref, ref_owner in session.exec(
            select(Customer.customer_ref, col(Customer.id)).where(
                among(session, key, chunk), col(Customer.is_prospect).is_(False)
            )
        ):
            if ref_owner is not None:
                found.refs.setdefault(_squash(ref), []).append((ref, ref_owner))
    return found


def _squash(number: str) -> str:
    """A number in the form it is compared in (``number_key`` in SQL): upper case, no dashes."""
    return number.upper().replace("-", "")


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


def _captures(patterns: Iterable[str], text: str) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        for match in re.finditer(pattern, text):
            value = next((g for g in match.groups() if g), None)
            if value and value.strip() not in found:
                found.append(value.strip())
    return found
