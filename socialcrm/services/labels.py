"""Custom labels: define them, mark examples, store what training found, switch them on, store predictions.

Training itself (features, head, cross-validation) is ``socialcrm.labelling`` and runs outside any
transaction: ``training_examples`` reads, ``labelling.training.train`` computes, ``save_training``
writes. An example is a mention (its text is read at training time, so an erased mention drops out)
or a written text. Only a trained label can be switched on; a switched-on label is predicted for every
new mention (``services.label_predictions``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from socialcrm.db import Database
from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError
from socialcrm.labelling.features import Features
from socialcrm.labelling.training import Trained, check_counts, train
from socialcrm.models import CustomLabel, LabelExample, Mention, MentionLabel, utcnow
from socialcrm.rules.conditions import LABEL_NAME
from socialcrm.rules.facts import mention_text
from socialcrm.services import audit

MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MAX_EXAMPLE_TEXT = 5000


@dataclass(frozen=True)
class LabelInput:
    """What a person gives for a label: its name (used in rules, filters, exports), title, description, threshold."""

    name: str
    title: str = ""
    description: str = ""
    threshold: float = 0.5


@dataclass(frozen=True)
class Example:
    """One example as training reads it."""

    text: str
    positive: bool


def check_name(name: str) -> str:
    """The label name, or InvalidInputError saying what a name may contain."""
    cleaned = name.strip().lower()
    if not LABEL_NAME.match(cleaned):
        raise InvalidInputError(
            f"label name {name!r}: use 1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    return cleaned


def _check(data: LabelInput) -> LabelInput:
    if len(data.title) > MAX_TITLE:
        raise InvalidInputError(f"title: at most {MAX_TITLE} characters")
    if len(data.description) > MAX_DESCRIPTION:
        raise InvalidInputError(f"description: at most {MAX_DESCRIPTION} characters")
    if not 0.0 < data.threshold < 1.0:
        raise InvalidInputError("threshold: a number between 0 and 1 (exclusive)")
    return LabelInput(check_name(data.name), data.title.strip(), data.description.strip(), float(data.threshold))


def list_labels(session: Session) -> list[CustomLabel]:
    """Every label, by name."""
    return list(session.exec(select(CustomLabel).order_by(col(CustomLabel.name))))


def enabled_names(session: Session) -> list[str]:
    """The names of the labels switched on (for filter menus)."""
    return list(
        session.exec(select(CustomLabel.name).where(col(CustomLabel.enabled).is_(True)).order_by(col(CustomLabel.name)))
    )


def get_label(session: Session, label_id: int) -> CustomLabel:
    """The label with this id, or NotFoundError."""
    label = session.get(CustomLabel, label_id)
    if label is None:
        raise NotFoundError(f"no label with id {label_id}")
    return label


def by_name(session: Session, name: str) -> CustomLabel:
    """The label with this name, or NotFoundError."""
    label = session.exec(select(CustomLabel).where(CustomLabel.name == name.strip().lower())).first()
    if label is None:
        raise NotFoundError(f"no label named {name!r}")
    return label


def define(session: Session, data: LabelInput, *, actor: str) -> CustomLabel:
    """Add a label (switched off until it is trained and switched on); a taken name is a ConflictError."""
    data = _check(data)
    if session.exec(select(CustomLabel.id).where(CustomLabel.name == data.name)).first() is not None:
        raise ConflictError(f"a label named {data.name!r} exists already")
    label = CustomLabel(
        name=data.name,
        title=data.title or data.name,
        description=data.description,
        threshold=data.threshold,
        created_by=actor,
    )
    session.add(label)
    session.flush()
    audit.record(session, actor, "label.define", "label", label.id, {"name": data.name})
    return label


def update(session: Session, label_id: int, data: LabelInput, *, actor: str) -> CustomLabel:
    """Change a label's title, description and threshold (its name stays: rules and exports use it)."""
    label = get_label(session, label_id)
    data = _check(LabelInput(label.name, data.title, data.description, data.threshold))
    label.title, label.description, label.threshold = data.title or label.name, data.description, data.threshold
    label.updated_at = utcnow()
    session.add(label)
    audit.record(session, actor, "label.update", "label", label.id, {"threshold": data.threshold})
    return label


def set_enabled(session: Session, label_id: int, enabled: bool, *, actor: str) -> CustomLabel:
    """Switch a label on (only once trained) or off; off stops predictions, stored ones stay."""
    label = get_label(session, label_id)
    if enabled and label.head is None:
        raise ConflictError(f"label {label.name!r} is not trained yet: mark examples and train it first")
    label.enabled = enabled
    label.updated_at = utcnow()
    session.add(label)
    audit.record(session, actor, "label.enable" if enabled else "label.disable", "label", label.id)
    return label


def delete_label(session: Session, label_id: int, *, actor: str) -> None:
    """Remove a label with its examples and predictions (rules naming it then match nothing)."""
    label = get_label(session, label_id)
    session.exec(delete(MentionLabel).where(col(MentionLabel.label_id) == label_id))
    session.exec(delete(LabelExample).where(col(LabelExample.label_id) == label_id))
    session.delete(label)
    audit.record(session, actor, "label.delete", "label", label_id, {"name": label.name})


def mark_mention(session: Session, label_id: int, mention_id: int, positive: bool, *, actor: str) -> LabelExample:
    """Mark a mention as having the label (positive) or not; marking it again changes the mark."""
    get_label(session, label_id)
    mention = session.get(Mention, mention_id)
    if mention is None:
        raise NotFoundError(f"no mention with id {mention_id}")
    example = session.exec(
        select(LabelExample).where(LabelExample.label_id == label_id, LabelExample.mention_id == mention_id)
    ).first()
    if example is None:
        example = LabelExample(label_id=label_id, mention_id=mention_id, language=mention.language)
    example.positive, example.added_by, example.added_at = positive, actor, utcnow()
    session.add(example)
    session.flush()
    return example


def add_text(
    session: Session, label_id: int, text: str, positive: bool, *, actor: str, language: str | None = None
) -> LabelExample:
    """Add a written example (not a stored mention), e.g. a typical sentence or a starter example."""
    get_label(session, label_id)
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInputError("example text: required")
    if len(cleaned) > MAX_EXAMPLE_TEXT:
        raise InvalidInputError(f"example text: at most {MAX_EXAMPLE_TEXT} characters")
    example = LabelExample(
        label_id=label_id, text=cleaned, positive=positive, language=language, added_by=actor, added_at=utcnow()
    )
    session.add(example)
    session.flush()
    return example


def remove_example(session: Session, label_id: int, example_id: int) -> None:
    """Forget one example of the label."""
    example = session.get(LabelExample, example_id)
    if example is None or example.label_id != label_id:
        raise NotFoundError(f"label {label_id} has no example {example_id}")
    session.delete(example)


@dataclass(frozen=True)
class ExampleRow:
    """An example as the label page shows it."""

    id: int
    positive: bool
    text: str
    mention_id: int | None
    language: str | None
    added_by: str


def examples(session: Session, label_id: int) -> list[ExampleRow]:
    """The label's examples, newest first, with their text (a mention's current text)."""
    rows = session.exec(
        select(LabelExample, Mention)
        .join(Mention, col(Mention.id) == LabelExample.mention_id, isouter=True)
        .where(LabelExample.label_id == label_id)
        .order_by(col(LabelExample.id).desc())
    )
    out = []
    for example, mention in rows:
        assert example.id is not None
        text = mention_text(mention) if mention is not None else example.text or ""
        out.append(
            ExampleRow(example.id, example.positive, text, example.mention_id, example.language, example.added_by)
        )
    return out


def example_counts(session: Session) -> dict[int, tuple[int, int]]:
    """Per label id: (positive, negative) examples marked now."""
    counts: dict[int, list[int]] = {}
    for label_id, positive, number in session.exec(
        select(LabelExample.label_id, LabelExample.positive, func.count()).group_by(
            col(LabelExample.label_id), col(LabelExample.positive)
        )
    ):
        counts.setdefault(label_id, [0, 0])[0 if positive else 1] = int(number)
    return {label_id: (pair[0], pair[1]) for label_id, pair in counts.items()}


def training_examples(session: Session, label_id: int) -> list[Example]:
    """The texts and marks training reads; examples whose mention was erased are left out."""
    get_label(session, label_id)
    rows = session.exec(
        select(LabelExample, Mention)
        .join(Mention, col(Mention.id) == LabelExample.mention_id, isouter=True)
        .where(LabelExample.label_id == label_id)
        .order_by(col(LabelExample.id))
    )
    out = []
    for example, mention in rows:
        if mention is not None:
            if mention.erased_at is None:
                out.append(Example(mention_text(mention), example.positive))
        elif example.text:
            out.append(Example(example.text, example.positive))
    return out


def save_training(session: Session, label_id: int, trained: Trained, *, actor: str) -> CustomLabel:
    """Store a freshly trained head and its cross-validated estimate on the label."""
    label = get_label(session, label_id)
    estimate = trained.estimate
    label.head = trained.head.to_bytes()
    label.features = trained.features_key
    label.trained_at = label.updated_at = utcnow()
    label.trained_by = actor
    label.positives, label.negatives = estimate.positives, estimate.negatives
    label.cv_precision = None if estimate.precision is None else round(estimate.precision, 4)
    label.cv_recall = None if estimate.recall is None else round(estimate.recall, 4)
    label.cv_folds = estimate.folds
    session.add(label)
    audit.record(
        session,
        actor,
        "label.train",
        "label",
        label.id,
        {
            "positives": estimate.positives,
            "negatives": estimate.negatives,
            "precision": label.cv_precision,
            "recall": label.cv_recall,
            "folds": estimate.folds,
            "features": trained.features_key,
        },
    )
    return label


def train_label(db: Database, label_id: int, features: Features | Callable[[], Features], *, actor: str) -> CustomLabel:
    """Read the label's examples, train and cross-validate outside any transaction, then store the result.

    ``features`` may be a function that builds them (loading a model): it is called only once there are
    enough examples. Too few examples is an InvalidInputError saying how many of each kind there are.
    """
    with db.read() as session:
        threshold = get_label(session, label_id).threshold
        marked = training_examples(session, label_id)
    positives = sum(1 for e in marked if e.positive)
    try:
        check_counts(positives, len(marked) - positives)
        chosen = features() if callable(features) else features
        trained = train([e.text for e in marked], [e.positive for e in marked], chosen, threshold)
    except ValueError as err:
        raise InvalidInputError(str(err)) from None
    with db.write() as session:
        label = save_training(session, label_id, trained, actor=actor)
        session.flush()
        session.expunge(label)
    return label


def import_labels(session: Session, document: Mapping[str, Any], *, actor: str) -> dict[str, tuple[int, int]]:
    """Add the labels of a TOML document (``[name]`` tables: title, description, threshold, positive, negative).

    A label that exists keeps its settings and gains the examples it lacks (the same text is not added
    twice). Returns per label the positive and negative examples added. Problems raise InvalidInputError
    naming the table and key; nothing is stored then (the caller's transaction rolls back).
    """
    added: dict[str, tuple[int, int]] = {}
    for name, table in document.items():
        if not isinstance(table, Mapping):
            raise InvalidInputError(f"[{name}]: expected a table with positive and negative example lists")
        unknown = set(table) - {"title", "description", "threshold", "positive", "negative"}
        if unknown:
            raise InvalidInputError(f"[{name}].{sorted(unknown)[0]}: unknown key")
        lists = {kind: table.get(kind, []) for kind in ("positive", "negative")}
        for kind, texts in lists.items():
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise InvalidInputError(f"[{name}].{kind}: expected a list of texts")
        threshold = table.get("threshold", 0.5)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise InvalidInputError(f"[{name}].threshold: expected a number")
        existing = session.exec(select(CustomLabel).where(CustomLabel.name == check_name(str(name)))).first()
        label = existing or define(
            session,
            LabelInput(str(name), str(table.get("title", "")), str(table.get("description", "")), float(threshold)),
            actor=actor,
        )
        assert label.id is not None
        known = {(e.text, e.positive) for e in training_examples(session, label.id)}
        counts = [0, 0]
        for index, kind in enumerate(("positive", "negative")):
            for text in lists[kind]:
                if (text.strip(), kind == "positive") not in known:
                    add_text(session, label.id, text, kind == "positive", actor=actor)
                    known.add((text.strip(), kind == "positive"))
                    counts[index] += 1
        added[label.name] = (counts[0], counts[1])
    return added
