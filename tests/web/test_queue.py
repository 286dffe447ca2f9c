"""The reply queue: what a reviewer sees, approving once only, editing, rejecting, posting by hand."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from socialcrm.models import AuditEntry, DraftEdit, OutboxItem, ReplyDraft, Ticket
from tests.web.seed import make_users, make_world


async def test_queue_shows_post_customer_explanation_and_draft(as_role, world):
    client, _ = await as_role("community")
    html = await (await client.get("/queue")).text()
    assert "Meine Bestellung ist nicht angekommen" in html
    assert "Erika Mustermann" in html
    assert "question-reply" in html and "expected" in html
    assert "Das tut uns leid! Wir kümmern uns." in html
    assert f'data-draft="{world.draft_id}"' in html


async def test_approve_queues_the_reply_once_and_audits(as_role, db, world):
    client, csrf = await as_role("community")
    response = await client.post(
        f"/queue/{world.draft_id}/approve", data={"csrf_token": csrf, "version": "1"}, allow_redirects=False
    )
    assert response.status == 303
    assert response.headers["Location"] == "/queue?notice=approved"
    with db.read() as s:
        draft = s.get(ReplyDraft, world.draft_id)
        outbox = s.exec(select(OutboxItem).where(OutboxItem.draft_id == world.draft_id)).all()
        audit = s.exec(select(AuditEntry).where(AuditEntry.action == "draft.approve")).all()
        ticket = s.get(Ticket, world.ticket_id)
    assert draft.status == "approved" and draft.approved_by == "community"
    assert len(outbox) == 1 and outbox[0].payload["text"] == "Das tut uns leid! Wir kümmern uns."
    assert [a.actor for a in audit] == ["community"]
    assert ticket.first_response_at is not None


async def test_two_reviewers_approving_at_once_send_one_reply(as_role, db, world):
    with db.write() as s:
        from socialcrm.services import users

        users.create_user(s, "community2", "community", "correct horse battery", actor="test")
    first, csrf1 = await as_role("community")
    second, csrf2 = await as_role("community2")
    url = f"/queue/{world.draft_id}/approve"
    results = await asyncio.gather(
        first.post(url, data={"csrf_token": csrf1, "version": "1"}, headers={"Accept": "application/json"}),
        second.post(url, data={"csrf_token": csrf2, "version": "1"}, headers={"Accept": "application/json"}),
    )
    statuses = sorted(r.status for r in results)
    assert statuses == [200, 409]
    loser = next(r for r in results if r.status == 409)
    body = await loser.json()
    assert body["ok"] is False
    assert "Someone else already handled this draft" in body["notice"]
    with db.read() as s:
        assert len(s.exec(select(OutboxItem).where(OutboxItem.draft_id == world.draft_id)).all()) == 1


async def test_the_loser_without_javascript_sees_a_clear_message(as_role, world):
    client, csrf = await as_role("community")
    await client.post(f"/queue/{world.draft_id}/approve", data={"csrf_token": csrf, "version": "1"})
    page = await client.post(f"/queue/{world.draft_id}/approve", data={"csrf_token": csrf, "version": "1"})
    assert "Someone else already handled this draft. Nothing was sent twice." in await page.text()


async def test_edit_keeps_history_and_a_stale_approval_is_refused(as_role, db, world):
    client, csrf = await as_role("community")
    response = await client.post(
        f"/queue/{world.draft_id}/edit",
        data={"csrf_token": csrf, "version": "1", "text": "Neue Antwort"},
        headers={"Accept": "application/json"},
    )
    assert (await response.json())["version"] == 2
    stale = await client.post(
        f"/queue/{world.draft_id}/approve",
        data={"csrf_token": csrf, "version": "1"},
        headers={"Accept": "application/json"},
    )
    assert stale.status == 409
    with db.read() as s:
        edits = s.exec(select(DraftEdit).where(DraftEdit.draft_id == world.draft_id)).all()
        draft = s.get(ReplyDraft, world.draft_id)
    assert [(e.old_text, e.new_text) for e in edits] == [("Das tut uns leid! Wir kümmern uns.", "Neue Antwort")]
    assert draft.status == "pending"


async def test_approve_with_edited_text_sends_the_edit(as_role, db, world):
    client, csrf = await as_role("community")
    await client.post(
        f"/queue/{world.draft_id}/approve",
        data={"csrf_token": csrf, "version": "1", "text": "Wir melden uns heute."},
    )
    with db.read() as s:
        item = s.exec(select(OutboxItem).where(OutboxItem.draft_id == world.draft_id)).one()
    assert item.payload["text"] == "Wir melden uns heute."


async def test_reject_needs_a_reason(as_role, db, world):
    client, csrf = await as_role("community")
    missing = await client.post(f"/queue/{world.draft_id}/reject", data={"csrf_token": csrf})
    assert missing.status == 400 and "reason" in await missing.text()
    await client.post(f"/queue/{world.draft_id}/reject", data={"csrf_token": csrf, "reason": "Kein Kunde"})
    with db.read() as s:
        draft = s.get(ReplyDraft, world.draft_id)
    assert (draft.status, draft.rejected_reason, draft.rejected_by) == ("rejected", "Kein Kunde", "community")


async def test_reassign_and_filter_by_assignee(as_role, world):
    client, csrf = await as_role("community")
    await client.post(f"/queue/{world.draft_id}/reassign", data={"csrf_token": csrf, "assignee": "admin"})
    mine = await (await client.get("/queue?assignee=community")).text()
    theirs = await (await client.get("/queue?assignee=admin")).text()
    assert f'data-draft="{world.draft_id}"' not in mine
    assert f'data-draft="{world.draft_id}"' in theirs


async def test_filters_by_sentiment_language_source_and_age(as_role, world):
    client, _ = await as_role("community")
    marker = f'data-draft="{world.draft_id}"'
    assert (
        marker in await (await client.get("/queue?sentiment=negative&language=de&source=acme-mastodon&age=24h")).text()
    )
    for query in ("sentiment=positive", "language=en", "source=other", "age=older"):
        assert marker not in await (await client.get(f"/queue?{query}")).text(), query
    bad = await client.get("/queue?age=forever")
    assert bad.status == 400 and "age" in await bad.text()


async def test_read_only_platform_ends_in_copy_open_and_mark_as_posted(as_role, db):
    make_users(db)
    world = make_world(db, source_type="hackernews")
    client, csrf = await as_role("community")
    response = await client.post(
        f"/queue/{world.draft_id}/approve", data={"csrf_token": csrf, "version": "1"}, allow_redirects=False
    )
    assert response.headers["Location"] == f"/queue/{world.draft_id}?notice=approved_manual"
    page = await (await client.get(response.headers["Location"])).text()
    assert "Copy reply" in page and "Mark as posted" in page and "https://blog.example.com/post/1" in page
    bad = await client.post(f"/queue/{world.draft_id}/posted", data={"csrf_token": csrf, "url": "javascript:x"})
    assert bad.status == 400
    await client.post(
        f"/queue/{world.draft_id}/posted",
        data={"csrf_token": csrf, "url": "https://news.ycombinator.com/item?id=1"},
    )
    with db.read() as s:
        draft = s.get(ReplyDraft, world.draft_id)
    assert draft.status == "sent" and draft.external_reply_url == "https://news.ycombinator.com/item?id=1"


async def test_unknown_draft_is_404(as_role, world):
    client, csrf = await as_role("community")
    assert (await client.get("/queue/999999")).status == 404
    assert (await client.post("/queue/999999/approve", data={"csrf_token": csrf})).status == 404


async def test_replies_the_outbox_cannot_post_wait_in_the_queue_for_a_person(as_role, db, web_config):
    import aiohttp

    from socialcrm.outbox import OutboxWorker

    make_users(db)
    world = make_world(db, source_type="hackernews")
    client, csrf = await as_role("community")
    await client.post(f"/queue/{world.draft_id}/approve", data={"csrf_token": csrf, "version": "1"})
    async with aiohttp.ClientSession() as http:
        result = await OutboxWorker(web_config, db, {}, http).run_once()
    assert result.manual == 1
    html = await (await client.get("/queue")).text()
    assert f'data-manual="{world.draft_id}"' in html
    await client.post(f"/queue/{world.draft_id}/posted", data={"csrf_token": csrf, "url": ""})
    html = await (await client.get("/queue")).text()
    assert f'data-manual="{world.draft_id}"' not in html
