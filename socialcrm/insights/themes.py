"""Themes of negative mentions: phrases that are not the brand's own words, stop words or a source's boilerplate.

A theme is a word or a two-word phrase ("Lieferung kaputt", "customer service") found in several
negative mentions. Left out:

- the brand's own terms (``[insights] brand_terms`` and the keywords, hashtags, queries and
  subreddits the sources listen for), also inside hyphenated compounds ("Acme-App" counts as "App")
  and as the first part of a compound ("Acmeshop" counts as "shop");
- German and English stop words;
- a source's boilerplate: a word that at least BOILERPLATE_SHARE of a source's negative posts and of
  its other posts both carry ("Kommentar zu ...", a forum's name) says nothing about complaints;
- words that non-negative posts use as often as negative ones (the product's everyday vocabulary).

Words are compared case-folded with umlauts spelled out (``Rückgabe`` = ``Rueckgabe``) and with a
light inflection ending removed (``Lieferungen`` = ``Lieferung``); a theme is shown in the spelling
people used most.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from socialcrm.insights.stopwords import STOPWORDS

BOILERPLATE_SHARE = 0.3
BOILERPLATE_MIN_POSTS = 5
MIN_MENTIONS = 2
EXAMPLES = 3
TEXT_LIMIT = 1000  # characters of a mention (title and text) that themes read
_URL = re.compile(r"https?://\S+|www\.\S+")
_WORD = re.compile(r"@[\w.]+|#?[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_BREAK = re.compile(r"[.,;:!?()\[\]\"“”„/|\n]")
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "’": "'"})
_ENDINGS = ("en", "es", "er", "e", "n", "s")
_MIN_LETTERS = 4
# Words that join clauses: a phrase never spans them ("kaputt und Kundenservice" is no theme).
_JOINERS = frozenset(
    "und oder aber sondern weil denn dass obwohl wenn als and or but because that although when while".split()
)


def theme_text(title: str | None, text: str | None) -> str:
    """What themes read of a mention: its title, a break, its text; the first TEXT_LIMIT characters."""
    return f"{title or ''}. {text or ''}"[:TEXT_LIMIT]


@lru_cache(maxsize=65536)  # words repeat across posts: each spelling is folded once per process
def fold(word: str) -> str:
    """``word`` lower-cased with umlauts spelled out and hyphens dropped (``Kunden-Service``: ``kundenservice``)."""
    return word.lower().translate(_FOLD).replace("-", "")


@lru_cache(maxsize=65536)
def word_key(word: str) -> str:
    """The folded word without one inflection ending, so singular and plural count as one theme."""
    folded = fold(word)
    for ending in _ENDINGS:
        if folded.endswith(ending) and len(folded) - len(ending) >= 5:
            return folded[: -len(ending)]
    return folded


_STOP_KEYS = frozenset(fold(w) for w in STOPWORDS)


def brand_keys(terms: Iterable[str]) -> frozenset[str]:
    """The folded single words of ``terms`` (a query such as "acme barista" gives both words)."""
    keys: set[str] = set()
    for term in terms:
        for match in _WORD.finditer(term):
            word = match.group().lstrip("@#")
            keys.update(fold(part) for part in re.split(r"[-'’]", word) if part)
            keys.add(fold(word))
    return frozenset(k for k in keys if len(k) >= 2)


@lru_cache(maxsize=65536)
def _without_brand(word: str, brand: frozenset[str]) -> str | None:
    """``word`` with brand parts removed (compound parts, a brand prefix), None when nothing is left."""
    parts = [p for p in re.split(r"-", word) if p]
    kept = [p for p in parts if fold(p) not in brand]
    if not kept:
        return None
    if len(kept) == 1:
        single = kept[0]
        folded = fold(single)
        for term in brand:
            if len(term) >= 3 and folded.startswith(term) and folded != term:
                rest = single[len(single) - (len(folded) - len(term)) :]
                return rest if len(rest) >= _MIN_LETTERS else None
        return single
    return "-".join(kept)


def words(text: str, brand: frozenset[str] = frozenset()) -> list[str | None]:
    """The content words of ``text`` in order; None where a phrase must not span.

    Stop words are left out and a phrase may skip them ("Lieferung ist kaputt": "Lieferung kaputt");
    punctuation, words that join clauses, handles and the brand's own words end a phrase.
    """
    found: list[str | None] = []
    position = 0
    text = _URL.sub(" . ", text)
    for match in _WORD.finditer(text):
        if _BREAK.search(text, position, match.start()):
            found.append(None)
        position = match.end()
        raw = match.group()
        if raw[0] == "@" or raw.lower() in _JOINERS:  # a handle names someone, not a topic
            found.append(None)
            continue
        word = _without_brand(raw.lstrip("#").strip("'’"), brand)
        if word is None:
            found.append(None)
        elif len(fold(word)) >= _MIN_LETTERS and fold(word) not in _STOP_KEYS:
            found.append(word)
    return found


@lru_cache(maxsize=8192)  # the dashboard reads the same newest mentions on every load: each text is split once
def phrases(text: str, brand: frozenset[str] = frozenset()) -> Mapping[str, str]:
    """Every word and adjacent word pair of ``text`` as key -> the spelling found (stop and brand words left out).

    The result is shared between callers (cached): read it, never change it.
    """
    found: dict[str, str] = {}
    sequence = words(text, brand)
    for i, word in enumerate(sequence):
        if word is None:
            continue
        found.setdefault(word_key(word), word)
        following = sequence[i + 1] if i + 1 < len(sequence) else None
        if following is not None:
            found.setdefault(f"{word_key(word)} {word_key(following)}", f"{word} {following}")
    return found


def phrase_key(phrase: str) -> str:
    """The key a theme's shown spelling stands for (what the mention list matches on)."""
    return " ".join(word_key(w) for w in phrase.split())


def mentions_phrase(text: str, phrase: str, brand: frozenset[str] = frozenset()) -> bool:
    """Whether ``text`` contains the theme ``phrase`` the way themes are counted (with the same ``brand``)."""
    return phrase_key(phrase) in phrases(text, brand)


@dataclass(frozen=True, slots=True)
class Post:
    """One mention as themes read it."""

    id: int
    source: str
    text: str
    negative: bool


@dataclass(slots=True)
class Theme:
    """A phrase, how many negative mentions use it, a few of them as examples, and the key it is counted by."""

    phrase: str
    mentions: int
    examples: list[Post] = field(default_factory=list)
    key: str = ""


def boilerplate(posts: Sequence[Post], keyed: Sequence[Mapping[str, str]]) -> dict[str, frozenset[str]]:
    """Per source, the words at least BOILERPLATE_SHARE of its negative posts and of its other posts both use."""
    counts: dict[tuple[str, bool], Counter[str]] = defaultdict(Counter)
    totals: Counter[tuple[str, bool]] = Counter()
    for post, found in zip(posts, keyed, strict=True):
        totals[(post.source, post.negative)] += 1
        counts[(post.source, post.negative)].update(k for k in found if " " not in k)
    result: dict[str, frozenset[str]] = {}
    for source in {post.source for post in posts}:
        negative, other = totals[(source, True)], totals[(source, False)]
        if negative < BOILERPLATE_MIN_POSTS or other < BOILERPLATE_MIN_POSTS:
            continue
        result[source] = frozenset(
            key
            for key, n in counts[(source, True)].items()
            if n >= BOILERPLATE_SHARE * negative and counts[(source, False)][key] >= BOILERPLATE_SHARE * other
        )
    return result


@dataclass(slots=True)
class _Tally:
    """How many negative and other posts use each phrase key (a source's boilerplate left out)."""

    negative_total: int = 0
    other_total: int = 0
    in_negative: Counter[str] = field(default_factory=Counter)
    in_other: Counter[str] = field(default_factory=Counter)
    spellings: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    examples: defaultdict[str, list[Post]] = field(default_factory=lambda: defaultdict(list))


def _tally(posts: Sequence[Post], brand: frozenset[str]) -> _Tally:
    keyed = [phrases(post.text, brand) for post in posts]
    noise = boilerplate(posts, keyed)
    tally = _Tally()
    tally.negative_total = sum(1 for post in posts if post.negative)
    tally.other_total = len(posts) - tally.negative_total
    for post, found in zip(posts, keyed, strict=True):
        skip = noise.get(post.source, frozenset())
        for key, spelling in found.items():
            if any(part in skip for part in key.split()):
                continue
            if not post.negative:
                tally.in_other[key] += 1
                continue
            tally.in_negative[key] += 1
            tally.spellings[key][spelling] += 1
            if len(tally.examples[key]) < EXAMPLES:
                tally.examples[key].append(post)
    return tally


def negative_themes(posts: Sequence[Post], brand: frozenset[str] = frozenset(), top: int = 15) -> list[Theme]:
    """The phrases negative ``posts`` (newest first) share most, with example mentions; see the module docstring."""
    tally = _tally(posts, brand)
    in_negative = tally.in_negative

    def distinctive(key: str) -> bool:
        if tally.other_total < BOILERPLATE_MIN_POSTS:
            return True
        return in_negative[key] / tally.negative_total > tally.in_other[key] / tally.other_total

    candidates = {k for k, n in in_negative.items() if n >= MIN_MENTIONS and distinctive(k)}
    # A word that mostly comes in one pair is shown as the pair: "lieferung kaputt" says more than "kaputt".
    covered = {
        word
        for pair in candidates
        if " " in pair
        for word in pair.split()
        if word in candidates and in_negative[pair] >= 0.6 * in_negative[word]
    }
    chosen = sorted(candidates - covered, key=lambda k: (-in_negative[k], -k.count(" "), k))[:top]
    return [Theme(tally.spellings[k].most_common(1)[0][0], in_negative[k], tally.examples[k], k) for k in chosen]


def negative_counts(posts: Sequence[Post], brand: frozenset[str] = frozenset()) -> Counter[str]:
    """How many negative ``posts`` use each phrase key, counted as negative_themes counts (for the period before)."""
    return _tally(posts, brand).in_negative


_LISTENED_FOR = ("keywords", "hashtags", "query", "subreddits")


def configured_brand_terms(brand_terms: Iterable[str], source_options: Iterable[object]) -> frozenset[str]:
    """The folded brand words: ``[insights] brand_terms`` plus what each source listens for."""
    terms = list(brand_terms)
    for options in source_options:
        for name in _LISTENED_FOR:
            value = getattr(options, name, None)
            if isinstance(value, str):
                terms.append(value)
            elif isinstance(value, list | tuple):
                terms.extend(str(v) for v in value)
    return brand_keys(terms)
