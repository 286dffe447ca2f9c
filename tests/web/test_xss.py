"""Hostile post content renders inert in the queue, the ticket and the customer view (server side)."""

from __future__ import annotations

from tests.web.hostile import active_content, payloads, store_hostile
from tests.web.seed import make_users


def test_the_payloads_are_loaded():
    items = payloads()
    assert len(items) > 40
    assert any("<script" in p.lower() for p in items)
    assert any("onerror" in p.lower() for p in items)


async def test_payloads_render_inert_everywhere(db, as_role):
    make_users(db)
    hostile = store_hostile(db)
    community, _ = await as_role("community")
    service, _ = await as_role("service")
    marketing, _ = await as_role("marketing")
    pages = [
        (marketing, "/dashboard"),
        (marketing, "/dashboard?by=tag"),
        (marketing, "/dashboard?by=group"),
        (community, "/queue"),
        (community, "/queue?page=2"),
        (community, f"/queue/{hostile.draft_ids[0]}"),
        (community, f"/queue/{hostile.draft_ids[-1]}"),
        (community, f"/customers/{hostile.customer_id}"),
        (community, "/mentions"),
        (community, f"/mentions/{hostile.mention_ids[0]}"),
        (marketing, f"/mentions/{hostile.mention_ids[-1]}"),
        (service, f"/tickets/{hostile.ticket_id}"),
        (service, "/tickets"),
    ]
    for client, path in pages:
        response = await client.get(path)
        assert response.status == 200, path
        html = await response.text()
        assert active_content(html) == [], path


async def test_a_hostile_reply_text_and_saved_reply_preview_render_inert(db, as_role):
    from socialcrm.services import saved_replies
    from socialcrm.services.saved_replies import SavedReplyInput

    make_users(db)
    hostile = store_hostile(db)
    items = payloads()
    with db.write() as s:
        saved = saved_replies.create(s, SavedReplyInput("hostile", "en", items[5][:100], items[6]), actor="admin")
    community, csrf = await as_role("community")
    for data in ({"text": items[7], "do": "preview"}, {"saved": str(saved.id), "do": "insert"}):
        response = await community.post(
            f"/mentions/{hostile.mention_ids[1]}/compose", data={"csrf_token": csrf, **data}
        )
        assert response.status == 200
        assert active_content(await response.text()) == [], data


async def test_the_finder_does_catch_live_script():
    assert active_content('<p><img src=x onerror="alert(1)"></p>') != []
    assert active_content('<a href="javascript:alert(1)">x</a>') != []
    assert active_content("<script>alert(1)</script>") != []
    assert active_content('<script src="/static/app.js"></script><a href="/queue">ok</a>') == []
