"""Rule-based German and English sentiment from word lists: negation, intensifiers, contrast, emoji.

The fallback when no model can load, and a transparent baseline. Word lists live in
``classifiers/lexicons/`` (written for this project, see their headers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, ClassVar

from classifiers.base import Analysis, ClassifierError, Label, Language, Sentiment
from classifiers.language import ENGLISH, GERMAN, resolve_languages

MODEL_ID = "lexicon-v1"

_NEGATORS: dict[Language, frozenset[str]] = {
    ENGLISH: frozenset(
        "not no never nothing nobody none neither nor without hardly cannot cant dont doesnt didnt isnt "
        "wasnt arent werent wont wouldnt shouldnt couldnt havent hasnt hadnt aint".split()
    ),
    GERMAN: frozenset("nicht nichts kein keine keinen keinem keiner keines nie niemals ohne kaum weder".split()),
}
_BOOSTERS: dict[Language, dict[str, float]] = {
    ENGLISH: {
        **dict.fromkeys("very really so extremely totally absolutely completely utterly incredibly".split(), 1.5),
        **dict.fromkeys("super too most truly seriously insanely".split(), 1.4),
        **dict.fromkeys("quite pretty rather".split(), 1.15),
        **dict.fromkeys("slightly somewhat bit little barely".split(), 0.5),
    },
    GERMAN: {
        **dict.fromkeys(
            "sehr total echt voll mega extrem richtig absolut völlig komplett äußerst höchst "
            "unglaublich wirklich besonders tierisch super so zu ur".split(),
            1.5,
        ),
        **dict.fromkeys("ziemlich recht ganz".split(), 1.15),
        **dict.fromkeys("etwas bisschen leicht eher wenig".split(), 0.5),
    },
}
# After "but"/"aber" the writer's real opinion follows (VADER's rule): weigh it up, the rest down.
_CONTRAST: frozenset[str] = frozenset("but however though yet aber jedoch allerdings trotzdem dennoch".split())
_CLAUSE_BREAK = re.compile(r"^[.,;:!?]+$")
_TOKEN = re.compile(
    r"(?:[<>]?[:;=][-']?[)(DPp/|\]\[]+|\)+:|\(+:|</?3|\^\^|-[._]-|[xX]D)"  # emoticons
    r"|[\U0001F300-\U0001FAFF\u2600-\u27BF\u2764\u2665]\ufe0f?"  # emoji
    r"|[^\W\d_]+(?:['’][^\W\d_]+)*"  # words, with inner apostrophes (don't, geht's)
    r"|[.,;:!?]+"
)
# A negated opinion flips, but not symmetrically: "not good" is bad, "not bad" is only fairly good.
_NEGATED_POSITIVE = -1.0
_NEGATED_NEGATIVE = -0.6
_WINDOW = 3
# compound = s / sqrt(s^2 + alpha) maps a raw sum to -1..1 (VADER's normalisation).
_ALPHA = 15.0
_THRESHOLD = 0.3
_SHORT_POST_TOKENS = 30


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Word weights of one language: exact words win over prefixes (``gut*``)."""

    exact: Mapping[str, float]
    prefixes: Mapping[str, float]

    def weight(self, word: str) -> float | None:
        """A word's weight: an exact entry, else the longest listed prefix of at least three letters."""
        if word in self.exact:
            return self.exact[word]
        for end in range(len(word), 2, -1):
            found = self.prefixes.get(word[:end])
            if found is not None:
                return found
        return None


def _read_table(name: str) -> list[tuple[str, float]]:
    text = resources.files("classifiers.lexicons").joinpath(name).read_text(encoding="utf-8")
    rows: list[tuple[str, float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        term, sep, weight = line.partition("\t")
        try:
            rows.append((term, float(weight)))
        except ValueError as err:
            raise ClassifierError(f"lexicons/{name} line {number}: expected term<TAB>weight, got {line!r}") from err
        if not sep:
            raise ClassifierError(f"lexicons/{name} line {number}: expected term<TAB>weight, got {line!r}")
    return rows


@cache
def load_lexicon(language: Language) -> Lexicon:
    """The packaged word list of "de" or "en"."""
    exact: dict[str, float] = {}
    prefixes: dict[str, float] = {}
    for term, weight in _read_table(f"{language}.tsv"):
        if term.endswith("*"):
            prefixes[term[:-1]] = weight
        else:
            exact[term] = weight
    return Lexicon(exact, prefixes)


@cache
def load_emoji() -> Mapping[str, float]:
    """Emoticons and emoji with their weights (language-neutral)."""
    return dict(_read_table("emoji.tsv"))


def _fold_german(word: str) -> str:
    return word.replace("ae", "ä").replace("oe", "ö").replace("ue", "ü").replace("ss", "ß")


class LexiconClassifier:
    """Scores posts with word lists; no model, deterministic, ~20k posts/s."""

    kind: ClassVar[str] = "lexicon"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        threshold = options.get("threshold", _THRESHOLD)
        if not isinstance(threshold, int | float) or not 0.0 < float(threshold) < 1.0:
            raise ClassifierError(f"classifier option threshold must be a number between 0 and 1, got {threshold!r}")
        self.threshold = float(threshold)
        self.model_id = MODEL_ID
        self._lexicons = {GERMAN: load_lexicon(GERMAN), ENGLISH: load_lexicon(ENGLISH)}
        self._emoji = load_emoji()

    def analyse(self, texts: Sequence[str], languages: Sequence[Language | None] | None = None) -> list[Analysis]:
        """Return one Analysis per text, in order."""
        resolved = resolve_languages(texts, languages)
        return [
            Analysis(self.sentiment(text, language), language) for text, language in zip(texts, resolved, strict=True)
        ]

    def polarity(self, text: str, language: Language) -> float:
        """The compound polarity of a text, -1 (very negative) .. +1 (very positive)."""
        tokens = _TOKEN.findall(text)
        weights = self._token_weights(tokens, language)
        # Long posts (news, blogs) mention many opinion words in passing: dampen by length so a
        # 500-character report does not outvote a one-line complaint.
        total = sum(weights) / max(1.0, math.sqrt(len(tokens) / _SHORT_POST_TOKENS))
        if total:
            exclamations = min(text.count("!"), 3) * 0.3
            total += math.copysign(exclamations, total)
        return total / math.sqrt(total * total + _ALPHA)

    def sentiment(self, text: str, language: Language) -> Sentiment:
        """Label and confidence of one text."""
        compound = self.polarity(text, language)
        label: Label
        if compound >= self.threshold:
            label, score = "positive", 0.5 + 0.4 * compound
        elif compound <= -self.threshold:
            label, score = "negative", 0.5 - 0.4 * compound
        else:
            label, score = "neutral", 0.5 + 0.4 * (1.0 - abs(compound) / self.threshold)
        return Sentiment(label, round(score, 4), self.model_id)

    def _lookup(self, token: str, language: Language) -> float | None:
        emoji = self._emoji.get(token)
        if emoji is not None:
            return emoji
        word = token.lower().replace("’", "'")
        languages = (language,) if language in self._lexicons else (ENGLISH, GERMAN)
        for code in languages:
            lexicon = self._lexicons[code]
            found = lexicon.weight(word)
            if found is None and code == GERMAN:
                found = lexicon.weight(_fold_german(word))
            if found is not None:
                return found
        return None

    def _token_weights(self, tokens: list[str], language: Language) -> list[float]:
        negators = _NEGATORS.get(language, _NEGATORS[ENGLISH] | _NEGATORS[GERMAN])
        boosters = _BOOSTERS.get(language, {**_BOOSTERS[GERMAN], **_BOOSTERS[ENGLISH]})
        shouting = not any(t.isalpha() and not t.isupper() for t in tokens)
        weights = [0.0] * len(tokens)
        negated = [False] * len(tokens)
        lowered = [t.lower().replace("'", "").replace("’", "") for t in tokens]
        for index, token in enumerate(tokens):
            word = lowered[index]
            next_has_weight = index + 1 < len(tokens) and self._lookup(tokens[index + 1], language) is not None
            if word in boosters and next_has_weight:
                continue  # "super langsam": an intensifier here, not a word of praise
            weight = self._lookup(token, language)
            if weight is None:
                continue
            if token.isalpha() and token.isupper() and len(token) > 2 and not shouting:
                weight *= 1.3
            weight *= self._booster_factor(lowered, index, boosters)
            weights[index] = weight
        for index, word in enumerate(lowered):
            if word in negators or tokens[index].lower().replace("’", "'").endswith("n't"):
                self._negate(weights, negated, lowered, index, language)
        self._weigh_contrast(weights, lowered)
        return weights

    @staticmethod
    def _booster_factor(lowered: list[str], index: int, boosters: Mapping[str, float]) -> float:
        factor = 1.0
        for back in range(1, 3):
            position = index - back
            if position < 0 or _CLAUSE_BREAK.match(lowered[position]):
                break
            factor *= boosters.get(lowered[position], 1.0)
        return factor

    @staticmethod
    def _negate(weights: list[float], negated: list[bool], lowered: list[str], index: int, language: Language) -> None:
        # Negation flips the next opinion word in the same clause ("not good", "kein guter Service");
        # German also negates backwards at the clause end ("das gefällt mir nicht").
        for position in range(index + 1, min(index + 1 + _WINDOW, len(lowered))):
            if _CLAUSE_BREAK.match(lowered[position]) or lowered[position] in _CONTRAST:
                break
            if weights[position] and not negated[position]:
                weights[position] *= _NEGATED_POSITIVE if weights[position] > 0 else _NEGATED_NEGATIVE
                negated[position] = True
                return
        if language == ENGLISH:
            return
        for position in range(index - 1, max(index - 1 - _WINDOW, -1), -1):
            if _CLAUSE_BREAK.match(lowered[position]) or lowered[position] in _CONTRAST:
                return
            if weights[position] and not negated[position]:
                weights[position] *= _NEGATED_POSITIVE if weights[position] > 0 else _NEGATED_NEGATIVE
                negated[position] = True
                return

    @staticmethod
    def _weigh_contrast(weights: list[float], lowered: list[str]) -> None:
        for index, word in enumerate(lowered):
            if word in _CONTRAST and index > 0:
                for position in range(len(weights)):
                    weights[position] *= 0.5 if position < index else 1.5
                return
