"""The four functions the pipeline calls, end to end on a real database with the demo rules."""

from __future__ import annotations

from sqlmodel import col, func, select

from socialcrm.models import ActionKey, Decision, Mention, ReplyDraft, Ticket, TicketMention
from socialcrm.rules.facts import build_facts
from socialcrm.services.actions import ActionContext, apply_evaluation
from tests.rules import factories as f


def _count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_german_complaint_by_known_customer_opens_high_priority_ticket(db) -> None:
    cfg = f.config()
    rules = f.ruleset(cfg)
    with db.write() as session:
        anna = f.customer(session, "K-1001", "Anna Schmidt", handles={"feed": "anna.s"})
        post = f.mention(
            session,
            "Meine Lieferung ist seit zwei Wochen überfällig!",
            author="Anna.S",
            sentiment="negative",
            language="de",
            thread="t-1",
        )
        f.process(session, post, cfg, rules)
    with db.read() as session:
        ticket = session.exec(select(Ticket)).one()
        assert (ticket.priority, ticket.team, ticket.rule, ticket.status) == (
            "high",
            "service",
            "complaint-ticket",
            "new",
        )
        assert ticket.customer_id == anna.id
        assert ticket.first_response_due == f.NOW + cfg.sla["high"].first_response_delta()
        assert ticket.resolution_due == f.NOW + cfg.sla["high"].resolution_delta()
        stored = session.get(Mention, post.id)
        assert (stored.customer_id, stored.link_method, stored.link_confidence) == (anna.id, "identity", 1.0)
        decision = session.exec(select(Decision).where(Decision.rule == "complaint-ticket")).one()
        assert decision.fired
        query = next(c for c in decision.explanation["conditions"] if c["condition"] == "query")
        assert query["actual"] == ["lieferung"]
        assert decision.actions[0]["outcome"] == "opened"
        not_fired = session.exec(select(Decision).where(Decision.rule == "question-reply")).one()
        assert not not_fired.fired


def test_question_gets_draft_in_mentions_language_with_author(db) -> None:
    cfg = f.config()
    rules = f.ruleset(cfg)
    with db.write() as session:
        de = f.mention(session, "Wann kommt das neue Modell?", author="fragesteller", language="de")
        en = f.mention(session, "How do I reset the device?", author="asker", language="en")
        fr = f.mention(session, "Comment ça marche? how", author="jean", language="fr")
        for post in (de, en, fr):
            f.process(session, post, cfg, rules)
    with db.read() as session:
        drafts = {d.mention_id: d for d in session.exec(select(ReplyDraft))}
        assert drafts[de.id].text == "Hallo fragesteller, danke für Ihre Frage ..."
        assert drafts[de.id].language == "de"
        assert drafts[en.id].text == "Hi asker, thanks for your question ..."
        assert (drafts[fr.id].language, drafts[fr.id].text) == ("en", "Hi jean, thanks for your question ...")
        assert all(d.status == "pending" and d.rule == "question-reply" for d in drafts.values())
        assert _count(session, Ticket) == 0  # no complaint by a linked customer


def test_unknown_author_complaint_makes_prospect_but_no_ticket(db) -> None:
    cfg = f.config()
    rules = f.ruleset(cfg)
    with db.write() as session:
        post = f.mention(session, "Delivery never arrived.", author="stranger", sentiment="negative")
        evaluation = f.process(session, post, cfg, rules)
        assert not evaluation.results[0].fired
        customer_condition = evaluation.results[0].conditions[-1]
        assert customer_condition.actual["state"] == "prospect"
    with db.read() as session:
        stored = session.get(Mention, post.id)
        assert stored.link_method == "prospect"
        assert _count(session, Ticket) == 0


def test_reprocessing_the_same_batch_changes_nothing(db) -> None:
    cfg = f.config()
    rules = f.ruleset(cfg)
    with db.write() as session:
        f.customer(session, "K-7", "Ben Miller", email="ben@example.com")
        batch = [
            f.mention(
                session,
                "My delivery never arrived, when will it come? ben@example.com",
                author="benm",
                sentiment="negative",
                thread="x",
            ),
            f.mention(
                session,
                "Warum dauert der Versand so lange?",
                author="kunde2",
                language="de",
                sentiment="negative",
                thread="y",
            ),
        ]
        for post in batch:
            f.process(session, post, cfg, rules)
    with db.read() as session:
        before = {m.__name__: _count(session, m) for m in (Ticket, TicketMention, ReplyDraft, Decision, ActionKey)}
    assert before["Ticket"] == 1 and before["ReplyDraft"] == 2
    with db.write() as session:
        for post in batch:
            record = session.get(Mention, post.id)
            f.process(session, record, cfg, rules)
            # also the actions alone, as if the decisions had been lost: keys stop a second ticket/draft
            facts = build_facts(session, record, rules, f.NOW)
            session.exec(Decision.__table__.delete().where(col(Decision.mention_id) == record.id))  # type: ignore[attr-defined]
            apply_evaluation(session, record, rules.evaluate(facts), ActionContext(cfg, f.NOW))
    with db.read() as session:
        after = {m.__name__: _count(session, m) for m in (Ticket, TicketMention, ReplyDraft, Decision, ActionKey)}
    assert after == before


def test_second_complaint_in_same_thread_joins_open_ticket(db) -> None:
    cfg = f.config()
    rules = f.ruleset(cfg)
    with db.write() as session:
        f.customer(session, "K-2", "Clara", handles={"reddit": "clara_k"})
        first = f.mention(
            session,
            "Lieferung fehlt immer noch",
            author="clara_k",
            source="r-acme",
            source_type="reddit",
            sentiment="negative",
            language="de",
            thread="t3_abc",
        )
        f.process(session, first, cfg, rules)
        second = f.mention(
            session,
            "Und der Versand antwortet nicht!",
            author="u/Clara_K",
            source="r-acme",
            source_type="reddit",
            sentiment="negative",
            language="de",
            thread="t3_abc",
        )
        evaluation = f.process(session, second, cfg, rules)
        assert evaluation.results[0].fired
        other_thread = f.mention(
            session,
            "Andere Lieferung auch kaputt",
            author="clara_k",
            source="r-acme",
            source_type="reddit",
            sentiment="negative",
            language="de",
            thread="t3_other",
        )
        f.process(session, other_thread, cfg, rules)
    with db.read() as session:
        tickets = list(session.exec(select(Ticket).order_by(Ticket.id)))
        assert len(tickets) == 2
        members = session.exec(select(TicketMention.mention_id).where(TicketMention.ticket_id == tickets[0].id)).all()
        assert sorted(members) == sorted([first.id, second.id])
        joined = session.exec(
            select(Decision).where(Decision.mention_id == second.id, Decision.rule == "complaint-ticket")
        ).one()
        assert joined.actions[0]["outcome"] == "joined"
        assert joined.actions[0]["ticket_id"] == tickets[0].id
