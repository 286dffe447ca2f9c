"""The help desk in real headless Chromium: a reply from a ticket reaching a Mastodon replay server once, a closed
ticket reopened by a new complaint, a forum "Re:" post joining the open ticket, bulk close, the board's counts
against the database, and the 375 px pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlmodel import func, select

from connectors import Batch, RawPost
from socialcrm.config import SourceConfig, parse_config
from socialcrm.models import ReplyDraft, Ticket, TicketMention
from socialcrm.services import drafts, tickets
from tests.connectors.test_feed_helpers import make_feed
from tests.core.test_pipeline import RULES, make_pipeline
from tests.replay_server import Canned
from tests.web.seed import add_mention, make_users, make_world

DEMO_FORUM = Path(__file__).resolve().parents[2] / "socialcrm" / "demo" / "feeds" / "coffee-forum.atom"
NO_SIDEWAYS_SCROLL = "document.scrollingElement.scrollWidth <= window.innerWidth"


def _complaint(n: int, thread: str, text: str) -> RawPost:
    return RawPost(
        source="blog",
        external_id=f"blog-{n}",
        url=f"https://blog.example/{thread}#c{n}",
        author_handle="jana",
        title=None,
        body=text,
        published_at=datetime(2026, 11, 20, tzinfo=UTC) + timedelta(hours=n),
        thread_id=f"https://blog.example/{thread}",
    )


async def test_a_reply_from_the_ticket_reaches_mastodon_once_and_shows_in_its_history(
    serve_web, log_in, db, mastodon_thread
):
    world = mastodon_thread.world
    base = await serve_web(mastodon_thread.config_toml)
    page, dialogs = await log_in(base, "service")
    await page.goto(f"{base}/tickets/{world.ticket_id}")
    panel = page.locator("#reply-panel")
    text = "Hallo Erika, der Ersatz ist unterwegs."
    await panel.locator(f"#reply-text-{world.mention_id}").fill(text)
    await panel.locator("button[data-send]").click()
    await page.wait_for_url(re.compile(rf"/tickets/{world.ticket_id}\?notice=reply_queued"))
    await page.locator("#notice").wait_for()
    with db.read() as s:
        sent = s.exec(select(ReplyDraft).where(ReplyDraft.manual)).all()
    assert [(d.status, d.created_by, d.text) for d in sent] == [("approved", "service", text)]

    first, second = await mastodon_thread.deliver(db, passes=2)
    assert (first.sent, second.sent) == (1, 0)
    posted = mastodon_thread.posted()
    assert len(posted) == 1, "the reply reached the server exactly once"
    assert "der+Ersatz+ist+unterwegs" in posted[0].body.decode()
    await page.reload()
    reply = page.locator('#history [data-kind="reply"]', has_text=text)
    assert await reply.locator(".reply-state").get_attribute("data-state") == "sent"
    delivered = reply.locator('[data-action="draft.sent"]')
    assert "sent through the platform" in await delivered.inner_text()
    with db.read() as s:
        reply_url = s.get(ReplyDraft, sent[0].id).external_reply_url
    assert reply_url and await delivered.locator("a").get_attribute("href") == reply_url
    assert dialogs == []


async def test_a_new_complaint_reopens_the_ticket_an_agent_closed(serve_web, log_in, db):
    config_toml = RULES + '\n[tickets]\nclosed_thread = "reopen"\n'
    make_users(db)
    pipeline = make_pipeline(parse_config(config_toml), db)
    source = SourceConfig(name="blog", type="feed", interval="15m")
    await pipeline.process(source, Batch([_complaint(1, "p/1", "Meine Lieferung ist überfällig, ärgerlich!")], "c1"))
    with db.read() as s:
        ticket_id = s.exec(select(Ticket.id)).one()
    base = await serve_web(config_toml)
    page, dialogs = await log_in(base, "service")
    await page.goto(f"{base}/tickets/{ticket_id}")
    await page.select_option("#status-form select[name=status]", "closed")
    await page.click("#status-form button")
    await page.locator("#notice", has_text="Ticket updated").wait_for()
    assert (await page.inner_text("#ticket-status")).strip() == "closed"
    assert await page.locator("#reopen-form").count() == 1
    result = await pipeline.process(
        source, Batch([_complaint(2, "p/1", "Immer noch keine Lieferung, ärgerlich!")], "c2")
    )
    assert result.tickets == 0
    await page.reload()
    assert (await page.inner_text("#ticket-status")).strip() == "open"
    reopened = page.locator('#history [data-action="ticket.reopen"]')
    assert "Reopened by a new post" in await reopened.inner_text()
    assert await page.locator('#history [data-kind="post"]').count() == 2
    with db.read() as s:
        assert s.exec(select(func.count()).select_from(Ticket)).one() == 1
        assert s.get(Ticket, ticket_id).status == "open"
    assert dialogs == []


async def test_a_forum_re_post_joins_the_open_ticket(serve_web, log_in, db, replay):
    make_users(db)
    replay.add("GET", "/forum.atom", Canned(200, DEMO_FORUM.read_bytes(), {"Content-Type": "application/atom+xml"}))
    async with aiohttp.ClientSession() as http:
        posts = (await make_feed(http, replay.url("/forum.atom"), "coffee-forum").fetch(None)).posts
    reply = next(p for p in posts if p.title and p.title.startswith("Re: "))
    pipeline = make_pipeline(parse_config(RULES), db)
    source = SourceConfig(name="coffee-forum", type="feed", interval="15m")
    await pipeline.process(source, Batch([p for p in posts if p is not reply], "c1"))
    with db.read() as s:
        ticket_id = s.exec(select(Ticket.id)).one()
    base = await serve_web(RULES)
    page, dialogs = await log_in(base, "service")
    await page.goto(f"{base}/tickets/{ticket_id}")
    await page.click("#assign-me-form button")
    await page.locator("#notice", has_text="Ticket updated").wait_for()
    assert await page.locator('#history [data-kind="post"]').count() == 1
    await pipeline.process(source, Batch([reply], "c2"))
    await page.reload()
    posts_shown = page.locator('#history [data-kind="post"]')
    assert await posts_shown.count() == 2
    assert "Re: Acme Barista 3000 never arrived" in await posts_shown.nth(1).inner_text()
    await page.goto(f"{base}/tickets?status=all")
    assert await page.locator("tr[data-ticket]").count() == 1
    with db.read() as s:
        assert len(s.exec(select(TicketMention).where(TicketMention.ticket_id == ticket_id)).all()) == 2
    assert dialogs == []


async def test_bulk_close_from_the_list(serve_web, log_in, db):
    make_users(db)
    world = make_world(db)
    with db.write() as s:
        extra = [tickets.open_ticket(s, subject=f"Sammelfall {n}").id for n in range(3)]
    base = await serve_web()
    page, dialogs = await log_in(base, "service")
    chosen = [world.ticket_id, extra[0], extra[2]]
    for ticket_id in chosen:
        await page.check(f'tr[data-ticket="{ticket_id}"] input[name=ticket]')
    await page.click("#bulk-close")
    await page.locator("#notice", has_text="The selected tickets were changed.").wait_for()
    assert await page.locator(f'tr[data-ticket="{world.ticket_id}"]').count() == 0, "closed tickets leave the open list"
    with db.read() as s:
        statuses = {t.id: t.status for t in s.exec(select(Ticket))}
    assert [statuses[i] for i in chosen] == ["closed"] * 3
    assert statuses[extra[1]] == "new" and statuses[world.other_ticket_id] == "new"
    assert dialogs == []


async def test_the_board_counts_match_the_database_and_page_through_every_ticket(serve_web, log_in, db):
    make_users(db)
    with db.write() as s:
        for n in range(59):
            tickets.open_ticket(s, subject=f"Neu {n}")
        for n in range(4):
            tickets.transition(s, tickets.open_ticket(s, subject=f"Erledigt {n}").id, "resolved", actor="t")
    with db.read() as s:
        in_db = dict(s.exec(select(Ticket.status, func.count()).group_by(Ticket.status)).all())
        new_ids = set(s.exec(select(Ticket.id).where(Ticket.status == "new")).all())
    base = await serve_web()
    page, _ = await log_in(base, "service")
    await page.goto(f"{base}/tickets?view=board")
    for status in ("new", "open", "pending", "resolved"):
        shown = await page.inner_text(f'[data-column="{status}"] [data-count]')
        assert int(shown) == in_db.get(status, 0), status
    seen: set[int] = set()
    while True:
        cards = page.locator('[data-column="new"] .ticket-card')
        seen |= {int(await cards.nth(i).get_attribute("data-ticket") or 0) for i in range(await cards.count())}
        following = page.locator('[data-column="new"] a[data-next="new"]')
        if not await following.count():
            break
        await following.click()
        await page.wait_for_load_state("load")
    assert seen == new_ids and len(seen) == 59


async def test_queue_tickets_ticket_board_and_dashboard_fit_375_px(serve_web, log_in, db):
    make_users(db)
    world = make_world(db)
    with db.write() as s:
        for i, source in enumerate(["blog", "a-very-long-source-name-of-a-forum", "blog", "forum"] * 4):
            mention = add_mention(
                s,
                f"Beitrag {i} mit einem sehr langen Wort Kaffeevollautomatenentkalkungsanleitung",
                source=source,
                sentiment=("negative", "neutral", "positive")[i % 3],
                published_at=datetime.now(UTC) - timedelta(days=i),
            )
            if i < 3:
                drafts.create_draft(s, mention=mention, text="Danke für Ihren Hinweis!", language="de")
    base = await serve_web()
    visits = {
        "community": ["/queue", f"/queue/{world.draft_id}", "/mentions"],
        "service": ["/tickets", "/tickets?view=board", f"/tickets/{world.ticket_id}"],
        "marketing": ["/dashboard"],
    }
    for role, paths in visits.items():
        page, _ = await log_in(base, role)
        await page.set_viewport_size({"width": 375, "height": 800})
        for path in paths:
            await page.goto(base + path)
            await page.wait_for_load_state("load")
            widths = await page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
            assert await page.evaluate(NO_SIDEWAYS_SCROLL), f"{path} scrolls sideways at 375 px: {widths}"
            header = await page.locator("header.top").bounding_box()
            assert header is not None and header["height"] <= 80, f"{path}: the header takes {header} px"
        if role == "marketing":
            compact = page.locator('#volume-chart svg[data-chart="line-compact"]')
            assert (
                await compact.is_visible()
                and not await page.locator('#volume-chart svg[data-chart="line"]').is_visible()
            )
            box = await compact.bounding_box()
            assert box is not None and box["width"] >= 300
            label = await compact.locator("text").first.bounding_box()
            assert label is not None and label["height"] >= 9, f"chart labels are {label} px high"
