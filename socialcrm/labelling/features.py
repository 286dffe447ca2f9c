"""What a label's head reads: the sentiment encoder's sentence vectors, or hashed words where no encoder runs.

The embedded classifier (``[classifier] kind = "default"``) exposes ``sentence_vectors``: a head on
them understands paraphrases and both languages. The lexicon classifier has no encoder; labels then
fall back to a bag of words: folded words (umlauts spelled out), word pairs and character 4-grams
inside words (so "Handyvertrag" shares features with "Vertrag"), hashed into a fixed number of
columns. A head remembers which features it was trained on (``key``) and is only applied to those.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from socialcrm.rules.text import words

WORDS_KEY = "words-v1"
WORD_COLUMNS = 8192
VECTORS_PREFIX = "vectors:"


class Features(Protocol):
    """Texts to feature rows; ``key`` names the kind (a head applies only to features of its key)."""

    @property
    def key(self) -> str:
        """The features' name, stored with every head trained on them."""
        ...

    def of(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 rows, one per text."""
        ...


class WordFeatures:
    """Hashed words, word pairs and in-word character 4-grams, log-scaled and L2-normalised (no model needed)."""

    key = WORDS_KEY

    def of(self, texts: Sequence[str]) -> np.ndarray:
        """One row of ``WORD_COLUMNS`` floats per text."""
        rows = np.zeros((len(texts), WORD_COLUMNS), dtype=np.float32)
        for index, text in enumerate(texts):
            for term in _terms(words(text)):
                rows[index, zlib.crc32(term.encode("utf-8")) % WORD_COLUMNS] += 1.0
        np.log1p(rows, out=rows)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return np.asarray(rows / np.maximum(norms, 1e-6), dtype=np.float32)


def _terms(tokens: Sequence[str]) -> list[str]:
    terms = [f"w:{token}" for token in tokens]
    terms += [f"b:{first} {second}" for first, second in zip(tokens, tokens[1:], strict=False)]
    for token in tokens:
        padded = f"<{token}>"
        if len(padded) > 5:
            terms += [f"c:{padded[i : i + 4]}" for i in range(len(padded) - 3)]
    return terms


class SentenceFeatures:
    """The sentence vectors of the embedded classifier (its ``sentence_vectors``), keyed by its model id."""

    def __init__(self, encoder: Any) -> None:
        self._encoder = encoder
        self.key = vectors_key(str(encoder.model_id))

    def of(self, texts: Sequence[str]) -> np.ndarray:
        """The encoder's float32 sentence vectors of ``texts``."""
        return np.asarray(self._encoder.sentence_vectors(list(texts)), dtype=np.float32)


def vectors_key(model_id: str) -> str:
    """The features key of a head on the sentence vectors of classifier ``model_id``."""
    return f"{VECTORS_PREFIX}{model_id}"[:160]


def has_sentence_vectors(classifier: object) -> bool:
    """Whether ``classifier`` exposes sentence vectors a head can read."""
    return callable(getattr(classifier, "sentence_vectors", None))


def features_for(classifier: object | None) -> Features:
    """The features labels use with this classifier: its sentence vectors where it has them, else words."""
    if classifier is not None and has_sentence_vectors(classifier):
        return SentenceFeatures(classifier)
    return WordFeatures()


def describe(key: str | None) -> str:
    """A person's name for a features key (shown on the labels page)."""
    if not key:
        return ""
    if key == WORDS_KEY:
        return "words"
    if key.startswith(VECTORS_PREFIX):
        return "sentence vectors of " + key[len(VECTORS_PREFIX) :]
    return key


def sigmoid(values: np.ndarray) -> np.ndarray:
    """The logistic function, stable for large magnitudes."""
    clipped = np.clip(values, -60.0, 60.0)
    return np.asarray(1.0 / (1.0 + np.exp(-clipped)), dtype=np.float32)


class FeatureSource:
    """The features labels use in one process, from the configured classifier: given, or built when first needed.

    With the lexicon classifier (no encoder) this is words, and nothing is loaded. Call ``get`` off
    the event loop: building the embedded classifier takes seconds.
    """

    def __init__(self, kind: str, options: Mapping[str, Any], classifier: object | None = None) -> None:
        self._kind = kind
        self._options = dict(options)
        self._features: Features | None = None if classifier is None else features_for(classifier)
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the features are at hand without building a classifier."""
        return self._features is not None or self._kind == "lexicon"

    def get(self) -> Features:
        """The features (building the classifier on the first call where one is needed)."""
        with self._lock:
            if self._features is None:
                if self._kind == "lexicon":
                    self._features = WordFeatures()
                else:
                    from classifiers.loader import build_classifier

                    self._features = features_for(build_classifier(self._kind, self._options))
            return self._features
