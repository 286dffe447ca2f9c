"""Reply drafts: edits kept, approval writes the outbox once, two reviewers at once, sent/failed/posted."""

from __future__ import annotations

import threading

import pytest
from sqlmodel import func, select

from socialcrm.db import Database
from socialcrm.errors import ConflictError, InvalidInputError
from socialcrm.models import AuditEntry, DraftEdit, OutboxItem, ReplyDraft, Ticket
from socialcrm.services import drafts, users
from tests.rules import factories as f


def _draft(db: Database, *, complaint: bool = False) -> int:
    cfg = f.config()
    rules = f.ruleset(cfg)
    with db.write() as session:
        f.customer(session, "K-1", "Ida", handles={"reddit": "ida"})
        text = "Wann kommt meine Lieferung endlich?" if complaint else "Wie funktioniert das?"
        post = f.mention(
            session,
            text,
            author="ida",
            source="r-acme",
            source_type="reddit",
            language="de",
            sentiment="negative" if complaint else "neutral",
        )
        f.process(session, post, cfg, rules)
        return session.exec(select(ReplyDraft.id)).one()


def test_edit_keeps_every_version(db) -> None:
    draft_id = _draft(db)
    with db.write() as session:
        drafts.edit(session, draft_id, "Hallo Ida, gute Frage!", user="cm1")
        drafts.edit(session, draft_id, "Hallo Ida, gute Frage! Siehe FAQ.", user="cm2")
    with db.read() as session:
        draft = session.get(ReplyDraft, draft_id)
        assert (draft.text, draft.version) == ("Hallo Ida, gute Frage! Siehe FAQ.", 3)
        assert draft.original_text == "Hallo ida, danke für Ihre Frage ..."
        history = [(e.editor, e.old_text, e.new_text) for e in drafts.edits(session, draft_id)]
        assert history == [
            ("cm1", "Hallo ida, danke für Ihre Frage ...", "Hallo Ida, gute Frage!"),
            ("cm2", "Hallo Ida, gute Frage!", "Hallo Ida, gute Frage! Siehe FAQ."),
        ]


def test_approve_queues_the_reply_once_with_who_approved(db) -> None:
    draft_id = _draft(db, complaint=True)
    with db.write() as session:
        drafts.approve(session, draft_id, user="cm1", text="Hallo Ida, wir kümmern uns.")
    with db.read() as session:
        draft = session.get(ReplyDraft, draft_id)
        assert (draft.status, draft.approved_by) == ("approved", "cm1")
        item = session.exec(select(OutboxItem)).one()
        assert (item.kind, item.idempotency_key, item.source, item.draft_id) == (
            "reply",
            f"reply:{draft_id}",
            "r-acme",
            draft_id,
        )
        assert item.payload["text"] == "Hallo Ida, wir kümmern uns."
        ticket = session.exec(select(Ticket)).one()
        assert ticket.first_response_at == draft.approved_at  # a person answered the complaint
        assert session.exec(select(func.count()).select_from(DraftEdit)).one() == 1
    with db.write() as session:
        with pytest.raises(ConflictError, match="is approved"):
            drafts.approve(session, draft_id, user="cm2")


def test_two_reviewers_approving_at_once_one_wins(database_url: str) -> None:
    setup = Database(database_url)
    draft_id = _draft(setup)
    setup.dispose()
    # two separate engines, as two web workers or processes would have
    reviewers = {"anna": Database(database_url), "ben": Database(database_url)}
    barrier = threading.Barrier(len(reviewers))
    outcome: dict[str, str] = {}

    def review(user: str, db: Database) -> None:
        barrier.wait()
        try:
            with db.write() as session:
                drafts.approve(session, draft_id, user=user, expected_version=1)
            outcome[user] = "approved"
        except ConflictError as err:
            outcome[user] = str(err)

    threads = [threading.Thread(target=review, args=item) for item in reviewers.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    with reviewers["anna"].read() as session:
        draft = session.get(ReplyDraft, draft_id)
        items = session.exec(select(OutboxItem)).all()
    for db in reviewers.values():
        db.dispose()
    winners = [u for u, o in outcome.items() if o == "approved"]
    assert len(winners) == 1, outcome
    loser = next(u for u in reviewers if u not in winners)
    assert "changed meanwhile" in outcome[loser] or "is approved" in outcome[loser]
    assert draft.approved_by == winners[0]
    assert len(items) == 1


def test_a_reviewer_with_a_stale_version_cannot_approve_an_edited_draft(db) -> None:
    draft_id = _draft(db)
    with db.write() as session:
        drafts.edit(session, draft_id, "Neuer Text", user="cm1", expected_version=1)
    with db.write() as session:
        with pytest.raises(ConflictError, match="changed meanwhile: it is pending .v2."):
            drafts.approve(session, draft_id, user="cm2", expected_version=1)
    with db.read() as session:
        assert session.exec(select(func.count()).select_from(OutboxItem)).one() == 0


def test_reject_needs_a_reason_and_ends_the_draft(db) -> None:
    draft_id = _draft(db)
    with db.write() as session:
        with pytest.raises(InvalidInputError, match="needs a reason"):
            drafts.reject(session, draft_id, "  ", user="cm1")
        drafts.reject(session, draft_id, "Off-topic", user="cm1")
    with db.write() as session:
        draft = session.get(ReplyDraft, draft_id)
        assert (draft.status, draft.rejected_by, draft.rejected_reason) == ("rejected", "cm1", "Off-topic")
        with pytest.raises(ConflictError):
            drafts.approve(session, draft_id, user="cm2")
        with pytest.raises(ConflictError):
            drafts.edit(session, draft_id, "x", user="cm2")


def test_outbox_worker_marks_sent_or_failed(db) -> None:
    draft_id = _draft(db)
    with db.write() as session:
        with pytest.raises(ConflictError, match="only approved drafts are sent"):
            drafts.mark_sent(session, draft_id, "t1_x", None)
        drafts.approve(session, draft_id, user="cm1")
        drafts.mark_failed(session, draft_id, "HTTP 503", permanent=False)
        assert session.get(ReplyDraft, draft_id).status == "approved"
        drafts.mark_failed(session, draft_id, "HTTP 403 forbidden", permanent=True)
        assert session.get(ReplyDraft, draft_id).status == "failed"
        drafts.retry(session, draft_id, user="cm1")
        assert session.exec(select(OutboxItem)).one().status == "pending"
        drafts.mark_sent(session, draft_id, "t1_reply", "https://reddit.example/r/x/t1_reply")
        drafts.mark_sent(session, draft_id, "t1_reply", "https://reddit.example/r/x/t1_reply")  # idempotent
    with db.read() as session:
        draft = session.get(ReplyDraft, draft_id)
        assert (draft.status, draft.external_reply_id, draft.error) == ("sent", "t1_reply", None)
        audited = [
            a.action
            for a in session.exec(select(AuditEntry).where(AuditEntry.entity_type == "draft").order_by(AuditEntry.id))
        ]
        assert audited == ["draft.create", "draft.approve", "draft.failed", "draft.retry", "draft.sent"]


def test_mark_posted_for_platforms_without_a_reply_api(db) -> None:
    draft_id = _draft(db)
    with db.write() as session:
        with pytest.raises(ConflictError, match="approve it before"):
            drafts.mark_posted(session, draft_id, "https://news.example/item?id=1", user="cm1")
        drafts.approve(session, draft_id, user="cm1")
        drafts.mark_posted(session, draft_id, "https://news.example/item?id=1", user="cm1")
        drafts.mark_failed(session, draft_id, "HTTP 403", permanent=True)  # worker lost the race: no-op
    with db.read() as session:
        draft = session.get(ReplyDraft, draft_id)
        assert (draft.status, draft.external_reply_url) == ("sent", "https://news.example/item?id=1")
        assert session.exec(select(OutboxItem)).one().status == "done"


def test_reassign_and_queue(db) -> None:
    draft_id = _draft(db)
    with db.write() as session:
        users.create_user(session, "cm2", "community", "a long password", actor="test")
        users.create_user(session, "agent", "service", "a long password", actor="test")
        with pytest.raises(InvalidInputError, match="has the role service, which cannot work drafts"):
            drafts.reassign(session, draft_id, "agent", user="lead")
        with pytest.raises(InvalidInputError, match="there is no user 'cm9'"):
            drafts.reassign(session, draft_id, "cm9", user="lead")
        drafts.reassign(session, draft_id, "cm2", user="lead")
    with db.read() as session:
        assert [d.id for d in drafts.list_drafts(session, assignee="cm2")] == [draft_id]
        assert drafts.list_drafts(session, assignee="cm1") == []
