"""Stored label predictions: which switched-on labels each mention has, written by the pipeline and by back-labelling.

Only labels that reached their threshold are stored (one row per mention and label, with the
score). Back-labelling walks existing mentions newest first, a bounded number per call, and replaces
the predictions of the labels it applies for the mentions it covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from socialcrm.db import Database
from socialcrm.labelling.features import Features
from socialcrm.labelling.predict import ActiveLabel, Prediction, predict
from socialcrm.labelling.training import LabelHead
from socialcrm.models import CustomLabel, Mention, MentionLabel, utcnow
from socialcrm.rules.facts import mention_text
from socialcrm.services import audit

BACKFILL_PAGE = 200


def active_labels(session: Session, names: Iterable[str] | None = None) -> list[ActiveLabel]:
    """The switched-on, trained labels (or only those named), as prediction needs them."""
    query = select(CustomLabel).where(col(CustomLabel.enabled).is_(True), col(CustomLabel.head).is_not(None))
    if names is not None:
        query = query.where(col(CustomLabel.name).in_(list(names)))
    out = []
    for label in session.exec(query.order_by(col(CustomLabel.name))):
        assert label.id is not None and label.head is not None
        out.append(
            ActiveLabel(label.id, label.name, label.threshold, LabelHead.from_bytes(label.head), label.features or "")
        )
    return out


def labels_version(session: Session) -> tuple[int, datetime | None]:
    """Changes whenever a label is switched, retrained or re-thresholded (the pipeline reloads its heads then)."""
    count, latest = session.exec(select(func.count(), func.max(CustomLabel.updated_at))).one()
    return int(count), latest


def store(session: Session, mention_ids: Sequence[int], predictions: Sequence[Sequence[Prediction]]) -> int:
    """Insert the predictions of freshly stored mentions (same transaction); returns how many rows."""
    now = utcnow()
    rows = [
        MentionLabel(mention_id=mention_id, label_id=p.label_id, score=p.score, predicted_at=now)
        for mention_id, found in zip(mention_ids, predictions, strict=True)
        for p in found
    ]
    session.add_all(rows)
    return len(rows)


def labels_of(session: Session, mention_ids: Sequence[int]) -> dict[int, dict[str, float]]:
    """Per mention id: the switched-on labels it has, name -> score."""
    out: dict[int, dict[str, float]] = {}
    ids = list(mention_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for mention_id, name, score in session.exec(
            select(MentionLabel.mention_id, CustomLabel.name, MentionLabel.score)
            .join(CustomLabel, col(CustomLabel.id) == MentionLabel.label_id)
            .where(col(MentionLabel.mention_id).in_(chunk), col(CustomLabel.enabled).is_(True))
        ):
            out.setdefault(mention_id, {})[name] = score
    return out


@dataclass(frozen=True)
class BackfillPage:
    """What one back-labelling call did: mentions covered, labels found, where to continue (None: done)."""

    mentions: int
    found: int
    next_before: int | None
    skipped: list[str]


def backfill_texts(session: Session, before_id: int | None, limit: int = BACKFILL_PAGE) -> list[tuple[int, str]]:
    """The next page of mentions to back-label, newest first: (id, text); erased mentions are left out."""
    query = select(Mention).where(col(Mention.erased_at).is_(None)).order_by(col(Mention.id).desc()).limit(limit)
    if before_id is not None:
        query = query.where(col(Mention.id) < before_id)
    return [(m.id, mention_text(m)) for m in session.exec(query) if m.id is not None]


def backfill(
    db: Database,
    labels: Sequence[ActiveLabel],
    encoder: Features | None,
    *,
    before_id: int | None = None,
    limit: int = BACKFILL_PAGE,
    actor: str,
) -> BackfillPage:
    """Back-label one page of existing mentions (newest first, before ``before_id``): read, predict, write.

    The prediction runs between two short transactions, never inside one, so the daemon keeps storing.
    Predictions of these labels for the page's mentions are replaced; call again with ``next_before``.
    """
    with db.read() as session:
        page = backfill_texts(session, before_id, limit)
    ids = [mention_id for mention_id, _text in page]
    predictions, skipped = predict(labels, [text for _id, text in page], encoder=encoder)
    applied = [label.id for label in labels if label.name not in skipped]
    found = 0
    with db.write() as session:
        if ids and applied:
            session.exec(
                delete(MentionLabel).where(
                    col(MentionLabel.mention_id).in_(ids), col(MentionLabel.label_id).in_(applied)
                )
            )
            kept = [[p for p in found_here if p.label_id in applied] for found_here in predictions]
            existing = set(session.exec(select(Mention.id).where(col(Mention.id).in_(ids))))
            pairs = [(i, k) for i, k in zip(ids, kept, strict=True) if i in existing]  # erased or deleted meanwhile
            found = store(session, [i for i, _k in pairs], [k for _i, k in pairs])
            audit.record(
                session,
                actor,
                "label.backfill",
                "label",
                None,
                {
                    "labels": [label.name for label in labels if label.id in applied],
                    "mentions": len(ids),
                    "found": found,
                },
            )
    next_before = ids[-1] if len(ids) >= limit else None
    return BackfillPage(len(ids), found, next_before, skipped)


@dataclass(frozen=True, slots=True)
class RuleLabelProblem:
    """A label an enabled rule names that is not defined, or switched off: a condition on it matches nothing."""

    rule: str
    label: str
    defined: bool

    def __str__(self) -> str:
        if self.defined:
            return f"rule {self.rule!r} names the label {self.label!r}, which is switched off: it matches nothing"
        return f"rule {self.rule!r} names the label {self.label!r}, which is not defined: it matches nothing"


def rule_label_problems(session: Session, labels_by_rule: Mapping[str, Sequence[str]]) -> list[RuleLabelProblem]:
    """The labels rules name (``RuleSet.labels_by_rule``) that are not defined or not switched on, rule by rule.

    The daemon logs them at start and on reload; ``socialcrm check-config`` prints them as warnings.
    """
    wanted = sorted({name for names in labels_by_rule.values() for name in names})
    if not wanted:
        return []
    query = select(CustomLabel.name, CustomLabel.enabled).where(col(CustomLabel.name).in_(wanted))
    enabled = {name: bool(on) for name, on in session.exec(query)}
    return [
        RuleLabelProblem(rule, name, name in enabled)
        for rule, names in labels_by_rule.items()
        for name in names
        if not enabled.get(name)
    ]


def stale_count(session: Session, label: CustomLabel) -> int:
    """How many mentions carry this label from a training older than its latest (back-labelling refreshes them)."""
    if label.trained_at is None or label.id is None:
        return 0
    query = select(func.count()).where(
        col(MentionLabel.label_id) == label.id, col(MentionLabel.predicted_at) < label.trained_at
    )
    return int(session.exec(query).one())


def has_label(name: str) -> Any:
    """A filter clause on Mention: the mention has the switched-on label ``name``."""
    predicted = (
        select(MentionLabel.mention_id)
        .join(CustomLabel, col(CustomLabel.id) == MentionLabel.label_id)
        .where(CustomLabel.name == name, col(CustomLabel.enabled).is_(True))
    )
    return col(Mention.id).in_(predicted)
