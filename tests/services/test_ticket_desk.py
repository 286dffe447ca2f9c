"""The help desk's ticket work: reopening, follow-ups, assignees, merges across customers, bulk changes."""

from __future__ import annotations

import pytest
from sqlmodel import select

from socialcrm.errors import ConflictError, InvalidInputError
from socialcrm.models import AuditEntry, Decision, Ticket, TicketMention
from socialcrm.services import assignees, ticket_desk, ticket_merges, tickets, users
from socialcrm.services.ticket_desk import BulkChange
from tests.rules import factories as f

PASSWORD = "a long password"
CLOSED_THREAD_RULES = f.DEMO_RULES + '\n[tickets]\nclosed_thread = "{mode}"\n'


def _people(session) -> None:  # type: ignore[no-untyped-def]
    users.create_user(session, "sam", "service", PASSWORD, actor="test")
    users.create_user(session, "cora", "community", PASSWORD, actor="test")
    users.create_user(session, "gone", "service", PASSWORD, actor="test")
    users.set_disabled(session, "gone", True, actor="test")


def _ticket(session, thread: str = "t1", customer_id: int | None = None) -> Ticket:  # type: ignore[no-untyped-def]
    mention = f.mention(session, "Lieferung fehlt", thread=thread)
    return tickets.open_ticket(
        session,
        subject="Lieferung fehlt",
        thread_key=f"acme-forum:{thread}",
        mention_id=mention.id,
        customer_id=customer_id,
    )


def _audit(session, ticket_id: int) -> list[tuple[str, dict]]:  # type: ignore[no-untyped-def]
    rows = session.exec(
        select(AuditEntry)
        .where(AuditEntry.entity_type == "ticket", AuditEntry.entity_id == str(ticket_id))
        .order_by(AuditEntry.id)
    )
    return [(row.action, row.detail) for row in rows]


def test_assignees_must_be_enabled_users_who_work_that_kind_of_item(db) -> None:
    with db.write() as session:
        _people(session)
        ticket = _ticket(session)
        for name, reason in [
            ("nobody", "there is no user 'nobody'"),
            ("gone", "user 'gone' is disabled"),
            ("cora", "has the role community, which cannot work tickets"),
        ]:
            with pytest.raises(InvalidInputError, match=reason):
                tickets.assign(session, ticket.id, name, actor="lead")
        tickets.assign(session, ticket.id, "sam", actor="lead")
        assert ticket.assignee == "sam"
        tickets.assign(session, ticket.id, None, actor="lead")
        assert ticket.assignee is None
        assert assignees.assignable(session, "tickets") == ["sam"]
        assert assignees.assignable(session, "drafts") == ["cora"]
        with pytest.raises(InvalidInputError, match="cannot work drafts"):
            assignees.check_assignee(session, "sam", "drafts")


def test_an_agent_reopens_a_closed_ticket_with_an_audit_entry(db) -> None:
    with db.write() as session:
        ticket = _ticket(session)
        tickets.transition(session, ticket.id, "closed", actor="sam")
        tickets.transition(session, ticket.id, "open", actor="sam")
        assert (ticket.status, ticket.closed_at, ticket.resolved_at) == ("open", None, None)
        assert _audit(session, ticket.id)[-1] == ("ticket.reopen", {"from": "closed", "to": "open"})
        merged, into = _ticket(session, "m"), _ticket(session, "n")
        ticket_merges.merge_tickets(session, merged.id, into.id, actor="sam")
        with pytest.raises(ConflictError, match=f"merged into ticket {into.id}; reopen that one"):
            tickets.reopen(session, merged.id, actor="sam")


def _complaint(session, thread: str):  # type: ignore[no-untyped-def]
    return f.mention(
        session,
        "Lieferung fehlt immer noch",
        author="clara_k",
        source="r-acme",
        source_type="reddit",
        sentiment="negative",
        language="de",
        thread=thread,
    )


@pytest.mark.parametrize("mode", ["reopen", "follow_up"])
def test_a_new_complaint_in_a_closed_tickets_thread_reopens_or_follows_up(db, mode: str) -> None:
    cfg = f.config(CLOSED_THREAD_RULES.format(mode=mode))
    assert cfg.tickets.closed_thread == mode
    rules = f.ruleset(cfg)
    with db.write() as session:
        f.customer(session, "K-2", "Clara", handles={"reddit": "clara_k"})
        first = _complaint(session, "t3_abc")
        f.process(session, first, cfg, rules)
        closed = session.exec(select(Ticket)).one()
        tickets.transition(session, closed.id, "closed", actor="sam")
        again = _complaint(session, "t3_abc")
        f.process(session, again, cfg, rules)
    with db.read() as session:
        all_tickets = session.exec(select(Ticket).order_by(Ticket.id)).all()
        outcome = (
            session.exec(select(Decision).where(Decision.mention_id == again.id, Decision.rule == "complaint-ticket"))
            .one()
            .actions[0]
        )
        if mode == "reopen":
            assert [(t.id, t.status) for t in all_tickets] == [(closed.id, "open")]
            assert outcome == {**outcome, "outcome": "reopened", "ticket_id": closed.id}
            assert ("ticket.reopen", {"from": "closed", "to": "open", "mention_id": again.id}) in _audit(
                session, closed.id
            )
            held = session.exec(select(TicketMention.mention_id).where(TicketMention.ticket_id == closed.id)).all()
            assert sorted(held) == sorted([first.id, again.id])
        else:
            old, follow_up = all_tickets
            assert (old.status, follow_up.status, follow_up.follow_up_of_id) == ("closed", "new", old.id)
            assert follow_up.subject.startswith(f"Follow-up to #{old.id}: ")
            assert outcome == {**outcome, "outcome": "opened", "ticket_id": follow_up.id, "follows": old.id}
            assert ("ticket.follow_up", {"follow_up": follow_up.id}) in _audit(session, old.id)


def test_the_default_keeps_the_first_releases_follow_up_and_a_resolved_ticket_reopens(db) -> None:
    cfg = f.config()
    assert cfg.tickets.closed_thread == "follow_up"
    rules = f.ruleset(cfg)
    with db.write() as session:
        f.customer(session, "K-2", "Clara", handles={"reddit": "clara_k"})
        f.process(session, _complaint(session, "t3_abc"), cfg, rules)
        ticket = session.exec(select(Ticket)).one()
        tickets.transition(session, ticket.id, "resolved", actor="sam")
        f.process(session, _complaint(session, "t3_abc"), cfg, rules)
        assert ticket.status == "open" and len(session.exec(select(Ticket)).all()) == 1


def test_a_rule_naming_an_assignee_who_cannot_work_tickets_still_opens_the_ticket(db) -> None:
    toml = f.DEMO_RULES.replace('team = "service"', 'team = "service"\nassignee = "cora"', 1)
    cfg = f.config(toml)
    rules = f.ruleset(cfg)
    with db.write() as session:
        _people(session)
        f.customer(session, "K-2", "Clara", handles={"reddit": "clara_k"})
        complaint = _complaint(session, "t3_x")
        f.process(session, complaint, cfg, rules)
        ticket = session.exec(select(Ticket)).one()
        assert ticket.assignee is None
        outcome = session.exec(select(Decision).where(Decision.mention_id == complaint.id, Decision.fired)).first()
        assert "cannot work tickets" in outcome.actions[0]["warning"]
        assert outcome.actions[0]["warning"].endswith("the ticket was left unassigned")


def test_merging_tickets_of_two_customers_needs_a_confirmation_naming_both(db) -> None:
    with db.write() as session:
        anna = f.customer(session, "K-1", "Anna Berg")
        ben = f.customer(session, "K-2", "Ben Kurz")
        one, two = _ticket(session, "a", anna.id), _ticket(session, "b", ben.id)
        with pytest.raises(ConflictError) as refused:
            ticket_merges.merge_tickets(session, one.id, two.id, actor="sam")
        assert f"ticket {one.id} belongs to Anna Berg (K-1), ticket {two.id} to Ben Kurz (K-2)" in str(refused.value)
        assert one.merged_into_id is None
        plan = ticket_merges.plan_merge(session, one.id, two.id)
        assert not plan.same_customer
        ticket_merges.merge_tickets(session, one.id, two.id, actor="sam", other_customer=True)
        assert one.merged_into_id == two.id
        assert _audit(session, one.id)[-1] == ("ticket.merge", {"into": two.id, "customers_differ": True})
        with pytest.raises(InvalidInputError, match=f"ticket {two.id} cannot be merged into itself"):
            ticket_merges.plan_merge(session, two.id, two.id)


def test_a_ticket_from_a_mention_and_a_mention_added_to_a_ticket(db) -> None:
    with db.write() as session:
        _people(session)
        anna = f.customer(session, "K-1", "Anna Berg")
        post = f.mention(session, "Mein Paket ist kaputt\nzweite Zeile", thread="th-9")
        post.customer_id = anna.id
        ticket = ticket_desk.ticket_from_mention(session, post.id, actor="sam", assignee="sam", priority="high")
        assert (ticket.subject, ticket.customer_id, ticket.thread_key, ticket.assignee, ticket.priority) == (
            "Mein Paket ist kaputt",
            anna.id,
            "acme-forum:th-9",
            "sam",
            "high",
        )
        with pytest.raises(ConflictError, match=f"already on ticket {ticket.id}"):
            ticket_desk.ticket_from_mention(session, post.id, actor="sam")
        other = f.mention(session, "Noch etwas", thread="th-10")
        assert ticket_desk.add_mention(session, ticket.id, other.id, actor="sam") is True
        assert ticket_desk.add_mention(session, ticket.id, other.id, actor="sam") is False
        with pytest.raises(InvalidInputError, match="cannot work tickets"):
            ticket_desk.ticket_from_mention(session, f.mention(session, "x").id, actor="sam", assignee="cora")


def test_bulk_changes_apply_to_each_ticket_and_report_the_ones_that_cannot_move(db) -> None:
    with db.write() as session:
        _people(session)
        a, b, c, d = (_ticket(session, t) for t in "abcd")
        ticket_merges.merge_tickets(session, d.id, a.id, actor="sam")
        result = ticket_desk.bulk_change(
            session,
            [a.id, b.id, c.id, d.id, 9999],
            BulkChange(status="closed", assign=True, assignee="sam"),
            actor="sam",
        )
        assert result.changed == [a.id, b.id, c.id]
        assert set(result.refused) == {d.id, 9999}
        assert "merged into ticket" in result.refused[d.id] and "no ticket with id 9999" in result.refused[9999]
        assert all((t.status, t.assignee) == ("closed", "sam") for t in (a, b, c))
        result = ticket_desk.bulk_change(session, [a.id, b.id], BulkChange(status="pending"), actor="sam")
        assert result.changed == [] and "it can move to: open" in result.refused[a.id]
        assert ticket_desk.bulk_change(session, [b.id], BulkChange(priority="urgent"), actor="sam").changed == [b.id]
        for bad, message in [
            (BulkChange(), "choose a change"),
            (BulkChange(assign=True, assignee="cora"), "cannot work tickets"),
        ]:
            with pytest.raises(InvalidInputError, match=message):
                ticket_desk.bulk_change(session, [b.id], bad, actor="sam")
        with pytest.raises(InvalidInputError, match="select at least one"):
            ticket_desk.bulk_change(session, [], BulkChange(status="closed"), actor="sam")
