"""Text folding for matching: case-insensitive, umlaut-aware (``ü`` = ``ue``), accents dropped."""

from __future__ import annotations

import re
import unicodedata

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "oe", "œ": "oe"})
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower-case ``text``, spell umlauts out (``überfällig`` -> ``ueberfaellig``) and drop other accents."""
    if text.isascii():
        return text.lower()  # nothing to spell out or strip; casefold() is lower() for ASCII
    folded = text.casefold().translate(_UMLAUTS)
    decomposed = unicodedata.normalize("NFKD", folded)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> tuple[str, ...]:
    """The folded words of ``text`` in order (letters and digits; punctuation separates)."""
    return tuple(_WORD.findall(fold(text)))
