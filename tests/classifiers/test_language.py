from __future__ import annotations

import pytest

from classifiers.language import LanguageDetector, normalise_language, resolve_languages


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@DB_Bahn Wie lange wird das noch dauern? Der Zug steht seit 20 Minuten.", "de"),
        ("Danke für die schnelle Hilfe, hat alles geklappt!", "de"),
        ("Bahn verspätet sich..gleich kommt noch jemand", "de"),
        ("@AcmeSupport my order still hasn't arrived, any update? #fail", "en"),
        ("Loving the new update, great job!", "en"),
        ("STING vs. Seth Rollins on September 20th for the World Title! Amazing!", "en"),
        ("Le train est encore en retard, c'est vraiment nul.", "other"),
        ("El servicio al cliente es terrible, nunca más.", "other"),
        ("Поезд снова опаздывает, это ужасно.", "other"),
        ("@someone http://t.co/abc 👍", "other"),
        ("", "other"),
    ],
)
def test_detects_german_english_and_other(detector: LanguageDetector, text: str, expected: str) -> None:
    assert detector.detect(text) == expected


def test_a_german_post_with_an_english_hashtag_stays_german(detector: LanguageDetector) -> None:
    assert detector.detect("Schon wieder kein WLAN im ICE #fail #travel") == "de"


@pytest.mark.parametrize(("code", "expected"), [("de-AT", "de"), ("DE", "de"), ("en_GB", "en"), ("fr", "other")])
def test_normalises_given_codes(code: str, expected: str) -> None:
    assert normalise_language(code) == expected


def test_resolve_keeps_given_languages_and_detects_the_rest() -> None:
    texts = ["Das ist ein deutscher Satz über das Wetter.", "This is an English sentence about the weather."]
    assert resolve_languages(texts, ["en", None]) == ["en", "en"]
    assert resolve_languages(texts, None) == ["de", "en"]


def test_resolve_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="2 languages given for 1 texts"):
        resolve_languages(["one"], ["de", "en"])
