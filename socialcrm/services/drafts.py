"""Reply drafts: pending -> approved | rejected -> sent | failed, with kept edits and safe approval.

Approval is a compare-and-set on (status, version): of two reviewers approving at once, one wins
and the other gets ConflictError, and the winner's transaction writes the reply to the outbox
(``reply:<draft id>``), so a reply never leaves twice and never leaves without an approval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from socialcrm.config import FourEyesConfig
from socialcrm.db_rows import Inserter, insert_one
from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError, SecondPersonError
from socialcrm.models import DraftEdit, Mention, ReplyDraft, utcnow
from socialcrm.secret_mask import mask_secrets
from socialcrm.services import audit, outbox, tickets
from socialcrm.services.assignees import check_assignee
from socialcrm.services.audit import DAEMON


def get_draft(session: Session, draft_id: int) -> ReplyDraft:
    """The draft with this id; NotFoundError when there is none."""
    draft = session.get(ReplyDraft, draft_id)
    if draft is None:
        raise NotFoundError(f"no reply draft with id {draft_id}")
    return draft


def create_draft(
    session: Session,
    *,
    mention: Mention,
    text: str,
    language: str | None,
    rule: str | None = None,
    template: str | None = None,
    customer_id: int | None = None,
    idempotency_key: str | None = None,
    assignee: str | None = None,
    manual: bool = False,
    created_by: str | None = None,
    actor: str = DAEMON,
    now: datetime | None = None,
    insert: Inserter = insert_one,
) -> ReplyDraft:
    """Store a new pending draft for ``mention`` (by a rule, or by a person ``created_by`` with ``manual=True``).

    ``insert`` stores the row and returns the draft with its id (see ``tickets.open_ticket``).
    """
    assert mention.id is not None
    now = now or utcnow()
    values = {
        "status": "pending",
        "rule": rule,
        "template": template,
        "language": language,
        "text": text,
        "original_text": text,
        "mention_id": mention.id,
        "customer_id": customer_id if customer_id is not None else mention.customer_id,
        "idempotency_key": idempotency_key,
        "assignee": assignee,
        "manual": manual,
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
    }
    draft = insert(session, ReplyDraft, values)
    audit.record(session, actor, "draft.create", "draft", draft.id, {"mention_id": mention.id, "rule": rule})
    return draft


def _compare_and_set(
    session: Session,
    draft: ReplyDraft,
    expected_status: str,
    expected_version: int | None,
    values: dict[str, Any],
) -> ReplyDraft:
    """Update the draft only if it still has the status (and version) the caller saw; else ConflictError."""
    version = draft.version if expected_version is None else expected_version
    statement = (
        update(ReplyDraft)
        .where(
            col(ReplyDraft.id) == draft.id,
            col(ReplyDraft.status) == expected_status,
            col(ReplyDraft.version) == version,
        )
        .values(**values, version=ReplyDraft.version + 1)
        .execution_options(synchronize_session=False)
    )
    result = session.exec(statement)
    if result.rowcount != 1:
        session.refresh(draft)
        by = draft.approved_by or draft.rejected_by
        who = f" by {by}" if by and draft.status in ("approved", "rejected", "sent") else ""
        raise ConflictError(
            f"draft {draft.id} changed meanwhile: it is {draft.status}{who} (v{draft.version}); reload it"
        )
    session.refresh(draft)
    return draft


def edit(session: Session, draft_id: int, text: str, *, user: str, expected_version: int | None = None) -> ReplyDraft:
    """Change a pending draft's text; the old and new text are kept as a DraftEdit."""
    if not text.strip():
        raise InvalidInputError("a reply needs text")
    draft = get_draft(session, draft_id)
    if draft.status != "pending":
        raise ConflictError(f"draft {draft_id} is {draft.status}; only pending drafts can be edited")
    old = draft.text
    if old == text:
        return draft
    _compare_and_set(session, draft, "pending", expected_version, {"text": text, "updated_at": utcnow()})
    session.add(DraftEdit(draft_id=draft_id, editor=user, old_text=old, new_text=text, created_at=utcnow()))
    audit.record(session, user, "draft.edit", "draft", draft_id, {"version": draft.version})
    return draft


def author_of(session: Session, draft: ReplyDraft) -> str | None:
    """Who wrote the draft's text as it stands: the last person who edited it, else its writer (None: a rule)."""
    last_edit = session.exec(
        select(DraftEdit.editor).where(DraftEdit.draft_id == draft.id).order_by(col(DraftEdit.id).desc()).limit(1)
    ).first()
    return last_edit or draft.created_by


def needs_second_person(session: Session, draft: ReplyDraft, user: str, four_eyes: FourEyesConfig) -> bool:
    """Whether ``user`` may not approve ``draft`` alone: four eyes are on and ``user`` wrote its text."""
    return four_eyes.own_replies and author_of(session, draft) == user


def approve(
    session: Session,
    draft_id: int,
    *,
    user: str,
    expected_version: int | None = None,
    text: str | None = None,
    now: datetime | None = None,
    four_eyes: FourEyesConfig | None = None,
) -> ReplyDraft:
    """Approve a pending draft (optionally with a last edit) and queue the reply in the outbox.

    Raises ConflictError when another reviewer approved, rejected or edited it first, and
    SecondPersonError when ``four_eyes.own_replies`` is on and ``user`` wrote the text that would leave.
    """
    draft = get_draft(session, draft_id)
    if text is not None and text != draft.text:
        draft = edit(session, draft_id, text, user=user, expected_version=expected_version)
        expected_version = draft.version
    if draft.status != "pending":
        raise ConflictError(f"draft {draft_id} is {draft.status}; only pending drafts can be approved")
    if four_eyes is not None and needs_second_person(session, draft, user, four_eyes):
        raise SecondPersonError(
            f"draft {draft_id} needs a second person's approval: {user} wrote its text ([web.four_eyes] own_replies)"
        )
    now = now or utcnow()
    _compare_and_set(
        session,
        draft,
        "pending",
        expected_version,
        {"status": "approved", "approved_by": user, "approved_at": now, "updated_at": now, "error": None},
    )
    mention = session.get(Mention, draft.mention_id)
    assert mention is not None
    assert draft.id is not None
    outbox.enqueue(
        session,
        "reply",
        outbox.reply_key(draft.id),
        {
            "draft_id": draft.id,
            "mention_id": mention.id,
            "source": mention.source,
            "source_type": mention.source_type,
            "external_id": mention.external_id,
            "thread_id": mention.thread_id,
            "url": mention.url,
            "language": draft.language,
            "text": draft.text,
        },
        now=now,
        source=mention.source,
        draft_id=draft.id,
    )
    tickets.record_response(session, draft.mention_id, actor=user, now=now)
    audit.record(session, user, "draft.approve", "draft", draft.id, {"version": draft.version})
    return draft


def reject(
    session: Session, draft_id: int, reason: str, *, user: str, expected_version: int | None = None
) -> ReplyDraft:
    """Reject a pending draft with a reason (required, so the team learns why)."""
    if not reason.strip():
        raise InvalidInputError("a rejection needs a reason")
    draft = get_draft(session, draft_id)
    if draft.status != "pending":
        raise ConflictError(f"draft {draft_id} is {draft.status}; only pending drafts can be rejected")
    now = utcnow()
    _compare_and_set(
        session,
        draft,
        "pending",
        expected_version,
        {"status": "rejected", "rejected_by": user, "rejected_reason": reason.strip(), "updated_at": now},
    )
    audit.record(session, user, "draft.reject", "draft", draft.id, {"reason": reason.strip()})
    return draft


def reassign(session: Session, draft_id: int, assignee: str | None, *, user: str) -> ReplyDraft:
    """Hand a draft to another reviewer who works drafts (None: back to the shared queue)."""
    check_assignee(session, assignee, "drafts")
    draft = get_draft(session, draft_id)
    old = draft.assignee
    draft.assignee = assignee
    draft.updated_at = utcnow()
    session.add(draft)
    audit.record(session, user, "draft.reassign", "draft", draft.id, {"from": old, "to": assignee})
    return draft


def mark_posted(session: Session, draft_id: int, url: str, *, user: str) -> ReplyDraft:
    """A person posted an approved reply by hand (platforms without a reply API): record where."""
    draft = get_draft(session, draft_id)
    if draft.status not in ("approved", "failed"):
        raise ConflictError(f"draft {draft_id} is {draft.status}; approve it before marking it posted")
    now = utcnow()
    _compare_and_set(
        session,
        draft,
        draft.status,
        None,
        {
            "status": "sent",
            "sent_at": now,
            "external_reply_url": url or None,
            "updated_at": now,
            "error": None,
        },
    )
    item = outbox.find(session, outbox.reply_key(draft_id))
    if item is not None and item.status != "done":
        item.status = "done"
        item.result = {"posted_by": user, "url": url}
        item.updated_at = now
        session.add(item)
    audit.record(session, user, "draft.posted", "draft", draft.id, {"url": url})
    return draft


def mark_sent(session: Session, draft_id: int, external_id: str | None, url: str | None) -> ReplyDraft:
    """The outbox worker posted the reply; idempotent when called again with the draft already sent."""
    draft = get_draft(session, draft_id)
    if draft.status == "sent":
        return draft
    if draft.status not in ("approved", "failed"):  # failed: a retry whose first try did get through
        raise ConflictError(f"draft {draft_id} is {draft.status}; only approved drafts are sent")
    now = utcnow()
    draft.status = "sent"
    draft.sent_at = now
    draft.external_reply_id = external_id
    draft.external_reply_url = url
    draft.error = None
    draft.updated_at = now
    draft.version += 1
    session.add(draft)
    audit.record(session, DAEMON, "draft.sent", "draft", draft.id, {"external_id": external_id, "url": url})
    return draft


def mark_failed(session: Session, draft_id: int, error: str, permanent: bool) -> ReplyDraft:
    """Posting failed: a permanent failure moves the draft to failed; a transient one only notes the error."""
    draft = get_draft(session, draft_id)
    if draft.status == "sent":  # a person posted it by hand meanwhile: nothing failed
        return draft
    if draft.status not in ("approved", "failed"):
        raise ConflictError(f"draft {draft_id} is {draft.status}; only approved drafts can fail")
    draft.error = mask_secrets(error)[:2000]
    draft.updated_at = utcnow()
    if permanent and draft.status != "failed":
        draft.status = "failed"
        draft.version += 1
        audit.record(session, DAEMON, "draft.failed", "draft", draft.id, {"error": error[:500]})
    session.add(draft)
    return draft


def retry(session: Session, draft_id: int, *, user: str) -> ReplyDraft:
    """Send a failed draft again: it returns to approved and its outbox item is due now."""
    draft = get_draft(session, draft_id)
    if draft.status != "failed":
        raise ConflictError(f"draft {draft_id} is {draft.status}; only failed drafts can be retried")
    now = utcnow()
    _compare_and_set(session, draft, "failed", None, {"status": "approved", "updated_at": now})
    item = outbox.find(session, outbox.reply_key(draft_id))
    if item is not None:
        result = item.result or {}
        # After tries whose outcome stayed unknown the next try looks for the reply first ("sending");
        # after an undecided look-up the person sending it again has looked: post, looking back no further.
        look_first = bool(result.get("outcome_unknown")) and result.get("lookup") != "undecided"
        item.status = "sending" if look_first else "pending"
        if not look_first:
            item.first_attempt_at = None
        item.lease_owner = None
        item.attempts = 0
        item.next_attempt_at = now
        item.updated_at = now
        session.add(item)
    audit.record(session, user, "draft.retry", "draft", draft.id)
    return draft


def list_drafts(
    session: Session,
    *,
    status: str | None = "pending",
    assignee: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ReplyDraft]:
    """Drafts in the review queue, oldest first (status None: all)."""
    statement = select(ReplyDraft)
    if status is not None:
        statement = statement.where(ReplyDraft.status == status)
    if assignee is not None:
        statement = statement.where(ReplyDraft.assignee == assignee)
    return list(
        session.exec(statement.order_by(col(ReplyDraft.created_at), col(ReplyDraft.id)).offset(offset).limit(limit))
    )


def edits(session: Session, draft_id: int) -> list[DraftEdit]:
    """The draft's edit history, oldest first."""
    return list(session.exec(select(DraftEdit).where(DraftEdit.draft_id == draft_id).order_by(col(DraftEdit.id))))
