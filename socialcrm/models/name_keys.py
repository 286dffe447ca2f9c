"""The sound key customers are found by for fuzzy name suggestions: Kölner Phonetik of the first and last name word.

A key is two codes, ``"<first word>|<last word>"``: ``Anna Schmidt``, ``Anna Schmid`` and ``Ana Schmitt``
all give ``06|862``. Kölner Phonetik (Hans Joachim Postel, 1969) codes letters by how they sound in
German: vowels, doubled letters and most spelling variants (``dt``/``t``, ``ph``/``f``, ``c``/``k``,
``ä``/``ae``, ``ß``/``ss``) vanish, so a name spelled another way, or with a typo in a vowel, keeps its
key. The key is stored in an indexed column (``customer.fuzzy_key``), so the candidates for a name are
one index lookup however many customers there are; a scorer then compares that short list.
"""

from __future__ import annotations

import functools

from socialcrm.rules.text import words

KEY_SEPARATOR = "|"
_CODES = {
    **dict.fromkeys("aeijouy", "0"),
    "b": "1",
    **dict.fromkeys("fvw", "3"),
    **dict.fromkeys("gkq", "4"),
    "l": "5",
    **dict.fromkeys("mn", "6"),
    "r": "7",
    **dict.fromkeys("sz", "8"),
}
_C_HARD_AT_START = frozenset("ahkloqrux")
_C_HARD = frozenset("ahkoqux")
_SOFTENS_DT = frozenset("csz")


def _letter_code(word: str, index: int) -> str:
    """The code of ``word[index]`` in its context (empty for letters that have none)."""
    letter = word[index]
    before = word[index - 1] if index else ""
    after = word[index + 1] if index + 1 < len(word) else ""
    if letter in _CODES:
        return _CODES[letter]
    if letter == "p":
        return "3" if after == "h" else "1"
    if letter in "dt":
        return "8" if after in _SOFTENS_DT and after else "2"
    if letter == "c":
        if index == 0:
            return "4" if after in _C_HARD_AT_START and after else "8"
        return "4" if after in _C_HARD and after and before not in "sz" else "8"
    if letter == "x":
        return "8" if before in "ckq" and before else "48"
    return ""  # h, digits and letters of other scripts carry no code


@functools.lru_cache(maxsize=65536)
def cologne_code(word: str) -> str:
    """The Kölner Phonetik of one folded word (``schmidt`` -> ``862``, ``meyer`` -> ``67``)."""
    raw = "".join(_letter_code(word, i) for i in range(len(word)))
    collapsed = [ch for i, ch in enumerate(raw) if i == 0 or ch != raw[i - 1]]
    if not collapsed:
        return ""
    return collapsed[0] + "".join(ch for ch in collapsed[1:] if ch != "0")


def name_words(name: str | None) -> tuple[str, ...]:
    """The folded words of a person's name (``"Schmidt, Anna-Lena"`` -> ``schmidt anna lena``)."""
    return words(name) if name else ()


@functools.lru_cache(maxsize=65536)
def fuzzy_key(name: str | None) -> str | None:
    """The stored key of a customer's name: ``"<code of the last word>|<code of the first word>"``.

    None for a name of fewer than two words (a single word is too weak to suggest anyone).
    """
    found = name_words(name)
    if len(found) < 2:
        return None
    first, last = cologne_code(found[0]), cologne_code(found[-1])
    if not first or not last:
        return None
    return f"{last}{KEY_SEPARATOR}{first}"


def lookup_keys(name: str) -> tuple[list[str], list[str]]:
    """The keys to look an author's name up by: exact keys (both word orders), and key prefixes for an initial.

    ``Anna Schmidt`` is looked up as ``862|06`` and ``06|862`` (a customer stored as ``Schmidt, Anna``);
    ``A. Schmidt`` by the prefix ``862|0``: every first name that starts with that sound, which the scorer
    then narrows down. A name of one word gives nothing.
    """
    found = name_words(name)
    if len(found) < 2:
        return [], []
    first, last = found[0], found[-1]
    first_code, last_code = cologne_code(first), cologne_code(last)
    if not first_code or not last_code:
        return [], []
    exact = sorted({f"{last_code}{KEY_SEPARATOR}{first_code}", f"{first_code}{KEY_SEPARATOR}{last_code}"})
    prefixes = [f"{last_code}{KEY_SEPARATOR}{first_code}"] if len(first) == 1 < len(last) else []
    return exact, prefixes


def prefix_end(prefix: str) -> str:
    """The smallest string after every string that starts with ``prefix`` (for an index range)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
