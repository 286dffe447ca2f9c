"""Normal forms for lookup: e-mail addresses, phone numbers, platform handles and names."""

from __future__ import annotations

import re

from socialcrm.models.keys import contact_key
from socialcrm.rules.text import fold

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def normalize_email(value: str) -> str | None:
    """The address lower-cased, or None when it is not an e-mail address."""
    candidate = value.strip().strip("<>").lower()
    return candidate if _EMAIL.match(candidate) else None


def normalize_phone(value: str) -> str | None:
    """Digits only (``+49 170 1234567`` -> ``491701234567``), or None for letters or too few digits."""
    text = value.strip()
    if not text or re.search(r"[A-Za-z]", text):
        return None
    digits = re.sub(r"\D", "", text)
    if text.startswith("00"):
        digits = digits[2:]
    if not 6 <= len(digits) <= 15:
        return None
    return digits


def phone_suffix(digits: str) -> str:
    """The part of a normalised number compared between national and international forms."""
    return contact_key("phone", digits)


def normalize_handle(platform: str, handle: str) -> str:
    """A platform handle in the form identities are stored: no ``@``/``u/`` prefix, case-folded."""
    value = " ".join(handle.split())
    if platform == "reddit":
        value = re.sub(r"^/?u/", "", value)
    value = value.lstrip("@") if platform in ("mastodon", "bluesky", "discourse", "hackernews") else value
    return value.casefold()


def normalize_name(value: str) -> str:
    """A person's or company's name folded for comparison (``Müller`` = ``mueller``)."""
    return " ".join(re.findall(r"\w+", fold(value)))
