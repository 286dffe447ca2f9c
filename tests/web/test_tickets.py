"""Tickets: SLA breaches highlighted, status, assignment, notes, merging duplicates, the board."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from socialcrm.models import AuditEntry, Ticket, TicketMention, TicketNote, utcnow
from socialcrm.services import tickets


def _breach(db, ticket_id: int) -> None:  # type: ignore[no-untyped-def]
    with db.write() as s:
        ticket = s.get(Ticket, ticket_id)
        ticket.created_at = utcnow() - timedelta(days=3)
        ticket.first_response_due = utcnow() - timedelta(days=2)
        ticket.resolution_due = utcnow() - timedelta(hours=1)
        s.add(ticket)


async def test_list_highlights_sla_breaches_first(as_role, db, world):
    _breach(db, world.ticket_id)
    client, _ = await as_role("service")
    html = await (await client.get("/tickets")).text()
    row = html.split(f'data-ticket="{world.ticket_id}"')[0].rsplit("<tr", 1)[1]
    assert 'class="breach"' in row
    assert html.index(f'data-ticket="{world.ticket_id}"') < html.index(f'data-ticket="{world.other_ticket_id}"')
    assert "SLA breaches: 1" in html
    only = await (await client.get("/tickets?breached=1")).text()
    assert f'data-ticket="{world.other_ticket_id}"' not in only


def _breach_count(html: str) -> str:
    span = re.search(r"<span([^>]*)>(SLA breaches: \d+)</span>", html)
    assert span, "the ticket list shows no SLA breach count"
    return span.group(1) + "|" + span.group(2)


async def test_breach_count_is_red_only_when_there_are_breaches(as_role, db, world):
    client, _ = await as_role("service")
    calm = _breach_count(await (await client.get("/tickets")).text())
    assert calm.endswith("SLA breaches: 0") and "breach-label" not in calm
    _breach(db, world.ticket_id)
    alarm = _breach_count(await (await client.get("/tickets")).text())
    assert alarm.endswith("SLA breaches: 1") and 'class="breach-label"' in alarm


async def test_ticket_page_shows_customer_orders_and_other_mentions(as_role, world):
    client, _ = await as_role("service")
    html = await (await client.get(f"/tickets/{world.ticket_id}")).text()
    assert "Lieferung fehlt" in html and "Erika Mustermann" in html
    assert "Kaffeemaschine X1" in html
    assert f'name="duplicate_id" value="{world.other_ticket_id}"' in html
    assert "· shipped ·" in html


async def test_ticket_page_gives_the_order_status_in_the_readers_language(as_role, world):
    client, _ = await as_role("service")
    html = await (await client.get(f"/tickets/{world.ticket_id}", headers={"Accept-Language": "de"})).text()
    assert "Kaffeemaschine X1" in html
    assert "· versandt ·" in html and "· shipped ·" not in html


async def test_work_a_ticket_status_assign_note(as_role, db, world):
    client, csrf = await as_role("service")
    r = await client.post(
        f"/tickets/{world.ticket_id}/status",
        data={"csrf_token": csrf, "status": "open"},
        allow_redirects=False,
    )
    assert r.headers["Location"] == f"/tickets/{world.ticket_id}?notice=ticket_updated"
    await client.post(
        f"/tickets/{world.ticket_id}/assign",
        data={"csrf_token": csrf, "assignee": "service", "priority": "urgent"},
    )
    await client.post(f"/tickets/{world.ticket_id}/notes", data={"csrf_token": csrf, "text": "Paket nachverfolgt"})
    await client.post(f"/tickets/{world.ticket_id}/status", data={"csrf_token": csrf, "status": "resolved"})
    with db.read() as s:
        ticket = s.get(Ticket, world.ticket_id)
        notes = s.exec(select(TicketNote).where(TicketNote.ticket_id == world.ticket_id)).all()
        actions = [
            e.action
            for e in s.exec(select(AuditEntry).where(AuditEntry.entity_type == "ticket", AuditEntry.actor == "service"))
        ]
    assert (ticket.status, ticket.assignee, ticket.priority) == ("resolved", "service", "urgent")
    assert ticket.first_response_at is not None and ticket.resolved_at is not None
    assert [n.text for n in notes] == ["Paket nachverfolgt"]
    assert {"ticket.status", "ticket.assign", "ticket.priority", "ticket.note"} <= set(actions)


async def test_a_forbidden_transition_says_why(as_role, db, world):
    with db.write() as s:
        tickets.transition(s, world.ticket_id, "closed", actor="service")
    client, csrf = await as_role("service")
    response = await client.post(f"/tickets/{world.ticket_id}/status", data={"csrf_token": csrf, "status": "pending"})
    assert response.status == 409
    assert "ticket 1 is closed; it can move to: open" in await response.text()


async def test_merge_a_duplicate_into_this_ticket(as_role, db, world):
    client, csrf = await as_role("service")
    await client.post(f"/tickets/{world.other_ticket_id}/notes", data={"csrf_token": csrf, "text": "Duplikat"})
    await client.post(
        f"/tickets/{world.ticket_id}/merge",
        data={"csrf_token": csrf, "duplicate_id": str(world.other_ticket_id)},
    )
    with db.read() as s:
        duplicate = s.get(Ticket, world.other_ticket_id)
        notes = s.exec(select(TicketNote).where(TicketNote.ticket_id == world.ticket_id)).all()
        links = s.exec(select(TicketMention).where(TicketMention.ticket_id == world.ticket_id)).all()
    assert duplicate.merged_into_id == world.ticket_id and duplicate.status == "closed"
    assert [n.text for n in notes] == ["Duplikat"]
    assert len(links) == 1
    html = await (await client.get("/tickets")).text()
    assert f'data-ticket="{world.other_ticket_id}"' not in html


async def test_board_has_a_column_per_status(as_role, world):
    client, _ = await as_role("service")
    html = await (await client.get("/tickets?view=board")).text()
    for label in ("new", "open", "pending", "resolved"):
        assert f'aria-label="{label}"' in html
    assert f"/tickets/{world.ticket_id}" in html


async def test_bad_input_is_a_clear_400(as_role, world):
    client, csrf = await as_role("service")
    bad = await client.post(f"/tickets/{world.ticket_id}/status", data={"csrf_token": csrf, "status": "done"})
    assert bad.status == 400 and "status" in await bad.text()
    empty = await client.post(f"/tickets/{world.ticket_id}/notes", data={"csrf_token": csrf, "text": "  "})
    assert empty.status == 400
    assert (await client.get("/tickets?page=x")).status == 400
    assert (await client.get("/tickets/424242")).status == 404


async def test_list_orders_by_due_time_priority_or_age(as_role, db, world):
    from socialcrm.services import tickets as ticket_service

    with db.write() as s:
        urgent = ticket_service.open_ticket(s, subject="Dringend", priority="urgent").id
    client, _ = await as_role("service")

    def order(html: str) -> list[int]:
        return [int(n) for n in re.findall(r'data-ticket="(\d+)"', html)]

    by_priority = order(await (await client.get("/tickets?sort=priority")).text())
    assert by_priority[0] == urgent and by_priority.index(world.ticket_id) < by_priority.index(world.other_ticket_id)
    newest = order(await (await client.get("/tickets?sort=newest")).text())
    assert newest == sorted(newest, reverse=True)
    assert (await client.get("/tickets?sort=random")).status == 400
