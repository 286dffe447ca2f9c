from __future__ import annotations

import pytest

from classifiers.base import Classifier, ClassifierError
from classifiers.lexicon import LexiconClassifier


@pytest.fixture(scope="module")
def lexicon() -> LexiconClassifier:
    return LexiconClassifier({})


def labels(classifier: LexiconClassifier, texts: list[str], language: str | None = None) -> list[str]:
    languages = [language] * len(texts) if language else None
    return [analysis.sentiment.label for analysis in classifier.analyse(texts, languages)]


def test_implements_the_classifier_protocol(lexicon: LexiconClassifier) -> None:
    assert isinstance(lexicon, Classifier)
    assert lexicon.kind == "lexicon"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Der Service war wirklich super, vielen Dank!", "positive"),
        ("Ich bin total begeistert von der neuen App 😍", "positive"),
        ("Die Bahn ist schon wieder zu spät, einfach nur schrecklich.", "negative"),
        ("Das ist eine Frechheit, ich bin sehr enttäuscht.", "negative"),
        ("Der Zug fährt um 14 Uhr von Gleis 3 ab.", "neutral"),
        ("Das Essen war nicht gut.", "negative"),
        ("Das war gar nicht schlecht!", "positive"),
        ("Das gefällt mir nicht.", "negative"),
        ("Kein guter Service heute.", "negative"),
        ("Das Gerät ist defekt und der Kundendienst ist unfreundlich.", "negative"),
        ("Guthaben aufgeladen, Gutschein eingelöst.", "neutral"),
    ],
)
def test_german(lexicon: LexiconClassifier, text: str, expected: str) -> None:
    assert labels(lexicon, [text], "de") == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thanks for the quick help, great support!", "positive"),
        ("I love this phone :)", "positive"),
        ("Worst customer service ever, totally useless.", "negative"),
        ("My order is delayed again 😡", "negative"),
        ("The store opens at 9am on Monday.", "neutral"),
        ("The update is not good.", "negative"),
        ("This isn't bad at all", "positive"),
        ("I don't like the new design", "negative"),
        ("The food was good but the service was terrible", "negative"),
        ("The queue was long but the staff were amazing", "positive"),
    ],
)
def test_english(lexicon: LexiconClassifier, text: str, expected: str) -> None:
    assert labels(lexicon, [text], "en") == [expected]


def test_intensifiers_raise_confidence(lexicon: LexiconClassifier) -> None:
    plain, boosted = lexicon.analyse(["The service was good.", "The service was extremely good!!"], ["en", "en"])
    assert boosted.sentiment.score > plain.sentiment.score


def test_detects_language_when_not_given(lexicon: LexiconClassifier) -> None:
    results = lexicon.analyse(["Vielen Dank, das hat super geklappt!", "Terrible service, never again."])
    assert [(r.language, r.sentiment.label) for r in results] == [("de", "positive"), ("en", "negative")]


def test_scores_are_within_bounds_and_name_the_model(lexicon: LexiconClassifier) -> None:
    for analysis in lexicon.analyse(["", "!!!", "gut " * 500, "😡" * 200]):
        assert 0.0 <= analysis.sentiment.score <= 1.0
        assert analysis.sentiment.model == "lexicon-v1"


def test_rejects_a_bad_threshold() -> None:
    with pytest.raises(ClassifierError, match="threshold"):
        LexiconClassifier({"threshold": 2})
