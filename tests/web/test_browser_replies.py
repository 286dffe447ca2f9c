"""The composer in real headless Chromium: a reply written on the mentions list reaches a Mastodon replay server
once; a saved reply inserted by its key fills order data with a German date; a feed reply is marked as posted."""

from __future__ import annotations

import re

from sqlmodel import select

from socialcrm.models import Order, ReplyDraft
from socialcrm.services import saved_replies
from socialcrm.services.saved_replies import SavedReplyInput
from tests.web.seed import add_mention, make_users, make_world


async def test_a_reply_written_on_the_mentions_list_reaches_mastodon_once(serve_web, log_in, db, mastodon_thread):
    world, author = mastodon_thread.world, mastodon_thread.author
    base = await serve_web(mastodon_thread.config_toml)
    page, dialogs = await log_in(base, "community")
    await page.goto(base + "/mentions")
    item = page.locator("li", has=page.locator(f"#composer-{world.mention_id}"))
    await item.locator("details.composer-panel > summary").click()
    box = page.locator(f"#reply-text-{world.mention_id}")
    remaining = item.locator("[data-remaining]")
    limit = 500 - len(f"@{author} ")
    assert (await remaining.inner_text()).strip() == str(limit)
    text = "Hallo Erika, das tut uns leid! Wir schicken heute Ersatz."
    await box.fill(text)
    assert (await remaining.inner_text()).strip() == str(limit - len(text)), "the count goes down as one types"
    send = item.locator("button[data-send]")
    assert (await send.inner_text()).strip() == "Send reply"
    await send.dblclick()  # a double click may send the form twice: still one draft, one reply
    await page.wait_for_url(re.compile(r"/mentions\?notice="))
    with db.read() as s:
        sent = s.exec(select(ReplyDraft).where(ReplyDraft.manual)).all()
    assert len(sent) == 1 and (sent[0].status, sent[0].approved_by, sent[0].text) == ("approved", "community", text)

    first, second = await mastodon_thread.deliver(db, passes=2)
    assert (first.sent, second.sent) == (1, 0)
    posted = mastodon_thread.posted()
    assert len(posted) == 1, "the reply reached the server exactly once"
    assert "Wir+schicken+heute+Ersatz" in posted[0].body.decode() and posted[0].headers["Idempotency-Key"]
    await page.goto(f"{base}/mentions/{world.mention_id}")
    reply = page.locator(f'[data-reply="{sent[0].id}"]')
    assert await reply.get_attribute("data-state") == "sent"
    assert "Wir schicken heute Ersatz" in await reply.inner_text()
    assert dialogs == [] and await page.evaluate("window.__violations") == []


async def test_a_saved_reply_inserted_by_its_key_fills_order_data_with_a_german_date(serve_web, log_in, db):
    make_users(db)
    world = make_world(db)
    with db.write() as s:
        saved_replies.create(
            s,
            SavedReplyInput(
                "lieferung",
                "de",
                "Lieferung unterwegs",
                "Hallo {{ customer_name }}, Ihre Bestellung {{ order_number }} vom {{ order_date }} ist unterwegs.",
            ),
            actor="admin",
        )
        saved_replies.create(s, SavedReplyInput("dank", "de", "Danke", "Vielen Dank, {{ customer_name }}!"), actor="a")
        order_number = s.exec(select(Order.order_number).where(Order.customer_id == world.customer_id)).one()
    base = await serve_web()
    page, dialogs = await log_in(base, "community")
    await page.goto(f"{base}/mentions/{world.mention_id}")
    box = page.locator(f"#reply-text-{world.mention_id}")
    await box.click()
    await page.keyboard.type("/lieferung")
    await page.keyboard.press("Tab")
    expected = f"Hallo Erika Mustermann, Ihre Bestellung {order_number} vom 01.10.2026 ist unterwegs."
    preview = page.locator(f"#composer-{world.mention_id} [data-preview-text]")
    await preview.wait_for(state="visible")
    assert (await preview.inner_text()).strip() == expected
    assert await box.input_value() == expected
    assert await box.evaluate("el => el === document.activeElement"), "the caret stays in the reply"
    await page.keyboard.type(" ")
    await page.select_option(f"#saved-{world.mention_id}", label="/dank · Danke (de)")
    await page.click(f"#composer-{world.mention_id} button[data-insert]")
    await page.wait_for_function(
        "id => document.getElementById(id).value.endsWith('Vielen Dank, Erika Mustermann!')",
        arg=f"reply-text-{world.mention_id}",
    )
    await page.keyboard.press("Control+Enter")
    await page.wait_for_url(re.compile(r"notice=reply_queued"))
    with db.read() as s:
        draft = s.exec(select(ReplyDraft).where(ReplyDraft.manual)).one()
    assert draft.text == expected + " Vielen Dank, Erika Mustermann!"
    assert dialogs == [] and await page.evaluate("window.__violations") == []


async def test_a_feed_reply_is_copied_posted_by_hand_and_marked_as_posted(serve_web, log_in, db):
    make_users(db)
    make_world(db)
    with db.write() as s:
        mention = add_mention(s, "Wie entkalke ich die Barista 3000?", source="acme-blog", source_type="feed")
        mention_id = mention.id
    base = await serve_web('[[sources]]\nname = "acme-blog"\ntype = "feed"\nurl = "https://blog.example.com/feed"\n')
    page, dialogs = await log_in(base, "community")
    await page.goto(f"{base}/mentions/{mention_id}")
    composer = page.locator(f"#composer-{mention_id}")
    assert "No length limit" in await composer.inner_text()
    await page.fill(f"#reply-text-{mention_id}", "Mit Zitronensäure, siehe Anleitung S. 12.")
    send = composer.locator("button[data-send]")
    assert (await send.inner_text()).strip() == "Approve, then post by hand"
    await send.click()
    await page.locator("#notice", has_text="Copy it, open the post").wait_for()
    with db.read() as s:
        draft = s.exec(select(ReplyDraft).where(ReplyDraft.mention_id == mention_id)).one()
    reply = page.locator(f'[data-reply="{draft.id}"]')
    open_post = reply.locator("a", has_text="Open the post")
    assert await open_post.get_attribute("href") == "https://blog.example.com/post/1"
    assert await reply.locator("button[data-copy]").count() == 1
    posted_url = "https://blog.example.com/post/1#comment-88"
    await reply.locator("input[name=url]").fill(posted_url)
    await reply.locator("button", has_text="Mark as posted").click()
    await page.locator("#notice", has_text="Marked as posted").wait_for()
    reply = page.locator(f'[data-reply="{draft.id}"]')
    assert await reply.get_attribute("data-state") == "sent"
    assert await reply.locator("a", has_text="Open the reply").get_attribute("href") == posted_url
    with db.read() as s:
        posted = s.get(ReplyDraft, draft.id)
    assert (posted.status, posted.external_reply_url) == ("sent", posted_url)
    assert dialogs == []
