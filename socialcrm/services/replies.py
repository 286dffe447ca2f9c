"""Answering a post from the composer: the platform's limit, the send, and whether a second person must approve.

A person's reply takes the path a rule's draft takes: a draft (with its author), an approval, a row
in the outbox, each audited. With ``[web.four_eyes] own_replies`` off (the default) sending is the
author's approval and the reply leaves at once; on, it waits in the reply queue for someone else.
Where a platform has no reply API (feeds, Hacker News) the approved reply waits for a person to copy
it, post it there and mark it as posted, with the address of the posted reply.

Each composer form carries a random ``compose_key``; the draft is stored under it, so a form sent
twice (a double click, a retried request) makes one draft and one reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import Session, select

from connectors import ReplyLength, ReplyPolicy, ReplyTarget, measure_reply
from socialcrm.config import Config
from socialcrm.errors import ConfigError, ConflictError, InvalidInputError, NotFoundError
from socialcrm.models import UI_LANGUAGES, Mention, ReplyDraft, utcnow
from socialcrm.registry import load_connector_class
from socialcrm.services import drafts

MAX_REPLY_CHARS = 20000
COMPOSE_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SendOutcome = Literal["queued", "manual", "waiting", "duplicate"]
"""queued: approved, the outbox posts it; manual: approved, a person posts it by hand; waiting: for a
second person's approval; duplicate: this form was sent before, nothing new happened."""
NO_API = ReplyPolicy(can_reply=False, note="this source is not configured any more: post the reply by hand")


@dataclass(frozen=True)
class SentReply:
    """The draft a send made (or found) and what happens to it next."""

    draft: ReplyDraft
    outcome: SendOutcome


def reply_target(mention: Mention) -> ReplyTarget:
    """The post a reply answers, as connectors see it."""
    return ReplyTarget(
        external_id=mention.external_id,
        url=mention.url,
        thread_id=mention.thread_id,
        parent_id=mention.parent_id,
        author_handle=mention.author,
        raw=mention.raw or {},
    )


def policy_of(source_type: str) -> ReplyPolicy:
    """What the platform lets a reply do; an unknown or broken connector cannot post (copy, open, mark as posted)."""
    try:
        policy = getattr(load_connector_class(source_type), "reply_policy", None)
    except Exception:  # noqa: BLE001 - a connector that cannot load cannot post either
        return NO_API
    return policy if isinstance(policy, ReplyPolicy) else NO_API


def normalise(text: str) -> str:
    """The text as it is stored and counted: browsers send CRLF line ends, platforms count LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def measure(config: Config, mention: Mention, text: str) -> ReplyLength:
    """``text`` counted as the mention's platform counts a reply to it (an added @mention included)."""
    text = normalise(text)
    policy = policy_of(mention.source_type)
    try:
        options = config.source(mention.source).options
        connector = load_connector_class(mention.source_type)
    except ConfigError:
        return ReplyLength(len(text), policy.max_length)
    if options is None:
        return ReplyLength(len(text), policy.max_length)
    return measure_reply(connector, options, reply_target(mention), text)


def check_length(config: Config, mention: Mention, text: str) -> ReplyLength:
    """The length of ``text``; InvalidInputError saying by how much when the platform would refuse it."""
    length = measure(config, mention, text)
    if length.limit is not None and length.counted > length.limit:
        raise InvalidInputError(
            f"text: the reply is {length.counted} characters as {mention.source_type} counts them; "
            f"the limit is {length.limit}: shorten it by {length.counted - length.limit}"
        )
    return length


def _mention(session: Session, mention_id: int) -> Mention:
    mention = session.get(Mention, mention_id)
    if mention is None:
        raise NotFoundError(f"no mention with id {mention_id}")
    if mention.erased_at is not None:
        raise ConflictError(f"mention {mention_id} was erased on request; it cannot be answered")
    return mention


def send(
    session: Session,
    config: Config,
    mention_id: int,
    text: str,
    *,
    author: str,
    compose_key: str,
    now: datetime | None = None,
) -> SentReply:
    """Store ``author``'s reply to the mention and approve it unless four eyes are on; one draft per compose key."""
    if not COMPOSE_KEY.match(compose_key):
        raise InvalidInputError("compose_key: reload the page; the form lacks its key")
    key = f"compose:{compose_key}"
    earlier = session.exec(select(ReplyDraft).where(ReplyDraft.idempotency_key == key)).first()
    if earlier is not None:
        return SentReply(earlier, "duplicate")
    text = normalise(text)
    if not text:
        raise InvalidInputError("text: a reply needs text")
    if len(text) > MAX_REPLY_CHARS:
        raise InvalidInputError(f"text: longer than {MAX_REPLY_CHARS} characters")
    mention = _mention(session, mention_id)
    check_length(config, mention, text)
    now = now or utcnow()
    draft = drafts.create_draft(
        session,
        mention=mention,
        text=text,
        language=mention.language if mention.language in UI_LANGUAGES else None,
        idempotency_key=key,
        manual=True,
        created_by=author,
        actor=author,
        now=now,
    )
    assert draft.id is not None
    if config.web.four_eyes.own_replies:
        return SentReply(draft, "waiting")
    drafts.approve(session, draft.id, user=author, now=now)
    return SentReply(draft, "queued" if policy_of(mention.source_type).can_reply else "manual")
