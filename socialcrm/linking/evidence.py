"""Evidence in a mention's text: e-mail addresses, phone numbers, order and customer numbers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from socialcrm.config import LinkingConfig
from socialcrm.linking.normalize import normalize_email, normalize_phone, phone_suffix
from socialcrm.models import ContactPoint, Customer, Order, TextLinkMethod

_EMAIL_IN_TEXT = re.compile(r"(?<![@\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE_IN_TEXT = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d \-/().]{6,20}\d(?!\w)")
CONFIDENCE: dict[TextLinkMethod, float] = {"email": 0.9, "phone": 0.85, "order": 0.9, "customer_ref": 0.9}


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


def find_clues(session: Session, text: str, config: LinkingConfig) -> list[Clue]:
    """Every contact point, order number or customer number in ``text`` that belongs to a customer."""
    clues: list[Clue] = []
    emails = {e for raw in _EMAIL_IN_TEXT.findall(text) if (e := normalize_email(raw))}
    if emails:
        rows = session.exec(
            select(ContactPoint.value, ContactPoint.customer_id).where(
                ContactPoint.kind == "email", col(ContactPoint.value).in_(sorted(emails))
            )
        )
        clues.extend(Clue("email", value, customer_id) for value, customer_id in rows)
    phones = {p for raw in _PHONE_IN_TEXT.findall(text) if (p := normalize_phone(raw)) and len(p) >= 9}
    for phone in sorted(phones):
        suffix = phone_suffix(phone)
        rows = session.exec(
            select(ContactPoint.value, ContactPoint.customer_id).where(
                ContactPoint.kind == "phone", col(ContactPoint.value).like(f"%{suffix}")
            )
        )
        clues.extend(Clue("phone", phone, customer_id) for value, customer_id in rows if phone_suffix(value) == suffix)
    for number in _captures(config.order_patterns, text):
        squashed = number.upper().replace("-", "")
        rows = session.exec(
            select(Order.order_number, Order.customer_id).where(
                func.replace(func.upper(Order.order_number), "-", "") == squashed
            )
        )
        clues.extend(Clue("order", order_number, customer_id) for order_number, customer_id in rows)
    for number in _captures(config.customer_patterns, text):
        squashed = number.upper().replace("-", "")
        refs = session.exec(
            select(Customer.customer_ref, col(Customer.id)).where(
                func.replace(func.upper(Customer.customer_ref), "-", "") == squashed,
                col(Customer.is_prospect).is_(False),
            )
        )
        clues.extend(Clue("customer_ref", ref, customer_id) for ref, customer_id in refs if customer_id is not None)
    return clues


def _captures(patterns: Iterable[str], text: str) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        for match in re.finditer(pattern, text):
            value = next((g for g in match.groups() if g), None)
            if value and value not in found:
                found.append(value.strip())
    return found
