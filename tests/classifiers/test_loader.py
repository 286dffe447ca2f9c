from __future__ import annotations

import logging
from pathlib import Path

import pytest

from classifiers.base import ClassifierError
from classifiers.lexicon import LexiconClassifier
from classifiers.loader import build_classifier, known_kinds


def test_registered_kinds_include_the_three_shipped_ones() -> None:
    assert {"default", "lexicon", "transformers"} <= set(known_kinds())


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(ClassifierError, match=r"unknown classifier kind 'vader'; known kinds: .*default.*lexicon"):
        build_classifier("vader", {})


def test_builds_the_lexicon_classifier() -> None:
    classifier = build_classifier("lexicon", {"threshold": 0.4})
    assert isinstance(classifier, LexiconClassifier)
    assert classifier.threshold == 0.4


def test_a_model_that_cannot_load_falls_back_to_the_lexicon_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "no-such-model"
    with caplog.at_level(logging.WARNING, logger="classifiers.loader"):
        classifier = build_classifier("transformers", {"model": str(missing)})
    assert isinstance(classifier, LexiconClassifier)
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert "could not load" in warning.getMessage()
    assert "no-such-model" in warning.getMessage()
    assert "lexicon" in warning.getMessage()


def test_fallback_false_makes_a_missing_model_an_error(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="no-such-model"):
        build_classifier("transformers", {"model": str(tmp_path / "no-such-model"), "fallback": False})


def test_bad_options_of_the_lexicon_are_errors_not_fallbacks() -> None:
    with pytest.raises(ClassifierError, match="threshold"):
        build_classifier("lexicon", {"threshold": "high"})


def test_default_model_with_missing_weights_falls_back_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="classifiers.loader"):
        classifier = build_classifier("default", {"weights": str(tmp_path / "e5.bin")})
    assert isinstance(classifier, LexiconClassifier)
    assert any("e5.bin" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    with pytest.raises(ClassifierError, match="e5 weights file .*e5.bin does not exist"):
        build_classifier("default", {"weights": str(tmp_path / "e5.bin"), "fallback": False})
