"""Tickets: status transitions, SLA due times and breaches, first response, assignment, notes, merging."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from socialcrm.config import DEFAULT_SLA
from socialcrm.errors import ConflictError, InvalidInputError
from socialcrm.models import AuditEntry, Ticket, TicketMention, TicketNote
from socialcrm.services import ticket_merges, tickets, users
from tests.rules import factories as f


def _ticket(session, priority: str = "normal", thread: str = "t1") -> Ticket:  # type: ignore[no-untyped-def]
    mention = f.mention(session, "Lieferung fehlt", thread=thread)
    return tickets.open_ticket(
        session,
        subject="Lieferung fehlt",
        priority=priority,
        team="service",
        thread_key=f"acme-forum:{thread}",
        mention_id=mention.id,
        now=f.NOW,
    )


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (["open", "pending", "open", "resolved", "closed"], True),
        (["resolved", "open", "closed"], True),
        (["pending", "resolved", "open"], True),
        (["closed", "open"], True),
        (["closed", "pending"], False),
        (["resolved", "pending"], False),
        (["open", "new"], False),
    ],
)
def test_status_transitions_are_validated(db, path: list[str], allowed: bool) -> None:
    with db.write() as session:
        ticket = _ticket(session)
        try:
            for status in path:
                tickets.transition(session, ticket.id, status, actor="agent")
        except ConflictError as err:
            assert not allowed, err
            assert "it can move to: " in str(err)
        else:
            assert allowed
            assert ticket.status == path[-1]


def test_resolution_and_closing_times(db) -> None:
    with db.write() as session:
        ticket = _ticket(session)
        later = f.NOW + timedelta(hours=3)
        tickets.transition(session, ticket.id, "resolved", actor="agent", now=later)
        assert ticket.resolved_at == later
        tickets.transition(session, ticket.id, "open", actor="agent", now=later)
        assert ticket.resolved_at is None
        tickets.transition(session, ticket.id, "closed", actor="agent", now=later + timedelta(hours=1))
        assert (ticket.closed_at, ticket.resolved_at) == (later + timedelta(hours=1),) * 2


def test_sla_due_times_follow_priority_and_breaches_are_listed(db) -> None:
    with db.write() as session:
        urgent = _ticket(session, "urgent", "a")
        normal = _ticket(session, "normal", "b")
        answered = _ticket(session, "urgent", "c")
        assert urgent.first_response_due == f.NOW + DEFAULT_SLA["urgent"].first_response_delta()
        assert normal.resolution_due == f.NOW + DEFAULT_SLA["normal"].resolution_delta()
        tickets.add_note(session, answered.id, "Wir prüfen das.", actor="agent", now=f.NOW + timedelta(minutes=5))
        assert answered.first_response_at == f.NOW + timedelta(minutes=5)
        at = f.NOW + timedelta(hours=1)
        breached = {t.id: missed for t, missed in tickets.breached(session, at)}
        assert breached == {urgent.id: ["first_response"]}
        breached = {t.id: missed for t, missed in tickets.breached(session, f.NOW + timedelta(hours=5))}
        assert breached == {
            urgent.id: ["first_response", "resolution"],
            normal.id: ["first_response"],
            answered.id: ["resolution"],
        }
        tickets.set_priority(session, normal.id, "low", actor="lead")
        assert normal.resolution_due == f.NOW + DEFAULT_SLA["low"].resolution_delta()


def test_daemon_changes_do_not_count_as_a_first_response(db) -> None:
    with db.write() as session:
        ticket = _ticket(session)
        tickets.transition(session, ticket.id, "open", actor="daemon")
        assert ticket.first_response_at is None
        tickets.transition(session, ticket.id, "pending", actor="agent", now=f.NOW + timedelta(minutes=9))
        assert ticket.first_response_at == f.NOW + timedelta(minutes=9)


def test_assign_notes_and_audit(db) -> None:
    with db.write() as session:
        users.create_user(session, "maria", "service", "a long password", actor="test")
        ticket = _ticket(session)
        tickets.assign(session, ticket.id, "maria", actor="lead", team="returns")
        tickets.add_note(session, ticket.id, "Kunde angerufen", actor="maria")
        with pytest.raises(InvalidInputError):
            tickets.add_note(session, ticket.id, "   ", actor="maria")
    with db.read() as session:
        detail = tickets.ticket_detail(session, ticket.id)
        assert (detail.ticket.assignee, detail.ticket.team) == ("maria", "returns")
        assert [n.text for n in detail.notes] == ["Kunde angerufen"]
        assert [m.text for m in detail.mentions] == ["Lieferung fehlt"]
        actions = [
            a.action
            for a in session.exec(select(AuditEntry).where(AuditEntry.entity_type == "ticket").order_by(AuditEntry.id))
        ]
        assert actions == ["ticket.create", "ticket.mention_added", "ticket.assign", "ticket.note"]
        assert tickets.list_tickets(session, assignee="maria")[0].id == ticket.id


def test_merging_duplicates_moves_mentions_and_notes(db) -> None:
    with db.write() as session:
        keep = _ticket(session, thread="a")
        duplicate = _ticket(session, thread="b")
        tickets.add_note(session, duplicate.id, "Duplikat", actor="agent")
        ticket_merges.merge_tickets(session, duplicate.id, keep.id, actor="agent")
        with pytest.raises(ConflictError, match="already merged"):
            ticket_merges.merge_tickets(session, duplicate.id, keep.id, actor="agent")
        with pytest.raises(InvalidInputError, match="cannot be merged into itself"):
            ticket_merges.merge_tickets(session, keep.id, keep.id, actor="agent")
    with db.read() as session:
        assert len(session.exec(select(TicketMention).where(TicketMention.ticket_id == keep.id)).all()) == 2
        assert session.exec(select(TicketNote)).one().ticket_id == keep.id
        merged = session.get(Ticket, duplicate.id)
        assert (merged.status, merged.merged_into_id) == ("closed", keep.id)
        assert [t.id for t in tickets.list_tickets(session)] == [keep.id]
