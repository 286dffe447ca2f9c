"""Answering any mention: the conversation view, the composer (limit, saved replies, preview), four eyes, by hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from socialcrm.config import Config, parse_config
from socialcrm.models import AuditEntry, Customer, Mention, OutboxItem, ReplyDraft
from socialcrm.services import drafts, saved_replies
from socialcrm.services.saved_replies import SavedReplyInput
from tests.web.seed import add_mention

SOURCES = """
[[sources]]
name = "acme-mastodon"
type = "mastodon"
base_url = "https://masto.example"
hashtags = ["acme"]

[[sources]]
name = "acme-blog"
type = "feed"
url = "https://blog.example.com/feed.xml"
"""
KEY = "test-compose-key-0000001"


@pytest.fixture
def web_config() -> Config:
    return parse_config('[web]\ndefault_language = "en"\nlogin_attempts_per_15min = 50\n' + SOURCES)


def _key(n: int) -> str:
    return f"test-compose-key-{n:07d}"


def _saved(db, key: str, language: str, text: str, title: str = "Lieferung") -> int:  # type: ignore[no-untyped-def]
    with db.write() as s:
        saved = saved_replies.create(s, SavedReplyInput(key, language, title, text), actor="admin")
        assert saved.id is not None
        return saved.id


async def test_conversation_shows_the_thread_in_order_our_replies_and_the_customer(as_role, db, world):
    with db.write() as s:
        first = s.get(Mention, world.mention_id)
        later = add_mention(
            s,
            "Immer noch nichts da!",
            customer=s.get(Customer, world.customer_id),
            source=first.source,
            source_type=first.source_type,
            thread_id=first.thread_id,
            sentiment="negative",
            published_at=first.published_at.replace(year=first.published_at.year + 1),
        )
        earlier = add_mention(s, "Tolle Maschine", source="acme-blog", sentiment="positive")
        earlier.customer_id = world.customer_id
        sent = drafts.create_draft(s, mention=first, text="Wir sehen nach.", language="de", created_by="community")
        drafts.approve(s, sent.id, user="community")
        drafts.mark_sent(s, sent.id, "109", "https://masto.example/@acme/109")
        later_id, earlier_id = later.id, earlier.id
    client, csrf = await as_role("service")
    html = await (await client.get(f"/mentions/{later_id}")).text()
    first_at, reply_at, later_at = (
        html.index("Meine Bestellung ist nicht angekommen"),
        html.index("Wir sehen nach."),
        html.index("Immer noch nichts da!"),
    )
    assert first_at < reply_at < later_at, "posts in order, our reply after the post it answers"
    assert "https://masto.example/@acme/109" in html
    assert html.count("sentiment-negative") >= 2
    aside = html[html.index("<aside>") :]
    assert "Erika Mustermann" in aside and "Kaffeemaschine X1" in aside and "shipped" in aside
    assert f"/tickets/{world.ticket_id}" in aside and "Lieferung fehlt" in aside
    assert f'href="/mentions/{earlier_id}"' in aside
    assert f'id="composer-{later_id}"' in html
    await client.post("/me/language", data={"csrf_token": csrf, "language": "de"})
    german = await (await client.get(f"/mentions/{later_id}")).text()
    assert "versandt" in german[german.index("<aside>") :], "the shop's status in the reader's language"


async def test_marketing_reads_the_conversation_without_composer_or_customer_link(as_role, world):
    client, _ = await as_role("marketing")
    html = await (await client.get(f"/mentions/{world.mention_id}")).text()
    assert "Meine Bestellung ist nicht angekommen" in html
    assert "data-composer" not in html
    assert f"/customers/{world.customer_id}" not in html and f"/tickets/{world.ticket_id}" not in html


async def test_every_mention_on_the_list_and_the_customer_page_has_a_composer(as_role, world):
    client, _ = await as_role("community")
    listing = await (await client.get("/mentions")).text()
    assert f'action="/mentions/{world.mention_id}/reply"' in listing
    assert 'name="next" value="/mentions"' in listing
    customer = await (await client.get(f"/customers/{world.customer_id}")).text()
    assert f'action="/mentions/{world.mention_id}/reply"' in customer
    assert f'value="/customers/{world.customer_id}"' in customer


async def test_composer_shows_the_platforms_limit_counting_the_added_mention(as_role, world):
    client, _ = await as_role("community")
    html = await (await client.get(f"/mentions/{world.mention_id}")).text()
    form = html[html.index(f'id="composer-{world.mention_id}"') :]
    assert 'data-limit="500"' in form and 'data-overhead="7"' in form  # "@erika " goes in front
    assert re.search(r"<span data-remaining>493</span>", form)


async def test_sending_approves_queues_once_and_audits(as_role, db, world):
    client, csrf = await as_role("community")
    data = {"csrf_token": csrf, "text": "Hallo Erika,\r\nwir kümmern uns.", "compose_key": KEY, "next": "/mentions"}
    response = await client.post(f"/mentions/{world.mention_id}/reply", data=data, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/mentions?notice=reply_queued"
    again = await client.post(f"/mentions/{world.mention_id}/reply", data=data, allow_redirects=False)
    assert again.headers["Location"] == "/mentions?notice=reply_duplicate"
    with db.read() as s:
        sent = s.exec(select(ReplyDraft).where(ReplyDraft.idempotency_key == f"compose:{KEY}")).all()
        outbox = s.exec(select(OutboxItem).where(OutboxItem.kind == "reply")).all()
        audit = s.exec(select(AuditEntry).where(AuditEntry.entity_type == "draft").order_by(AuditEntry.id)).all()
    assert len(sent) == 1 and len(outbox) == 1
    draft = sent[0]
    assert (draft.status, draft.created_by, draft.approved_by, draft.manual) == (
        "approved",
        "community",
        "community",
        True,
    )
    assert draft.text == "Hallo Erika,\nwir kümmern uns." and outbox[0].payload["text"] == draft.text
    assert [(a.action, a.actor) for a in audit if a.entity_id == str(draft.id)] == [
        ("draft.create", "community"),
        ("draft.approve", "community"),
    ]


async def test_an_over_long_reply_is_refused_with_the_count_and_the_text_kept(as_role, db, world):
    client, csrf = await as_role("community")
    text = "x" * 494  # with "@erika " in front: 501 of 500
    response = await client.post(
        f"/mentions/{world.mention_id}/reply", data={"csrf_token": csrf, "text": text, "compose_key": KEY}
    )
    assert response.status == 400
    html = await response.text()
    assert "the reply is 501 characters as mastodon counts them; the limit is 500: shorten it by 1" in html
    assert f">{text}</textarea>" in html and f'value="{KEY}"' in html
    assert "<span data-remaining>-1</span>" in html
    with db.read() as s:
        assert s.exec(select(ReplyDraft).where(ReplyDraft.manual)).all() == []


async def test_an_empty_reply_is_refused_as_json_too(as_role, world):
    client, csrf = await as_role("service")
    response = await client.post(
        f"/mentions/{world.mention_id}/reply",
        data={"csrf_token": csrf, "text": "  \r\n ", "compose_key": KEY},
        headers={"Accept": "application/json"},
    )
    assert response.status == 400 and (await response.json())["error"] == "text: a reply needs text"


async def test_with_four_eyes_the_author_cannot_approve_and_a_colleague_can(aiohttp_client, db, as_role, world):
    from socialcrm.services import users
    from socialcrm.web.app import create_app
    from tests.web.conftest import login

    config = parse_config("[web.four_eyes]\nown_replies = true\n" + SOURCES)
    with db.write() as s:
        users.create_user(s, "colleague", "community", "correct horse battery", actor="test")
    author = await aiohttp_client(create_app(config, db))
    csrf = await login(author, "community")
    response = await author.post(
        f"/mentions/{world.mention_id}/reply",
        data={"csrf_token": csrf, "text": "Wir prüfen das.", "compose_key": KEY},
        allow_redirects=False,
    )
    assert response.headers["Location"] == f"/mentions/{world.mention_id}?notice=reply_waiting"
    with db.read() as s:
        draft = s.exec(select(ReplyDraft).where(ReplyDraft.idempotency_key == f"compose:{KEY}")).one()
    assert draft.status == "pending"
    page = await (await author.get(f"/mentions/{world.mention_id}")).text()
    assert "Waiting for a second person" in page
    queue = await (await author.get("/queue")).text()
    item = queue[queue.index(f'data-draft="{draft.id}"') :]
    item = item[: item.index("</li>")]
    assert "You wrote this: a second person approves it." in item and 'data-action="approve"' not in item
    assert "written by community" in item
    approve = {"csrf_token": csrf, "version": str(draft.version)}
    refused = await author.post(f"/queue/{draft.id}/approve", data=approve)
    assert "You wrote this reply: a second person approves it" in await refused.text()
    as_json = await author.post(f"/queue/{draft.id}/approve", data=approve, headers={"Accept": "application/json"})
    assert as_json.status == 409 and "needs a second person" in (await as_json.json())["detail"]
    colleague = await aiohttp_client(create_app(config, db))
    csrf2 = await login(colleague, "colleague")
    theirs = await (await colleague.get(f"/queue/{draft.id}")).text()
    assert "data-own" not in theirs and "written by community" in theirs
    ok = await colleague.post(
        f"/queue/{draft.id}/approve", data={"csrf_token": csrf2, "version": str(draft.version)}, allow_redirects=False
    )
    assert ok.status == 303
    with db.read() as s:
        approved = s.get(ReplyDraft, draft.id)
    assert (approved.status, approved.approved_by) == ("approved", "colleague")


async def test_a_feed_reply_is_approved_then_marked_as_posted_with_its_address(as_role, db, world):
    with db.write() as s:
        mention = add_mention(s, "Wie entkalke ich die Maschine?", source="acme-blog", source_type="feed")
        mention_id = mention.id
    client, csrf = await as_role("community")
    response = await client.post(
        f"/mentions/{mention_id}/reply",
        data={"csrf_token": csrf, "text": "Mit Zitronensäure.", "compose_key": KEY, "next": "/mentions"},
        allow_redirects=False,
    )
    assert response.headers["Location"] == f"/mentions/{mention_id}?notice=reply_manual"
    page = await (await client.get(response.headers["Location"])).text()
    with db.read() as s:
        draft = s.exec(select(ReplyDraft).where(ReplyDraft.mention_id == mention_id)).one()
    assert draft.status == "approved"
    assert f'action="/replies/{draft.id}/posted"' in page and 'data-copy="reply-text-of-' in page
    assert "https://blog.example.com/post/1" in page
    bad = await client.post(f"/replies/{draft.id}/posted", data={"csrf_token": csrf, "url": "javascript:alert(1)"})
    assert bad.status == 400
    posted_url = "https://blog.example.com/post/1#comment-77"
    done = await client.post(
        f"/replies/{draft.id}/posted",
        data={"csrf_token": csrf, "url": posted_url, "next": f"/mentions/{mention_id}"},
        allow_redirects=False,
    )
    assert done.headers["Location"] == f"/mentions/{mention_id}?notice=reply_posted"
    with db.read() as s:
        posted = s.get(ReplyDraft, draft.id)
    assert (posted.status, posted.external_reply_url) == ("sent", posted_url)


async def test_inserting_a_saved_reply_fills_order_data_in_german_without_javascript(as_role, db, world):
    saved_id = _saved(
        db,
        "lieferung",
        "de",
        "Hallo {{ customer_name }}, Ihre Bestellung {{ order_number }} ({{ order_product }}) vom {{ order_date }} "
        "ist {{ order_status }}. Ticket {{ ticket_number }}. Viele Grüße, {{ agent_name }}",
    )
    with db.read() as s:
        from socialcrm.models import Order

        order = s.exec(select(Order).where(Order.customer_id == world.customer_id)).one()
    client, csrf = await as_role("community")
    page = await client.post(
        f"/mentions/{world.mention_id}/compose",
        data={"csrf_token": csrf, "text": "", "saved": str(saved_id), "do": "insert", "compose_key": KEY},
    )
    html = await page.text()
    expected = (
        f"Hallo Erika Mustermann, Ihre Bestellung {order.order_number} (Kaffeemaschine X1) vom 01.10.2026 "
        f"ist versandt. Ticket {world.ticket_id}. Viele Grüße, community"
    )
    assert page.status == 200
    assert f">{expected}</textarea>" in html, "the rendered text is in the reply box"
    preview = html[html.index("data-preview-text") :]
    assert expected in preview[: preview.index("</div>")]
    assert f'value="{KEY}"' in html


async def test_an_inserted_date_is_the_day_in_the_agents_zone(as_role, db, world):
    from socialcrm.models import Order

    saved_id = _saved(db, "datum", "de", "Ihre Bestellung vom {{ order_date }}.")
    with db.write() as s:
        order = s.exec(select(Order).where(Order.customer_id == world.customer_id)).one()
        order.ordered_at = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)  # 00:30 on the 25th in Berlin
    client, csrf = await as_role("community")
    insert = {"csrf_token": csrf, "text": "", "saved": str(saved_id), "do": "insert", "compose_key": KEY}
    in_utc = await (await client.post(f"/mentions/{world.mention_id}/compose", data=insert)).text()
    assert ">Ihre Bestellung vom 24.10.2026.</textarea>" in in_utc  # the server's zone: UTC in the tests
    await client.post("/me/time-zone", data={"csrf_token": csrf, "time_zone": "Europe/Berlin"})
    in_berlin = await (await client.post(f"/mentions/{world.mention_id}/compose", data=insert)).text()
    assert ">Ihre Bestellung vom 25.10.2026.</textarea>" in in_berlin


async def test_a_missing_value_closes_up_and_is_named_in_the_preview(as_role, db, world):
    _saved(db, "gruss", "de", "Hallo {{ customer_name }}, danke! Ihre Bestellung {{ order_number }} ist unterwegs.")
    with db.write() as s:
        stranger = add_mention(s, "Wann kommt das?", source="acme-blog", source_type="feed", author="")
        stranger.author, stranger.author_name = None, None
        stranger_id = stranger.id
    client, csrf = await as_role("community")
    response = await client.post(
        f"/mentions/{stranger_id}/compose",
        data={"csrf_token": csrf, "key": "/gruss"},
        headers={"Accept": "application/json"},
    )
    data = await response.json()
    assert data["inserted"] == "Hallo, danke! Ihre Bestellung ist unterwegs."
    assert data["missing"] == ["customer_name", "order_number"]
    assert data["limit"] is None and data["remaining"] is None


async def test_a_key_picks_the_saved_reply_in_the_posts_language(as_role, db, world):
    _saved(db, "danke", "en", "Thanks, {{ customer_name }}!")  # the world has "danke" in German
    client, csrf = await as_role("service")
    response = await client.post(
        f"/mentions/{world.mention_id}/compose",
        data={"csrf_token": csrf, "key": "danke", "text": "Hallo"},
        headers={"Accept": "application/json"},
    )
    data = await response.json()
    assert data["inserted"] == "Danke, Erika Mustermann!" and data["text"] == "Hallo\n\nDanke, Erika Mustermann!"
    unknown = await client.post(
        f"/mentions/{world.mention_id}/compose",
        data={"csrf_token": csrf, "key": "nope"},
        headers={"Accept": "application/json"},
    )
    assert unknown.status == 404 and "no saved reply /nope" in (await unknown.json())["error"]


async def test_the_picker_offers_the_posts_language_first(as_role, db, world):
    _saved(db, "danke", "en", "Thanks, {{ customer_name }}!")  # the world has "danke" in German
    with db.write() as s:
        english = add_mention(s, "Where is my order?", language="en", url="https://blog.example.com/post/2")
        english_id = english.id
    client, _ = await as_role("community")
    listing = await (await client.get("/mentions")).text()

    def groups(mention_id: int) -> list[str]:
        picker = listing[listing.index(f'id="saved-{mention_id}"') :]
        return re.findall(r'<optgroup label="[^"]+" data-language="(\w+)"', picker[: picker.index("</select>")])

    assert groups(world.mention_id) == ["de", "en"]
    assert groups(english_id) == ["en", "de"]


async def test_preview_without_inserting_counts_the_text(as_role, world):
    client, csrf = await as_role("community")
    response = await client.post(
        f"/mentions/{world.mention_id}/compose",
        data={"csrf_token": csrf, "text": "Sehen Sie https://acme.example/a/very/long/path/to/help", "do": "preview"},
        headers={"Accept": "application/json"},
    )
    data = await response.json()
    assert data["inserted"] is None and data["counted"] == 7 + len("Sehen Sie ") + 23


async def test_an_admin_sets_the_name_a_reply_is_signed_with(as_role, db, world):
    saved_id = _saved(db, "gruss", "de", "Hallo {{ customer_name }}, wir melden uns. Viele Grüße, {{ agent_name }}")
    admin, admin_csrf = await as_role("admin")
    too_long = await admin.post(
        "/admin/users/community/display-name", data={"csrf_token": admin_csrf, "display_name": "x" * 81}
    )
    assert too_long.status == 400 and "at most 80 characters" in await too_long.text()
    saved = await admin.post(
        "/admin/users/community/display-name",
        data={"csrf_token": admin_csrf, "display_name": "  Lena   Hoffmann "},
        allow_redirects=False,
    )
    assert saved.status == 303
    assert 'value="Lena Hoffmann"' in await (await admin.get("/admin/users")).text()
    client, csrf = await as_role("community")
    page = await client.post(
        f"/mentions/{world.mention_id}/compose",
        data={"csrf_token": csrf, "text": "", "saved": str(saved_id), "do": "insert", "compose_key": KEY},
    )
    assert ">Hallo Erika Mustermann, wir melden uns. Viele Grüße, Lena Hoffmann</textarea>" in await page.text()
    with db.read() as s:
        entry = s.exec(select(AuditEntry).where(AuditEntry.action == "user.update")).all()[-1]
    assert (entry.actor, entry.detail) == ("admin", {"display_name": {"from": None, "to": "Lena Hoffmann"}})
    await admin.post("/admin/users/community/display-name", data={"csrf_token": admin_csrf, "display_name": ""})
    page = await client.post(
        f"/mentions/{world.mention_id}/compose",
        data={"csrf_token": csrf, "text": "", "saved": str(saved_id), "do": "insert", "compose_key": KEY},
    )
    assert "Viele Grüße, community</textarea>" in await page.text(), "back to the login name"
