"""Match keys stored beside customers and contact points, so duplicates are found by an index, not a scan.

Two e-mail addresses match when they are equal (they are stored normalised), two phone numbers when
their last nine digits agree (national and international forms of one number), two customers when
their folded name and company agree (``Jörg Müller / Müller GmbH`` = ``joerg mueller / mueller gmbh``).
"""

from __future__ import annotations

import functools
import re

from socialcrm.rules.text import words

_WORD = re.compile(r"\w+")

PHONE_MATCH_DIGITS = 9  # two numbers are the same phone when their last nine digits agree
NAME_KEY_PART = 500  # each half of a name key is cut here (the columns allow 256 characters, folding may double)


def contact_key(kind: str, value: str) -> str:
    """The form in which two contact points of one ``kind`` are compared: the e-mail, or a phone's last digits."""
    return value[-PHONE_MATCH_DIGITS:] if kind == "phone" else value


@functools.lru_cache(maxsize=65536)
def folded_name(value: str | None) -> str:
    """A name or company folded for comparison: lower case, umlauts spelled out, punctuation dropped."""
    if not value:
        return ""
    found = _WORD.findall(value.lower()) if value.isascii() else words(value)  # fold() leaves ASCII lower-cased
    return " ".join(found)[:NAME_KEY_PART]


def name_key(name: str | None, company: str | None) -> str | None:
    """``"joerg mueller|mueller gmbh"`` for a customer with both a name and a company, else None."""
    person, firm = folded_name(name), folded_name(company)
    return f"{person}|{firm}" if person and firm else None
