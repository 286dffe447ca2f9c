"""The pipeline step that predicts switched-on custom labels for each new batch, right after classification.

``enrich`` runs on a worker thread before the batch is stored: it reuses the sentence vectors the
classifier computed for the sentiment (``Analysis.vector``), so a label costs a dot product per post,
not a second encoder pass; heads on words need no model. ``store`` writes the labels found in the
batch's write transaction, before linking and rules run, so ``[rules.when] label = [...]`` sees them.
The switched-on heads are reloaded when a label changes (one small query per batch).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from socialcrm.db import Database
from socialcrm.labelling.features import vectors_key
from socialcrm.labelling.predict import ActiveLabel, Prediction, predict
from socialcrm.models import Mention
from socialcrm.services import label_predictions

logger = logging.getLogger(__name__)
EXTRA_KEY = "labels"


class NewPostLike(Protocol):
    """What the pipeline hands an enricher per new post: the post, its analysis, and room for results."""

    post: Any
    analysis: Any
    extra: dict[str, Any]


class LabelEnricher:
    """Predicts the switched-on labels of new posts and stores them with their mentions."""

    def __init__(self, db: Database, max_text_chars: int = 100_000) -> None:
        self.db = db
        self.max_text_chars = max_text_chars  # as the mention's stored text, which training reads
        self._labels: list[ActiveLabel] = []
        self._version: tuple[int, datetime | None] | None = None
        self._warned: set[str] = set()

    def refresh(self) -> list[ActiveLabel]:
        """The switched-on labels, reloaded when one changed since the last batch."""
        with self.db.read() as session:
            version = label_predictions.labels_version(session)
            if version != self._version:
                self._labels = label_predictions.active_labels(session)
                self._version = version
                self._warned.clear()
        return self._labels

    def enrich(self, posts: Sequence[NewPostLike]) -> None:
        """Put each post's labels (a list of Prediction) into ``extra["labels"]``."""
        if not posts:
            return
        active = self.refresh()
        if not active:
            return
        texts = [_text(item.post, self.max_text_chars) for item in posts]
        vectors = [getattr(item.analysis, "vector", None) if item.analysis else None for item in posts]
        models = {item.analysis.sentiment.model for item in posts if item.analysis is not None}
        key = vectors_key(next(iter(models))) if len(models) == 1 else None
        found, skipped = predict(active, texts, vectors=vectors, vectors_key=key)
        for name in set(skipped) - self._warned:
            logger.warning("Label %s was trained for another classifier and is not predicted: train it again", name)
            self._warned.add(name)
        for item, predictions in zip(posts, found, strict=True):
            item.extra[EXTRA_KEY] = predictions

    def store(self, session: Session, stored: Sequence[tuple[NewPostLike, Mention]]) -> None:
        """Insert the labels ``enrich`` found for the mentions just stored (same transaction)."""
        ids: list[int] = []
        predictions: list[list[Prediction]] = []
        for item, mention in stored:
            found = item.extra.get(EXTRA_KEY)
            if found and mention.id is not None:
                ids.append(mention.id)
                predictions.append(found)
        if ids:
            label_predictions.store(session, ids, predictions)
            session.flush()


def _text(post: Any, limit: int) -> str:
    """The text a label reads: title and body, as training reads a mention (``rules.facts.mention_text``)."""
    body = (post.body or "")[:limit]
    return f"{post.title}\n{body}" if post.title else body
