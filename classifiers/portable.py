"""Classifying beside parsing, in another process: a picklable recipe, the text it reads, and compact verdicts.

The word-list classifier is pure Python and cheap, but in the daemon's process it competes for the
one core the event loop and storing use. Feed parser processes run beside the daemon anyway, so the
daemon may ask them to classify each entry they parse (``analyse_entries``, run there as a
``connectors.feed_pool.EntryHook``). What comes back is a plain tuple per entry, tagged with the
recipe's key; the daemon turns it into an ``Analysis`` (``analysis_of``) only when the key is that of
the classifier it would have used itself, on the same text (``classified_text``), so a stored
mention's sentiment and language are those the daemon's own classifier gives.

Only the word-list classifier is portable: it is deterministic and small (a model would load once
per parser process, and needs the cores the parsers share).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from classifiers.base import Analysis, Classifier, Sentiment
from classifiers.lexicon import LexiconClassifier

PORTABLE_KINDS = frozenset({LexiconClassifier.kind})
Verdict = tuple[str, str, float, str, str]  # recipe key, label, score, model, language

_built: dict[str, Classifier] = {}
_built_lock = threading.Lock()


@dataclass(frozen=True)
class PortableRecipe:
    """How to build the same classifier in another process, and how much of each text it reads."""

    kind: str
    options: tuple[tuple[str, Any], ...]
    max_chars: int

    @cached_property
    def key(self) -> str:
        """Names the classifier and the text it reads: a verdict is used only where the key matches."""
        return f"{self.kind}|{self.options!r}|{self.max_chars}"


def portable_recipe(kind: str, options: Mapping[str, Any], max_chars: int) -> PortableRecipe | None:
    """The recipe of classifier ``kind`` with ``options``, or None if it does not run beside parsing."""
    if kind not in PORTABLE_KINDS:
        return None
    own = tuple(sorted((key, value) for key, value in options.items() if key != "fallback"))
    return PortableRecipe(kind, own, max_chars)


def recipe_of(classifier: Classifier, max_chars: int) -> PortableRecipe | None:
    """The recipe that builds an equal of ``classifier`` (exactly the word-list classifier), else None."""
    if type(classifier) is not LexiconClassifier:
        return None
    return PortableRecipe(LexiconClassifier.kind, (("threshold", classifier.threshold),), max_chars)


def classified_text(title: str | None, body: str, max_chars: int) -> str:
    """What the classifier reads of a post: its title and body on two lines, at most ``max_chars``."""
    text = body if not title else f"{title}\n{body}"
    return text[:max_chars]


def _classifier(recipe: PortableRecipe) -> Classifier:
    with _built_lock:
        found = _built.get(recipe.key)
        if found is None:
            found = _built[recipe.key] = LexiconClassifier(dict(recipe.options))
        return found


def analyse_entries(recipe: PortableRecipe, entries: Sequence[tuple[str | None, str, str | None]]) -> list[Verdict]:
    """The verdict on each ``(title, body, language hint)``, in order (an ``EntryHook`` of the feed parsers)."""
    if not entries:
        return []
    texts = [classified_text(title, body, recipe.max_chars) for title, body, _hint in entries]
    analyses = _classifier(recipe).analyse(texts, [hint for _title, _body, hint in entries])
    key = recipe.key
    return [(key, a.sentiment.label, a.sentiment.score, a.sentiment.model, a.language) for a in analyses]


def analysis_of(verdict: Any, recipe: PortableRecipe | None) -> Analysis | None:
    """The Analysis a verdict of ``recipe`` stands for; None if it is none, or made with another recipe."""
    if recipe is None or not isinstance(verdict, tuple) or len(verdict) != 5 or verdict[0] != recipe.key:
        return None
    _key, label, score, model, language = verdict
    return Analysis(Sentiment(label, score, model), language)
