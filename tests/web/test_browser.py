"""End to end in real headless Chromium (Debian's, driven by Playwright): log in, approve with the keyboard
and see the reply arrive at a replay server, work a ticket, see the dashboard chart, and hostile posts
that stay inert."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from socialcrm.config import parse_config
from socialcrm.models import Mention, ReplyDraft, Ticket
from socialcrm.outbox import OutboxWorker
from socialcrm.web.app import create_app
from tests.replay.cassettes import load, serve
from tests.web.hostile import store_hostile
from tests.web.seed import PASSWORD, add_mention, make_users, make_world

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MASTODON = Path(__file__).resolve().parents[1] / "replay" / "mastodon"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]
# Records any dialog or script-made call and every CSP refusal, before the page's own code runs.
WATCH = """
window.__fired = [];
window.__violations = [];
for (const name of ["alert", "confirm", "prompt", "print"]) {
  window[name] = (...args) => { window.__fired.push(name + ":" + String(args[0])); };
}
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.sample || ""));
});
"""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        await chromium.close()


async def _serve(aiohttp_server, db, toml: str = "") -> str:  # type: ignore[no-untyped-def]
    server = await aiohttp_server(create_app(parse_config(toml), db), host="127.0.0.1", port=0)
    return f"http://127.0.0.1:{server.port}"


async def _page(browser, base: str, username: str):  # type: ignore[no-untyped-def]
    context = await browser.new_context(locale="en-US")
    page = await context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    await page.add_init_script(WATCH)
    await page.goto(base + "/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state("load")
    return page, dialogs


async def test_approve_a_draft_with_the_keyboard_and_the_reply_arrives(
    aiohttp_server, browser, db, replay, monkeypatch
):
    monkeypatch.setenv("MASTO_TOKEN", "tok-abc")
    posts = [i for i in load(MASTODON / "test_status_reply.yaml") if i.method == "POST"]
    original, recorded_reply = posts[0].json(), posts[1]
    serve(replay, [recorded_reply])
    config_toml = f"""
[[sources]]
name = "masto"
type = "mastodon"
base_url = "{replay.base_url}"
hashtags = ["acme"]
access_token_env = "MASTO_TOKEN"
"""
    make_users(db)
    world = make_world(db)
    with db.write() as s:
        mention = s.get(Mention, world.mention_id)
        mention.source, mention.external_id = "masto", original["id"]
        mention.author = original["account"]["acct"]
        mention.url = original["url"]
        s.add(mention)
        second = add_mention(s, "Zweite Frage: wann kommt das?", source="masto", source_type="mastodon")
        from socialcrm.services import drafts

        other = drafts.create_draft(s, mention=second, text="Bald!", language="de")
        other_id = other.id
    base = await _serve(aiohttp_server, db, config_toml)
    page, dialogs = await _page(browser, base, "community")
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

    config = parse_config(config_toml)
    from connectors.mastodon import MastodonConnector

    async with aiohttp.ClientSession() as http:
        connector = MastodonConnector("masto", config.sources[0].options, http)
        result = await OutboxWorker(config, db, {"masto": connector}, http).run_once()
    assert result.sent == 1
    sent = [r for r in replay.requests if r.method == "POST" and r.path == "/api/v1/statuses"]
    assert len(sent) == 1
    assert "Das+tut+uns+leid" in sent[0].body.decode() and sent[0].headers["Idempotency-Key"]
    with db.read() as s:
        assert s.get(ReplyDraft, world.draft_id).status == "sent"
    assert dialogs == []


async def test_edit_then_approve_and_reject_from_the_keyboard(aiohttp_server, browser, db):
    make_users(db)
    world = make_world(db)
    with db.write() as s:
        from socialcrm.services import drafts

        second = add_mention(s, "Wann öffnet der Laden?", source="acme-mastodon", source_type="mastodon")
        other_id = drafts.create_draft(s, mention=second, text="Um neun.", language="de").id
    base = await _serve(aiohttp_server, db)
    page, _ = await _page(browser, base, "community")
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


async def test_work_a_ticket_from_the_list(aiohttp_server, browser, db):
    make_users(db)
    world = make_world(db)
    base = await _serve(aiohttp_server, db)
    page, dialogs = await _page(browser, base, "service")
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


async def test_dashboard_draws_its_charts(aiohttp_server, browser, db):
    make_users(db)
    with db.write() as s:
        for i, source in enumerate(["blog", "reddit", "blog", "forum"] * 3):
            add_mention(s, f"Post {i}", source=source, sentiment=("negative", "neutral", "positive")[i % 3])
    base = await _serve(aiohttp_server, db)
    page, _ = await _page(browser, base, "marketing")
    assert page.url.endswith("/dashboard")
    chart = page.locator('#volume-chart svg[data-chart="line"]')
    await chart.wait_for()
    box = await chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 80
    assert await page.locator("#volume-chart polyline.series").count() == 3
    assert await page.locator("#sentiment-chart rect.bar").count() >= 3
    assert await page.evaluate("window.__violations") == []


async def test_dashboard_changes_themes_and_drill_down(aiohttp_server, browser, db):
    make_users(db)
    with db.write() as s:
        for i, text in enumerate(["Acme-Lieferung kaputt angekommen", "Lieferung kaputt, Acme antwortet nicht"] * 2):
            add_mention(s, f"{text} ({i})", source="blog", sentiment="negative")
        add_mention(s, "Acme schmeckt prima", source="blog", sentiment="positive")
    base = await _serve(aiohttp_server, db, '[insights]\nbrand_terms = ["acme"]\n')
    page, _ = await _page(browser, base, "marketing")
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


async def test_hostile_posts_stay_inert_in_queue_ticket_and_customer_views(aiohttp_server, browser, db):
    make_users(db)
    hostile = store_hostile(db)
    base = await _serve(aiohttp_server, db)
    community, community_dialogs = await _page(browser, base, "community")
    service, service_dialogs = await _page(browser, base, "service")
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
    page = await browser.new_page()
    await page.add_init_script(WATCH)
    await page.goto("about:blank")
    await page.set_content('<img src="data:," onerror="alert(1)">')
    await page.wait_for_function("window.__fired.length > 0")
    assert await page.evaluate("window.__fired") == ["alert:1"]
