"""The help desk pages: board counts and paging, bulk changes, saved filters, merges, reopening, history, links."""

from __future__ import annotations

import re
from html import unescape

from sqlmodel import func, select

from socialcrm.models import Mention, OutboxItem, ReplyDraft, SavedFilter, Ticket, TicketMention, utcnow
from socialcrm.services import drafts, ticket_merges, tickets, users
from tests.web.seed import PASSWORD, add_customer, add_mention


def _ids(html: str, attribute: str = "data-ticket") -> list[int]:
    return [int(n) for n in re.findall(rf'{attribute}="(\d+)"', html)]


def _column(html: str, status: str) -> str:
    return html.split(f'data-column="{status}"')[1].split("</section>")[0]


async def test_board_columns_show_true_counts_and_page_through_every_ticket(as_role, db, world):
    with db.write() as s:
        for n in range(59):
            tickets.open_ticket(s, subject=f"Neu {n}")
        for n in range(3):
            tickets.transition(s, tickets.open_ticket(s, subject=f"Offen {n}").id, "open", actor="t")
    with db.read() as s:
        expected = dict(s.exec(select(Ticket.status, func.count()).group_by(Ticket.status)).all())
        new_ids = set(s.exec(select(Ticket.id).where(Ticket.status == "new")).all())
    client, _ = await as_role("service")
    board = await (await client.get("/tickets?view=board")).text()
    for status in ("new", "open", "pending", "resolved"):
        shown = re.search(r"<span data-count>([\d.,]+)</span>", _column(board, status)).group(1)
        assert int(shown.replace(",", "").replace(".", "")) == expected.get(status, 0), status
    seen: list[int] = []
    page = 1
    while True:
        html = await (await client.get(f"/tickets?view=board&page_new={page}")).text()
        column = _column(html, "new")
        seen += _ids(column)
        if 'data-next="new"' not in column:
            break
        page += 1
    assert page == 3 and len(seen) == len(set(seen)) and set(seen) == new_ids == {*new_ids}
    assert len(new_ids) == 61  # 59 here, two in the seed world


async def test_bulk_close_and_assign_and_a_report_of_what_could_not_change(as_role, db, world):
    with db.write() as s:
        more = [tickets.open_ticket(s, subject=f"T{n}").id for n in range(3)]
        merged = tickets.open_ticket(s, subject="merged").id
        ticket_merges.merge_tickets(s, merged, more[0], actor="t")
    client, csrf = await as_role("service")
    closed = await client.post(
        "/tickets/bulk",
        data=[("csrf_token", csrf), ("do", "close"), ("next", "/tickets?status=new")]
        + [("ticket", str(i)) for i in (world.ticket_id, *more)],
        allow_redirects=False,
    )
    assert closed.status == 303 and closed.headers["Location"] == "/tickets?status=new&notice=bulk_done"
    with db.read() as s:
        assert {s.get(Ticket, i).status for i in (world.ticket_id, *more)} == {"closed"}
    mine = await client.post(
        "/tickets/bulk",
        data=[
            ("csrf_token", csrf),
            ("do", "assign_me"),
            ("ticket", str(world.other_ticket_id)),
            ("ticket", str(merged)),
        ],
    )
    page = await mine.text()
    assert mine.status == 200 and 'id="bulk-result"' in page
    assert f'data-ticket="{merged}"' in page and f"merged into ticket {more[0]}" in page
    with db.read() as s:
        assert s.get(Ticket, world.other_ticket_id).assignee == "service"
    refused = await client.post(
        "/tickets/bulk",
        data={"csrf_token": csrf, "ticket": str(world.other_ticket_id), "assignee": "marketing", "do": "apply"},
    )
    assert refused.status == 400 and "cannot work tickets" in await refused.text()
    assert (await client.post("/tickets/bulk", data={"csrf_token": csrf, "ticket": "x", "do": "close"})).status == 400
    nothing = await client.post("/tickets/bulk", data={"csrf_token": csrf, "do": "close"})
    assert nothing.status == 400 and "select at least one ticket" in await nothing.text()


async def test_saved_filters_belong_to_the_person_who_saved_them(as_role, db, world):
    with db.write() as s:
        users.create_user(s, "svc2", "service", PASSWORD, actor="t")
    client, csrf = await as_role("service")
    saved = await client.post(
        "/tickets/filters",
        data={"csrf_token": csrf, "name": "Dringend offen", "query": "status=open&priority=urgent&evil=1"},
        allow_redirects=False,
    )
    assert saved.headers["Location"] == "/tickets?priority=urgent&status=open&notice=filter_saved"
    with db.read() as s:
        mine = s.exec(select(SavedFilter)).one()
    assert (mine.name, mine.query, mine.page) == ("Dringend offen", "priority=urgent&status=open", "tickets")
    assert f'data-filter="{mine.id}"' in await (await client.get("/tickets")).text()
    other, other_csrf = await as_role("svc2")
    assert "Dringend offen" not in await (await other.get("/tickets")).text()
    stolen = await other.post(f"/tickets/filters/{mine.id}/delete", data={"csrf_token": other_csrf})
    assert stolen.status == 404
    await client.post(f"/tickets/filters/{mine.id}/delete", data={"csrf_token": csrf})
    with db.read() as s:
        assert s.exec(select(SavedFilter)).all() == []
    nameless = await client.post("/tickets/filters", data={"csrf_token": csrf, "name": " ", "query": "status=open"})
    assert nameless.status == 400


async def test_merging_two_customers_tickets_asks_first_and_naming_itself_is_an_error(as_role, db, world):
    with db.write() as s:
        ben = add_customer(s, "Ben Kurz", ref="K-77")
        bens = tickets.open_ticket(s, subject="Ben", customer_id=ben.id).id
    client, csrf = await as_role("service")
    asked = await client.post(f"/tickets/{world.ticket_id}/merge", data={"csrf_token": csrf, "duplicate_id": str(bens)})
    page = await asked.text()
    assert asked.status == 200 and 'id="merge-confirm-form"' in page
    assert f"Ticket #{bens} belongs to Ben Kurz (K-77), ticket #{world.ticket_id} to Erika Mustermann" in page
    with db.read() as s:
        assert s.get(Ticket, bens).merged_into_id is None
    confirmed = await client.post(
        f"/tickets/{world.ticket_id}/merge",
        data={"csrf_token": csrf, "duplicate_id": str(bens), "confirm": "1"},
        allow_redirects=False,
    )
    assert confirmed.status == 303
    with db.read() as s:
        assert s.get(Ticket, bens).merged_into_id == world.ticket_id
    itself = await client.post(
        f"/tickets/{world.ticket_id}/merge", data={"csrf_token": csrf, "duplicate_id": str(world.ticket_id)}
    )
    assert itself.status == 400
    assert f"ticket {world.ticket_id} cannot be merged into itself" in await itself.text()


async def test_a_ticket_from_a_mention_and_a_mention_added_to_a_ticket(as_role, db, world):
    with db.write() as s:
        loose = add_mention(s, "Noch eine Beschwerde", title="Kaputt angekommen").id
        other = add_mention(s, "Und noch eine").id
    client, csrf = await as_role("service")
    opened = await client.post(f"/mentions/{loose}/ticket", data={"csrf_token": csrf}, allow_redirects=False)
    new_id = int(re.search(r"/tickets/(\d+)\?notice=ticket_created", opened.headers["Location"]).group(1))
    again = await client.post(f"/mentions/{loose}/ticket", data={"csrf_token": csrf})
    assert again.status == 409 and f"already on ticket {new_id}" in await again.text()
    added = await client.post(
        f"/mentions/{other}/ticket",
        data={"csrf_token": csrf, "do": "add", "ticket_id": str(new_id)},
        allow_redirects=False,
    )
    assert added.headers["Location"] == f"/tickets/{new_id}?notice=mention_added"
    by_number = await client.post(
        f"/tickets/{world.ticket_id}/mentions",
        data={"csrf_token": csrf, "mention_id": str(other)},
        allow_redirects=False,
    )
    assert by_number.headers["Location"] == f"/tickets/{world.ticket_id}?notice=mention_added"
    missing = await client.post(f"/tickets/{world.ticket_id}/mentions", data={"csrf_token": csrf, "mention_id": "999"})
    assert missing.status == 404
    with db.read() as s:
        ticket = s.get(Ticket, new_id)
        held = sorted(s.exec(select(TicketMention.mention_id).where(TicketMention.ticket_id == new_id)).all())
    assert (ticket.subject, held) == ("Kaputt angekommen", sorted([loose, other]))


async def test_assignees_must_be_people_who_work_tickets(as_role, db, world):
    client, csrf = await as_role("service")
    for name, reason in [("ghost", "there is no user 'ghost'"), ("community", "cannot work tickets")]:
        response = await client.post(f"/tickets/{world.ticket_id}/assign", data={"csrf_token": csrf, "assignee": name})
        assert response.status == 400 and reason in unescape(await response.text())
    page = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    options = re.findall(r"<option>([^<]+)</option>", page.split('id="assign-form"')[1].split("</form>")[0])
    assert options == ["admin", "service"]
    assert 'id="assign-me-form"' in page
    await client.post(f"/tickets/{world.ticket_id}/assign", data={"csrf_token": csrf, "assignee": "service"})
    assert 'id="assign-me-form"' not in await (await client.get(f"/tickets/{world.ticket_id}")).text()


async def test_reopen_a_closed_ticket_from_its_page_and_see_it_in_the_history(as_role, db, world):
    with db.write() as s:
        tickets.transition(s, world.ticket_id, "closed", actor="service")
    client, csrf = await as_role("service")
    page = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    assert 'id="reopen-form"' in page
    await client.post(f"/tickets/{world.ticket_id}/status", data={"csrf_token": csrf, "status": "open"})
    page = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    assert 'id="reopen-form"' not in page
    history = page.split('id="history"')[1]
    assert 'data-action="ticket.reopen"' in history and "Reopened by service" in history
    assert history.index('data-action="ticket.create"') < history.index('data-action="ticket.reopen"')


async def test_the_history_shows_replies_and_their_delivery(as_role, db, world):
    with db.write() as s:
        mention = s.get(Mention, world.mention_id)
        drafts.approve(s, world.draft_id, user="community")
        drafts.mark_sent(s, world.draft_id, "110", "https://social.example/@acme/110")
        by_hand = drafts.create_draft(s, mention=mention, text="Per Hand gepostet", language="de", manual=True)
        drafts.approve(s, by_hand.id, user="service")
        drafts.mark_posted(s, by_hand.id, "https://social.example/@acme/111", user="service")
        failing = drafts.create_draft(s, mention=mention, text="Geht nicht raus", language="de", manual=True)
        drafts.approve(s, failing.id, user="service")
        drafts.mark_failed(s, failing.id, "HTTP 422: text too long", permanent=True)
    client, _ = await as_role("service")
    history = (await (await client.get(f"/tickets/{world.ticket_id}")).text()).split('id="history"')[1]
    replies = history.split('data-kind="reply"')[1:]
    assert len(replies) == 3
    sent, posted, failed = replies
    assert "sent through the platform" in sent and 'href="https://social.example/@acme/110"' in sent
    assert "posted by hand by service" in posted and 'href="https://social.example/@acme/111"' in posted
    assert 'data-state="failed"' in failed and "HTTP 422: text too long" in failed
    with db.read() as s:
        assert s.get(ReplyDraft, failing.id).status == "failed"


async def test_a_role_never_sees_a_link_it_cannot_open(as_role, db, world):
    marketing, _ = await as_role("marketing")
    mentions = await (await marketing.get("/mentions")).text()
    assert "Erika Mustermann" in mentions and 'href="/customers/' not in mentions
    assert f'action="/mentions/{world.mention_id}/sentiment"' in mentions
    assert "/ticket" not in mentions, "no ticket form or link for marketing"
    assert (await marketing.get(f"/customers/{world.customer_id}")).status == 403
    community, _ = await as_role("community")
    customer = await (await community.get(f"/customers/{world.customer_id}")).text()
    assert "Lieferung fehlt" in customer and f'href="/tickets/{world.ticket_id}"' not in customer
    assert (await community.get(f"/tickets/{world.ticket_id}")).status == 403
    service, _ = await as_role("service")
    assert f'href="/customers/{world.customer_id}"' in await (await service.get("/mentions")).text()
    assert f'href="/tickets/{world.ticket_id}"' in await (await service.get(f"/customers/{world.customer_id}")).text()
    assert f'action="/mentions/{world.mention_id}/ticket"' in await (await service.get("/mentions")).text()


async def test_the_conversation_and_customer_pages_link_only_where_the_role_may_go(as_role, db, world):
    conversation = f"/mentions/{world.mention_id}"
    marketing, _ = await as_role("marketing")
    page = await (await marketing.get(conversation)).text()
    assert "Erika Mustermann" in page and 'href="/customers/' not in page
    assert "Lieferung fehlt" in page and 'href="/tickets/' not in page and "/ticket" not in page.split("<aside")[0]
    community, _ = await as_role("community")
    page = await (await community.get(conversation)).text()
    assert f'href="/customers/{world.customer_id}"' in page and 'href="/tickets/' not in page
    assert f'action="/mentions/{world.mention_id}/ticket"' not in page, "community opens no tickets"
    assert f'href="/queue/{world.draft_id}"' in page
    service, csrf = await as_role("service")
    page = await (await service.get(conversation)).text()
    assert f'href="/tickets/{world.ticket_id}"' in page and f'href="/queue/{world.draft_id}"' not in page
    assert f'action="/mentions/{world.mention_id}/ticket"' in page, "a ticket from the conversation view"
    customer = await (await service.get(f"/customers/{world.customer_id}")).text()
    assert f'action="/mentions/{world.mention_id}/ticket"' in customer, "and from the customer page"
    added = await service.post(
        f"/mentions/{world.mention_id}/ticket",
        data={"csrf_token": csrf, "do": "add", "ticket_id": str(world.other_ticket_id)},
        allow_redirects=False,
    )
    assert added.headers["Location"] == f"/tickets/{world.other_ticket_id}?notice=mention_added"


def _compose_key(html: str, mention_id: int) -> str:
    form = html.split(f'id="composer-{mention_id}"')[1].split("</form>")[0]
    return re.search(r'name="compose_key" value="([^"]+)"', form).group(1)


async def test_a_public_reply_from_the_ticket_goes_out_once_and_shows_in_its_history(as_role, db, world):
    with db.write() as s:
        later = add_mention(s, "Und jetzt?", source="acme-mastodon", source_type="mastodon", published_at=utcnow()).id
        tickets.attach_mention(s, s.get(Ticket, world.ticket_id), later, actor="service")
        elsewhere = add_mention(s, "Anderes Thema").id
    client, csrf = await as_role("service")
    page = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    respond = page.split('id="respond"')[1].split('id="history"')[0]
    assert f'action="/mentions/{later}/reply"' in respond, "the composer answers the ticket's latest post"
    assert f'name="next" value="/tickets/{world.ticket_id}"' in respond
    picked = await (await client.get(f"/tickets/{world.ticket_id}?reply_to={world.mention_id}")).text()
    assert f'action="/mentions/{world.mention_id}/reply"' in picked.split('id="respond"')[1]
    foreign = await (await client.get(f"/tickets/{world.ticket_id}?reply_to={elsewhere}")).text()
    assert f'action="/mentions/{later}/reply"' in foreign.split('id="respond"')[1], "only the ticket's posts"
    key = _compose_key(page, later)
    form = {"csrf_token": csrf, "text": "Wir melden uns heute noch.", "compose_key": key}
    form["next"] = f"/tickets/{world.ticket_id}"
    sent = await client.post(f"/mentions/{later}/reply", data=form, allow_redirects=False)
    assert sent.headers["Location"].startswith(f"/tickets/{world.ticket_id}?notice=reply_queued")
    again = await client.post(f"/mentions/{later}/reply", data=form, allow_redirects=False)
    assert "notice=reply_duplicate" in again.headers["Location"], "a second click sends nothing more"
    with db.read() as s:
        replies = s.exec(select(ReplyDraft).where(ReplyDraft.mention_id == later)).all()
        assert [(r.status, r.created_by) for r in replies] == [("approved", "service")]
        assert s.get(Ticket, world.ticket_id).first_response_at is not None
        queued = s.exec(select(func.count()).select_from(OutboxItem).where(OutboxItem.draft_id == replies[0].id)).one()
    assert queued == 1
    history = (await (await client.get(f"/tickets/{world.ticket_id}")).text()).split('id="history"')[1]
    reply = history.split('data-kind="reply"')[-1]
    assert "Wir melden uns heute noch." in reply and "approved by service" in reply
    assert "Mark as posted" not in reply, "Mastodon sends it; nobody posts it by hand"


async def test_a_feed_reply_from_the_ticket_is_posted_by_hand_from_its_history(as_role, db, world):
    with db.write() as s:
        post = add_mention(s, "Kommentar im Blog", url="https://blog.example.com/p/7#c3")
        ticket = tickets.open_ticket(s, subject="Blog", customer_id=world.customer_id, mention_id=post.id)
        ticket_id, post_id = ticket.id, post.id
    client, csrf = await as_role("service")
    page = await (await client.get(f"/tickets/{ticket_id}")).text()
    form = {"csrf_token": csrf, "text": "Danke, ist erledigt.", "compose_key": _compose_key(page, post_id)}
    form["next"] = f"/tickets/{ticket_id}"
    sent = await client.post(f"/mentions/{post_id}/reply", data=form, allow_redirects=False)
    assert sent.headers["Location"].startswith(f"/tickets/{ticket_id}?notice=reply_manual"), "back to the ticket"
    history = (await (await client.get(f"/tickets/{ticket_id}")).text()).split('id="history"')[1]
    with db.read() as s:
        draft = s.exec(select(ReplyDraft).where(ReplyDraft.mention_id == post_id)).one()
    by_hand = history.split(f'id="by-hand-{draft.id}"')[1]
    assert 'href="https://blog.example.com/p/7#c3"' in by_hand and f'action="/replies/{draft.id}/posted"' in by_hand
    posted = await client.post(
        f"/replies/{draft.id}/posted",
        data={"csrf_token": csrf, "url": "https://blog.example.com/p/7#c4", "next": f"/tickets/{ticket_id}"},
        allow_redirects=False,
    )
    assert posted.headers["Location"].startswith(f"/tickets/{ticket_id}?notice=reply_posted")
    history = (await (await client.get(f"/tickets/{ticket_id}")).text()).split('id="history"')[1]
    assert "posted by hand by service" in history and 'href="https://blog.example.com/p/7#c4"' in history
    assert f'id="by-hand-{draft.id}"' not in history


async def test_after_an_action_a_page_on_this_site_is_kept_and_any_other_target_is_not(as_role, db, world):
    """Every form's ``next`` goes through one check: a long filtered list comes back; other sites never do."""
    client, csrf = await as_role("service")
    own = f"/tickets/{world.ticket_id}"
    long_filter = "/tickets?status=new&q=" + "lieferung+" * 150  # 1,522 characters of filters
    hostile = ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/tickets\x07", "tickets"]
    for target, expected in [(long_filter, long_filter + "&"), *((h, own + "?") for h in hostile)]:
        answer = await client.post(
            f"{own}/mentions",
            data={"csrf_token": csrf, "mention_id": str(world.mention_id), "next": target},
            allow_redirects=False,
        )
        assert answer.status == 303, target
        assert answer.headers["Location"].startswith(expected + "notice=mention_"), target
