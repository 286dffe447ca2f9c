"""Predict switched-on labels for a batch of texts, reusing the sentence vectors the classifier already computed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from socialcrm.labelling.features import WORDS_KEY, Features, WordFeatures
from socialcrm.labelling.training import LabelHead


@dataclass(frozen=True, slots=True)
class ActiveLabel:
    """A switched-on, trained label as prediction needs it."""

    id: int
    name: str
    threshold: float
    head: LabelHead
    features_key: str


@dataclass(frozen=True, slots=True)
class Prediction:
    """A label a text has: its id, name and score (at or above the label's threshold)."""

    label_id: int
    name: str
    score: float


def predict(
    labels: Sequence[ActiveLabel],
    texts: Sequence[str],
    *,
    vectors: Sequence[np.ndarray | None] | None = None,
    vectors_key: str | None = None,
    encoder: Features | None = None,
) -> tuple[list[list[Prediction]], list[str]]:
    """The labels each text has, and the names of labels that could not be applied.

    A head on words applies everywhere. A head on sentence vectors applies where the texts' vectors
    (``vectors``, from the classifier pass that scored their sentiment, keyed ``vectors_key``) or
    ``encoder`` are of the same features; texts without a vector (the classifier failed on them)
    get no prediction from it. A label trained on other features (another classifier) is skipped
    and named in the second list, so the caller can say it needs retraining.
    """
    out: list[list[Prediction]] = [[] for _ in texts]
    skipped: list[str] = []
    if not texts or not labels:
        return out, skipped
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # key -> (rows, indices of texts they belong to)
    for label in labels:
        rows = _rows(label.features_key, texts, vectors, vectors_key, encoder, cache)
        if rows is None:
            skipped.append(label.name)
            continue
        matrix, indices = rows
        if len(indices) == 0:
            continue
        if matrix.shape[1] != len(label.head.weight):
            skipped.append(label.name)
            continue
        for index, score in zip(indices, label.head.scores(matrix), strict=True):
            if score >= label.threshold:
                out[int(index)].append(Prediction(label.id, label.name, round(float(score), 4)))
    return out, skipped


def _rows(
    key: str,
    texts: Sequence[str],
    vectors: Sequence[np.ndarray | None] | None,
    vectors_key: str | None,
    encoder: Features | None,
    cache: dict[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray] | None:
    if key in cache:
        return cache[key]
    if key == WORDS_KEY:
        found = (WordFeatures().of(texts), np.arange(len(texts)))
    elif vectors is not None and key == vectors_key:
        present = [i for i, v in enumerate(vectors) if v is not None]
        stacked = np.stack([np.asarray(vectors[i], dtype=np.float32) for i in present]) if present else np.zeros((0, 0))
        found = (stacked, np.asarray(present, dtype=np.int64))
    elif encoder is not None and encoder.key == key:
        found = (encoder.of(texts), np.arange(len(texts)))
    else:
        return None
    cache[key] = found
    return found
