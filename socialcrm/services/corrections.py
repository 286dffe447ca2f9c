"""Sentiment corrections by people, and the corrected examples the classifier can be retrained on."""

from __future__ import annotations

from sqlmodel import Session, col, select

from socialcrm.errors import InvalidInputError, NotFoundError
from socialcrm.models import SENTIMENT_LABELS, Mention, SentimentCorrection, utcnow
from socialcrm.services import audit


def correct_sentiment(session: Session, mention_id: int, label: str, user: str) -> SentimentCorrection:
    """Record that ``user`` says the mention's sentiment is ``label`` and update the mention."""
    if label not in SENTIMENT_LABELS:
        raise InvalidInputError(f"unknown sentiment {label!r} (allowed: {', '.join(SENTIMENT_LABELS)})")
    mention = session.get(Mention, mention_id)
    if mention is None:
        raise NotFoundError(f"no mention with id {mention_id}")
    correction = SentimentCorrection(
        mention_id=mention_id,
        old_label=mention.sentiment,
        new_label=label,
        corrected_by=user,
        corrected_at=utcnow(),
    )
    session.add(correction)
    old = mention.sentiment
    mention.sentiment = label
    mention.sentiment_score = 1.0
    session.add(mention)
    session.flush()
    audit.record(session, user, "mention.sentiment", "mention", mention_id, {"from": old, "to": label})
    return correction


def corrected_examples(session: Session) -> list[tuple[str, str, str | None]]:
    """(text, label, language) for every corrected mention, using its latest correction."""
    latest: dict[int, str] = {}
    for corrected_id, label in session.exec(
        select(SentimentCorrection.mention_id, SentimentCorrection.new_label).order_by(col(SentimentCorrection.id))
    ):
        latest[corrected_id] = label
    examples: list[tuple[str, str, str | None]] = []
    ids = sorted(latest)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for mention_id, title, text, language in session.exec(
            select(Mention.id, Mention.title, Mention.text, Mention.language).where(col(Mention.id).in_(chunk))
        ):
            body = f"{title}\n{text}" if title else text
            if mention_id is not None and body and body.strip():
                examples.append((body, latest[mention_id], language))
    return examples
