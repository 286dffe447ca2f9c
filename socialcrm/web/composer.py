"""The reply composer as pages embed it: what one mention's composer shows (limit, saved replies, state).

To put a composer under a mention on any page (the ticket view does):

- in the view's read transaction: ``composers = composers_for(session, config, mentions, user)``;
- in the template: ``{% import "_composer.html" as reply with context %}`` and
  ``{{ reply.composer(m, composers[m.id], back="/tickets/7") }}``.

The form posts to ``/mentions/{id}/reply`` (``services.replies.send`` decides: approval, four eyes,
outbox) and comes back to ``back``; its Insert and Preview buttons post to ``/mentions/{id}/compose``,
which works without JavaScript. Only roles that may answer (community, service, admin) get one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from sqlmodel import Session

from socialcrm.config import Config
from socialcrm.models import Mention, SavedReply
from socialcrm.services import replies, saved_replies
from socialcrm.services.auth import AuthenticatedUser

REPLY_ROLES = ("community", "service")


@dataclass(frozen=True)
class SavedOption:
    """A saved reply as the picker lists it."""

    id: int
    key: str
    language: str
    title: str


@dataclass(frozen=True)
class Composer:
    """Everything one composer form shows."""

    mention_id: int
    can_api: bool
    note: str
    limit: int | None
    overhead: int
    saved: Sequence[SavedOption]
    four_eyes: bool
    compose_key: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    text: str = ""
    counted: int = 0
    preview: str | None = None
    missing: tuple[str, ...] = ()
    error: str | None = None
    inserted: str | None = None

    post_language: str | None = None

    @property
    def saved_groups(self) -> list[tuple[str, list[SavedOption]]]:
        """The saved replies by language for the picker, the post's language first."""
        languages = sorted({s.language for s in self.saved}, key=lambda lang: (lang != self.post_language, lang))
        return [(lang, [s for s in self.saved if s.language == lang]) for lang in languages]

    @property
    def remaining(self) -> int | None:
        """Characters left under the platform's limit (negative: too long); None without a limit."""
        return None if self.limit is None else self.limit - self.counted


def may_reply(user: AuthenticatedUser | None) -> bool:
    """Whether this person gets composers (answering is for community, service and admins)."""
    return user is not None and (user.role == "admin" or user.role in REPLY_ROLES)


def saved_options(session: Session) -> list[SavedOption]:
    """Every saved reply for the picker, by key then language."""
    return [_option(s) for s in saved_replies.list_saved(session) if s.id is not None]


def _option(saved: SavedReply) -> SavedOption:
    assert saved.id is not None
    return SavedOption(saved.id, saved.key, saved.language, saved.title)


def composer_for(config: Config, mention: Mention, saved: Sequence[SavedOption], text: str = "") -> Composer:
    """The composer of one mention, holding ``text``."""
    assert mention.id is not None
    policy = replies.policy_of(mention.source_type)
    empty = replies.measure(config, mention, "")
    counted = replies.measure(config, mention, text).counted if text else empty.counted
    return Composer(
        mention_id=mention.id,
        can_api=policy.can_reply,
        note=policy.note,
        limit=empty.limit,
        overhead=empty.counted,
        saved=saved,
        four_eyes=config.web.four_eyes.own_replies,
        post_language=mention.language,
        text=text,
        counted=counted,
    )


def composers_for(
    session: Session, config: Config, mentions: Iterable[Mention], user: AuthenticatedUser | None
) -> dict[int, Composer]:
    """A composer per mention (by id), or none at all when ``user`` may not answer."""
    if not may_reply(user):
        return {}
    options = saved_options(session)
    return {m.id: composer_for(config, m, options) for m in mentions if m.id is not None and m.erased_at is None}


def with_state(composer: Composer, config: Config, mention: Mention, **changes: object) -> Composer:
    """The composer with new text (recounted) or other state, keeping its compose key."""
    updated = replace(composer, **changes)  # type: ignore[arg-type]
    return replace(updated, counted=replies.measure(config, mention, updated.text).counted)
