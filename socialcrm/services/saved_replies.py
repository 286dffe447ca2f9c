"""Saved replies (canned responses): one text per key and language, kept by admins, filled with CRM data.

A saved reply is a template like a rule's (the same variables, the same sandbox, the same check), so
``{{ order_number }}`` or ``{{ customer_name }}`` are filled for the post it answers when a person
inserts it; a value that is missing closes up instead of leaving a gap. The key (``delay``) is what a
person types in the composer (``/delay``, then Tab); the same key in German and English is one reply
in two languages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

from sqlmodel import Session, col, select

from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError
from socialcrm.models import UI_LANGUAGES, Mention, SavedReply, utcnow
from socialcrm.rules.templates import TEMPLATE_VARIABLES, Rendered, check_template, render_source
from socialcrm.services import audit
from socialcrm.services.reply_context import template_context

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_TITLE = 128
MAX_TEXT = 5000


@dataclass(frozen=True)
class SavedReplyInput:
    """What a person gives for one saved reply (a form, a row of an import file)."""

    key: str
    language: str
    title: str
    text: str


def validate(data: SavedReplyInput) -> SavedReplyInput:
    """The input cleaned; InvalidInputError naming the field and every problem of the text."""
    key = data.key.strip().lower().lstrip("/")
    if not KEY.match(key):
        raise InvalidInputError(
            f"key: {data.key!r} is not a key: up to 32 lower-case letters, digits, - or _ (typed as /key)"
        )
    if data.language not in UI_LANGUAGES:
        raise InvalidInputError(f"language: {data.language!r} is not one of {', '.join(UI_LANGUAGES)}")
    title = data.title.strip()
    if not title or len(title) > MAX_TITLE:
        raise InvalidInputError(f"title: needs 1 to {MAX_TITLE} characters")
    text = data.text.replace("\r\n", "\n").strip()
    if not text or len(text) > MAX_TEXT:
        raise InvalidInputError(f"text: needs 1 to {MAX_TEXT} characters")
    problems = check_template(text)
    if problems:
        raise InvalidInputError("text: " + "; ".join(problems))
    return SavedReplyInput(key, data.language, title, text)


def get_saved(session: Session, saved_id: int) -> SavedReply:
    """The saved reply with this id; NotFoundError when there is none."""
    saved = session.get(SavedReply, saved_id)
    if saved is None:
        raise NotFoundError(f"no saved reply with id {saved_id}")
    return saved


def find(session: Session, key: str, language: str) -> SavedReply | None:
    """The saved reply with this key in this language, if any."""
    return session.exec(select(SavedReply).where(SavedReply.key == key, SavedReply.language == language)).first()


def list_saved(session: Session, language: str | None = None) -> list[SavedReply]:
    """Saved replies by key, then language (only one language when given)."""
    statement = select(SavedReply).order_by(col(SavedReply.key), col(SavedReply.language))
    if language is not None:
        statement = statement.where(SavedReply.language == language)
    return list(session.exec(statement))


def create(session: Session, data: SavedReplyInput, *, actor: str) -> SavedReply:
    """Add a saved reply; ConflictError when its key already exists in that language."""
    data = validate(data)
    if find(session, data.key, data.language) is not None:
        raise ConflictError(f"a saved reply /{data.key} in {data.language} exists already; edit that one")
    now = utcnow()
    saved = SavedReply(
        key=data.key,
        language=data.language,
        title=data.title,
        text=data.text,
        created_by=actor,
        updated_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(saved)
    session.flush()
    audit.record(session, actor, "saved_reply.create", "saved_reply", saved.id, {"key": saved.key})
    return saved


def update(session: Session, saved_id: int, data: SavedReplyInput, *, actor: str) -> SavedReply:
    """Change a saved reply (its key and language too, unless another one has them)."""
    data = validate(data)
    saved = get_saved(session, saved_id)
    other = find(session, data.key, data.language)
    if other is not None and other.id != saved_id:
        raise ConflictError(f"a saved reply /{data.key} in {data.language} exists already")
    changed = [name for name in ("key", "language", "title", "text") if getattr(saved, name) != getattr(data, name)]
    if not changed:
        return saved
    saved.key, saved.language, saved.title, saved.text = data.key, data.language, data.title, data.text
    saved.updated_by = actor
    saved.updated_at = utcnow()
    session.add(saved)
    audit.record(session, actor, "saved_reply.update", "saved_reply", saved.id, {"changed": changed})
    return saved


def delete(session: Session, saved_id: int, *, actor: str) -> None:
    """Remove a saved reply (drafts made with it keep their text)."""
    saved = get_saved(session, saved_id)
    audit.record(session, actor, "saved_reply.delete", "saved_reply", saved_id, {"key": saved.key})
    session.delete(saved)


def import_replies(session: Session, rows: Iterable[SavedReplyInput], *, actor: str) -> tuple[int, int]:
    """Create or update saved replies by (key, language); returns (created, updated). The first bad row stops all."""
    created = updated = 0
    for number, row in enumerate(rows, start=1):
        try:
            data = validate(row)
        except InvalidInputError as err:
            raise InvalidInputError(f"reply {number} (/{row.key} {row.language}): {err}") from None
        existing = find(session, data.key, data.language)
        if existing is None:
            create(session, data, actor=actor)
            created += 1
        else:
            assert existing.id is not None
            before = existing.updated_at
            update(session, existing.id, data, actor=actor)
            updated += existing.updated_at != before
    return created, updated


def render_for(
    session: Session, saved: SavedReply, mention: Mention, *, agent: str | None, zone: tzinfo = UTC
) -> Rendered:
    """The saved reply's text for ``mention``, filled with its CRM data (dates in ``zone``); gaps close, named."""
    context: dict[str, Any] = template_context(session, mention, agent=agent)
    context["language"] = saved.language
    return render_source(saved.text, context, zone)


def variables() -> Mapping[str, str]:
    """The variables a saved reply may use, with what each holds (shown to admins beside the form)."""
    return TEMPLATE_VARIABLES
