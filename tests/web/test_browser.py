"""End to end in real headless Chromium (Debian's, driven by Playwright): log in, approve with the keyboard
and see the reply arrive at a replay server, work a ticket, see the dashboard chart, and hostile posts
that stay inert."""

from __future__ import annotations

import re

from sqlmodel import select

from socialcrm.models import ReplyDraft, Ticket
from socialcrm.services import drafts
from tests.web.conftest import WATCH
from tests.web.hostile import store_hostile
from tests.web.seed import add_mention, make_users, make_world


async def test_approve_a_draft_with_the_keyboard_and_the_reply_arrives(serve_web, log_in, db, mastodon_thread):
    world = mastodon_thread.world
    with db.write() as s:
        second = add_mention(s, "Zweite Frage: wann kommt das?", source="masto", source_type="mastodon")
        other = drafts.create_draft(s, mention=second, text="Bald!", language="de")
        other_id = other.id
    base = await serve_web(mastodon_thread.config_toml)
    page, dialogs = await log_in(base, "community")
    assert page.url.endswith("/queue")
    first = page.locator(f'[data-draft="{world.draft_id}"]')
    second_item = page.locator(f'[data-draft="{other_id}"]')
    await first.wait_for()
    assert "selected" in (await first.get_attribute("class") or "")
    await page.keyboard.press("j")
    assert "selected" in (await second_item.get_attribute("class") or "")
    await page.keyboard.press("k")
    assert "selected" in (await first.get_attribute("class") or "")
    await page.keyboard.press("a")
    await page.locator("#notice", has_text="Draft approved").wait_for()
    assert await first.get_attribute("data-state") == "approved"
    assert "selected" in (await second_item.get_attribute("class") or ""), "selection moves to the next draft"
    with db.read() as s:
        assert s.get(ReplyDraft, world.draft_id).status == "approved"
        assert s.get(ReplyDraft, other_id).status == "pending"

    [result] = await mastodon_thread.deliver(db)
    assert result.sent == 1
    sent = mastodon_thread.posted()
    assert len(sent) == 1
    assert "Das+tut+uns+leid" in sent[0].body.decode() and sent[0].headers["Idempotency-Key"]
    with db.read() as s:
        assert s.get(ReplyDraft, world.draft_id).status == "sent"
    assert dialogs == []


async def test_edit_then_approve_and_reject_from_the_keyboard(serve_web, log_in, db):
    make_users(db)
    world = make_world(db)
    with db.write() as s:
        second = add_mention(s, "Wann öffnet der Laden?", source="acme-mastodon", source_type="mastodon")
        other_id = drafts.create_draft(s, mention=second, text="Um neun.", language="de").id
    base = await serve_web()
    page, _ = await log_in(base, "community")
    await page.keyboard.press("e")
    textarea = page.locator(f"#text-{world.draft_id}")
    assert await textarea.evaluate("el => el === document.activeElement")
    await textarea.fill("Wir prüfen das sofort.")
    await page.locator(f'[data-draft="{world.draft_id}"] button[formaction$="/edit"]').click()
    await page.locator("#notice", has_text="Draft saved").wait_for()
    await textarea.press("Escape")
    await page.keyboard.press("a")
    await page.locator("#notice", has_text="Draft approved").wait_for()
    await page.keyboard.press("r")
    reason = page.locator(f"#reason-{other_id}")
    assert await reason.evaluate("el => el === document.activeElement")
    await reason.fill("falscher Ton")
    await reason.press("Enter")
    await page.locator("#notice", has_text="Draft rejected").wait_for()
    with db.read() as s:
        approved = s.get(ReplyDraft, world.draft_id)
        rejected = s.get(ReplyDraft, other_id)
    assert (approved.status, approved.text) == ("approved", "Wir prüfen das sofort.")
    assert (rejected.status, rejected.rejected_reason) == ("rejected", "falscher Ton")


async def test_work_a_ticket_from_the_list(serve_web, log_in, db):
    make_users(db)
    world = make_world(db)
    base = await serve_web()
    page, dialogs = await log_in(base, "service")
    assert page.url.endswith("/tickets")
    await page.click(f'tr[data-ticket="{world.ticket_id}"] a >> nth=1')
    await page.wait_for_url(re.compile(rf"/tickets/{world.ticket_id}$"))
    await page.select_option("#status-form select[name=status]", "open")
    await page.click("#status-form button")
    await page.locator("#notice", has_text="Ticket updated").wait_for()
    assert (await page.inner_text("#ticket-status")).strip() == "open"
    await page.select_option("#assign-form select[name=assignee]", "service")
    await page.click("#assign-form button")
    assert (await page.inner_text("#ticket-assignee")).strip() == "service"
    await page.fill("#note-text", "Kundin angerufen, Ersatz unterwegs")
    await page.click("#note-form button")
    await page.locator("#history [data-kind=note]", has_text="Kundin angerufen").wait_for()
    with db.read() as s:
        ticket = s.get(Ticket, world.ticket_id)
    assert (ticket.status, ticket.assignee) == ("open", "service") and ticket.first_response_at is not None
    assert dialogs == []


async def test_dashboard_draws_its_charts(serve_web, log_in, db):
    make_users(db)
    with db.write() as s:
        for i, source in enumerate(["blog", "reddit", "blog", "forum"] * 3):
            add_mention(s, f"Post {i}", source=source, sentiment=("negative", "neutral", "positive")[i % 3])
    base = await serve_web()
    page, _ = await log_in(base, "marketing")
    assert page.url.endswith("/dashboard")
    chart = page.locator('#volume-chart svg[data-chart="line"]')
    await chart.wait_for()
    box = await chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 80
    assert await page.locator("#volume-chart polyline.series").count() == 3
    assert await page.locator("#sentiment-chart rect.bar").count() >= 3
    assert await page.evaluate("window.__violations") == []


async def test_dashboard_changes_themes_and_drill_down(serve_web, log_in, db):
    make_users(db)
    with db.write() as s:
        for i, text in enumerate(["Acme-Lieferung kaputt angekommen", "Lieferung kaputt, Acme antwortet nicht"] * 2):
            add_mention(s, f"{text} ({i})", source="blog", sentiment="negative")
        add_mention(s, "Acme schmeckt prima", source="blog", sentiment="positive")
    base = await serve_web('[insights]\nbrand_terms = ["acme"]\n')
    page, _ = await log_in(base, "marketing")
    assert await page.locator('[data-change="mentions"] .delta.up').inner_text() == "+5 (new)"
    themes = [t.strip() for t in await page.locator("#themes a[data-theme]").all_inner_texts()]
    assert "Lieferung kaputt" in themes and not any("acme" in t.lower() for t in themes)
    await page.click('#themes a[data-theme="Lieferung kaputt"]')
    await page.wait_for_load_state("load")
    assert "/mentions?" in page.url and "theme=Lieferung+kaputt" in page.url
    assert await page.locator("article.post").count() == 4
    await page.go_back()
    await page.locator('#sentiment-chart svg.chart-wide a.drill rect[fill="#1e7b34"]').click()
    await page.wait_for_load_state("load")
    assert "sentiment=positive" in page.url
    assert await page.locator("article.post").all_inner_texts() == [
        t for t in await page.locator("article.post").all_inner_texts() if "prima" in t
    ]
    assert await page.locator("article.post").count() == 1
    assert await page.evaluate("window.__violations") == []


async def test_hostile_posts_stay_inert_in_queue_ticket_and_customer_views(serve_web, log_in, db):
    make_users(db)
    hostile = store_hostile(db)
    base = await serve_web()
    community, community_dialogs = await log_in(base, "community")
    service, service_dialogs = await log_in(base, "service")
    visits = [(community, f"/queue?page={n}") for n in (1, 2, 3)]
    visits += [(community, f"/queue/{hostile.draft_ids[i]}") for i in (0, 1, -1)]
    visits += [(community, f"/customers/{hostile.customer_id}"), (community, "/mentions")]
    visits += [(community, f"/mentions/{hostile.mention_ids[0]}")]
    visits += [(service, f"/tickets/{hostile.ticket_id}"), (service, "/tickets")]
    for page, path in visits:
        await page.goto(base + path)
        await page.wait_for_load_state("load")
        await page.mouse.move(200, 300)
        await page.mouse.move(400, 500)
        await page.wait_for_timeout(100)
        assert await page.evaluate("window.__fired") == [], path
        assert await page.evaluate("window.__violations") == [], path
        assert await page.evaluate("document.querySelectorAll('script:not([src=\"/static/app.js\"])').length") == 0
        assert (
            await page.evaluate(
                "[...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on')))"
                ".length"
            )
            == 0
        ), path
    await community.goto(base + "/queue")
    assert "<script>" in await community.inner_text("main"), "the payloads are shown as text"
    assert community_dialogs == [] and service_dialogs == []
    with db.read() as s:
        assert len(s.exec(select(ReplyDraft)).all()) == hostile.count


async def test_the_watch_does_see_a_live_payload(browser):
    """Control: without our escaping and CSP, the same kind of payload fires and is recorded."""
    page = await browser.new_page(timezone_id="UTC")
    await page.add_init_script(WATCH)
    await page.goto("about:blank")
    await page.set_content('<img src="data:," onerror="alert(1)">')
    await page.wait_for_function("window.__fired.length > 0")
    assert await page.evaluate("window.__fired") == ["alert:1"]
