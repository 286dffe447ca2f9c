"""Every action on a real database: what it creates, its Decision row, and that it happens once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from socialcrm.models import (
    ActionKey,
    AuditEntry,
    Customer,
    CustomLabel,
    Decision,
    Mention,
    MentionLabel,
    OutboxItem,
    ReplyDraft,
    Ticket,
    TicketMention,
)
from socialcrm.services import tickets as ticket_service
from tests.rules import factories as f

WEBHOOK = '[[webhooks]]\nname = "service-chat"\nurl = "https://chat.example/hook"\nsecret_env = "CHAT_SECRET"\n'
IF_ORDER = "{%% if order_numbers %%} %s {{ order_numbers[0] }}.{%% endif %%}"
TEMPLATES = f"""
[templates.sorry]
de = "Hallo {{{{ customer_name }}}}, das tut uns leid.{IF_ORDER % "Bestellung"}"
en = "Hi {{{{ customer_name }}}}, we are sorry.{IF_ORDER % "Order"}"
"""


def _cfg(then: str, when: str = 'sentiment = ["negative"]') -> object:
    return f.config(f'[[rules]]\nname = "r"\n[rules.when]\n{when}\n[[rules.then]]\n{then}\n{WEBHOOK}{TEMPLATES}')


def _one(session, model):
    return session.exec(select(func.count()).select_from(model)).one()


ACTIONS = [
    # then, language, text, check(session, mention) -> None
    (
        'action = "open_ticket"\nteam = "service"\npriority = "urgent"',
        "de",
        "Die Lieferung ist kaputt angekommen.",
        "ticket",
    ),
    ('action = "open_ticket"', "en", "The delivery arrived broken.", "ticket-default"),
    ('action = "draft_reply"\ntemplate = "sorry"', "de", "Das Paket ist beschädigt.", "draft-de"),
    ('action = "draft_reply"\ntemplate = "sorry"', "en", "The parcel is damaged.", "draft-en"),
    ('action = "tag"\ntags = ["damage", "logistics"]', "de", "Paket beschädigt", "tag-mention"),
    ('action = "tag"\ntags = ["complainer"]\ntarget = "customer"', "en", "Parcel damaged", "tag-customer"),
    (
        'action = "notify"\nwebhook = "service-chat"\nmessage = "Complaint"',
        "de",
        "Schlechter Service!",
        "notify",
    ),
]


@pytest.mark.parametrize(("then", "language", "text", "expect"), ACTIONS, ids=[a[3] for a in ACTIONS])
def test_action_is_performed_once_and_explained(db, then: str, language: str, text: str, expect: str) -> None:
    cfg = _cfg(then)
    rules = f.ruleset(cfg)
    with db.write() as session:
        dora = f.customer(session, "K-9", "Dora Weiß", handles={"feed": "dora"})
        f.order(session, "A-5001", dora.id, ["Kettle"])
        post = f.mention(session, text, author="dora", sentiment="negative", language=language, thread="th")
        f.process(session, post, cfg, rules)
        f.process(session, session.get(Mention, post.id), cfg, rules)  # reprocessing: nothing more
        again = f.mention(
            session,
            text + " Immer noch!",
            author="dora",
            sentiment="negative",
            language=language,
            thread="th",
        )
        f.process(session, again, cfg, rules)  # same rule, thread and customer: key already taken
    with db.read() as session:
        decision = session.exec(select(Decision).where(Decision.mention_id == post.id)).one()
        assert decision.fired and decision.actions[0]["action"] == then.split('"')[1]
        second = session.exec(select(Decision).where(Decision.mention_id == again.id)).one()
        if expect.startswith("ticket"):
            ticket = session.exec(select(Ticket)).one()
            priority = "urgent" if expect == "ticket" else "normal"
            assert (ticket.priority, ticket.team) == (priority, "service" if expect == "ticket" else None)
            assert ticket.resolution_due - ticket.created_at == cfg.sla[priority].resolution_delta()
            assert decision.actions[0]["outcome"] == "opened"
            assert second.actions[0] == {**second.actions[0], "outcome": "joined", "ticket_id": ticket.id}
        elif expect.startswith("draft"):
            draft = session.exec(select(ReplyDraft)).one()
            greeting = {
                "draft-de": "Hallo Dora Weiß, das tut uns leid. Bestellung A-5001.",
                "draft-en": "Hi Dora Weiß, we are sorry. Order A-5001.",
            }[expect]
            assert (draft.text, draft.language, draft.template, draft.rule) == (
                greeting,
                language,
                "sorry",
                "r",
            )
            assert draft.idempotency_key and draft.status == "pending"
            assert second.actions[0]["outcome"] == "already done"
        elif expect == "tag-mention":
            assert session.get(Mention, post.id).tags == ["damage", "logistics"]
            assert session.get(Mention, again.id).tags == ["damage", "logistics"]  # tags are per mention
        elif expect == "tag-customer":
            assert session.get(Customer, dora.id).tags == ["complainer"]
            assert second.actions[0]["outcome"] == "already tagged"
        elif expect == "notify":
            item = session.exec(select(OutboxItem)).one()
            assert (item.kind, item.payload["webhook"]) == ("webhook", "service-chat")
            body = item.payload["body"]
            assert (body["rule"], body["customer_ref"], body["message"]) == ("r", "K-9", "Complaint")
            assert body["mention"]["id"] == post.id
            assert "CHAT_SECRET" not in str(item.payload)
            assert second.actions[0]["outcome"] == "already done"


def test_a_notify_webhook_names_the_mentions_switched_on_labels(db) -> None:
    """The chat receiving the webhook sees "churn" without opening socialcrm; a switched-off label stays out."""
    cfg = _cfg('action = "notify"\nwebhook = "service-chat"\nmessage = "Complaint"')
    with db.write() as session:
        post = f.mention(session, "Ich kündige, schlechter Service!", author="dora", sentiment="negative")
        for name, enabled in (("churn", True), ("spam", False)):
            label = CustomLabel(name=name, title=name, enabled=enabled, head=b"\0" * 8, features="words-v1")
            session.add(label)
            session.flush()
            session.add(MentionLabel(mention_id=post.id, label_id=label.id, score=0.9))
        session.flush()
        f.process(session, post, cfg, f.ruleset(cfg))
    with db.read() as session:
        body = session.exec(select(OutboxItem)).one().payload["body"]
    assert body["mention"]["labels"] == ["churn"]


def test_set_priority_raises_the_threads_ticket_and_recomputes_sla(db) -> None:
    cfg = f.config(
        '[[rules]]\nname = "ticket"\norder = 1\n[rules.when]\nsentiment = "negative"\n[[rules.then]]\n'
        'action = "open_ticket"\npriority = "normal"\n'
        '[[rules]]\nname = "escalate"\norder = 2\n[rules.when]\nquery = "anwalt OR lawyer"\n[[rules.then]]\n'
        'action = "set_priority"\npriority = "urgent"\n'
    )
    rules = f.ruleset(cfg)
    with db.write() as session:
        f.customer(session, "K-1", "Eva", handles={"feed": "eva"})
        first = f.mention(session, "Die Lieferung fehlt.", author="eva", sentiment="negative", thread="t")
        f.process(session, first, cfg, rules)
        ticket = session.exec(select(Ticket)).one()
        assert ticket.priority == "normal"
        later = f.mention(
            session, "Ich schalte jetzt meinen Anwalt ein!", author="eva", sentiment="negative", thread="t"
        )
        f.process(session, later, cfg, rules, now=f.NOW + timedelta(hours=2))
    with db.read() as session:
        ticket = session.exec(select(Ticket)).one()
        assert ticket.priority == "urgent"
        assert ticket.resolution_due == ticket.created_at + cfg.sla["urgent"].resolution_delta()
        decision = session.exec(
            select(Decision).where(Decision.mention_id == later.id, Decision.rule == "escalate")
        ).one()
        assert decision.actions[0]["outcome"] == "set" and decision.actions[0]["from"] == "normal"


def test_resolved_ticket_reopens_when_the_thread_complains_again(db) -> None:
    cfg = _cfg('action = "open_ticket"')
    rules = f.ruleset(cfg)
    with db.write() as session:
        f.customer(session, "K-3", "Fritz", handles={"feed": "fritz"})
        f.process(
            session,
            f.mention(session, "Kaputt.", author="fritz", sentiment="negative", thread="t"),
            cfg,
            rules,
        )
        ticket = session.exec(select(Ticket)).one()
        ticket_service.transition(session, ticket.id, "resolved", actor="agent")
        f.process(
            session,
            f.mention(session, "Wieder kaputt!", author="fritz", sentiment="negative", thread="t"),
            cfg,
            rules,
        )
    with db.read() as session:
        assert _one(session, Ticket) == 1
        ticket = session.exec(select(Ticket)).one()
        assert ticket.status == "open" and ticket.resolved_at is None


def test_after_a_closed_ticket_a_new_complaint_opens_a_follow_up_once(db) -> None:
    cfg = _cfg('action = "open_ticket"')
    rules = f.ruleset(cfg)
    with db.write() as session:
        f.customer(session, "K-3", "Fritz", handles={"feed": "fritz"})
        f.process(
            session,
            f.mention(session, "Kaputt.", author="fritz", sentiment="negative", thread="t"),
            cfg,
            rules,
        )
        first = session.exec(select(Ticket)).one()
        ticket_service.transition(session, first.id, "closed", actor="agent")
        later = f.mention(session, "Wieder kaputt!", author="fritz", sentiment="negative", thread="t")
        f.process(session, later, cfg, rules)
        f.process(session, session.get(Mention, later.id), cfg, rules)
        third = f.mention(session, "Und noch mal!", author="fritz", sentiment="negative", thread="t")
        f.process(session, third, cfg, rules)
        actions = session.exec(select(Decision).where(Decision.mention_id == later.id)).one().actions
    with db.read() as session:
        closed, follow_up = session.exec(select(Ticket).order_by(Ticket.id)).all()
        assert closed.status == "closed"
        assert actions[0] == {
            **actions[0],
            "outcome": "opened",
            "follows": closed.id,
            "ticket_id": follow_up.id,
        }
        assert follow_up.subject.startswith(f"Follow-up to #{closed.id}")
        members = session.exec(select(TicketMention.mention_id).where(TicketMention.ticket_id == follow_up.id)).all()
        assert sorted(members) == [later.id, third.id]


def test_two_rules_opening_tickets_share_the_threads_ticket(db) -> None:
    cfg = f.config(
        '[[rules]]\nname = "complaint"\n[rules.when]\nsentiment = "negative"\n'
        '[[rules.then]]\naction = "open_ticket"\n'
        '[[rules]]\nname = "legal"\n[rules.when]\nquery = "anwalt"\n[[rules.then]]\naction = "open_ticket"\n'
        'priority = "urgent"\n'
    )
    rules = f.ruleset(cfg)
    with db.write() as session:
        f.customer(session, "K-4", "Gert", handles={"feed": "gert"})
        f.process(
            session,
            f.mention(session, "Mein Anwalt meldet sich.", author="gert", sentiment="negative"),
            cfg,
            rules,
        )
    with db.read() as session:
        assert _one(session, Ticket) == 1
        assert _one(session, ActionKey) == 2


def test_every_state_change_is_audited(db) -> None:
    cfg = f.config()
    rules = f.ruleset(cfg)
    with db.write() as session:
        f.customer(session, "K-5", "Hanna", handles={"feed": "hanna"})
        f.process(
            session,
            f.mention(session, "Wann kommt meine Lieferung?", author="hanna", sentiment="negative", language="de"),
            cfg,
            rules,
        )
    with db.read() as session:
        actions = sorted(a.action for a in session.exec(select(AuditEntry)))
    assert actions == ["draft.create", "ticket.create", "ticket.mention_added"]


def test_a_rules_draft_writes_dates_in_the_configured_zone(db) -> None:
    dated = '[templates.dated]\nde = "Ihre Bestellung vom {{ order_date }}."\n'
    then = '[[rules.then]]\naction = "draft_reply"\ntemplate = "dated"\n'
    rule = f'[[rules]]\nname = "r"\n[rules.when]\nsentiment = ["negative"]\n{then}'
    drafts = {}
    for name in ("UTC", "Europe/Berlin"):
        cfg = f.config(f'[web]\ntime_zone = "{name}"\n{rule}{dated}')
        with db.write() as session:
            dora = f.customer(session, f"K-{name}", "Dora Weiß", handles={"feed": f"dora-{name}"})
            order = f.order(session, f"A-{name}", dora.id, ["Kettle"])
            order.ordered_at = datetime(2026, 10, 24, 22, 30, tzinfo=UTC)  # 00:30 on the 25th in Berlin
            post = f.mention(session, "Kaputt.", author=f"dora-{name}", sentiment="negative", language="de")
            f.process(session, post, cfg, f.ruleset(cfg))
            drafts[name] = session.exec(select(ReplyDraft).where(ReplyDraft.mention_id == post.id)).one().text
    assert drafts == {"UTC": "Ihre Bestellung vom 24.10.2026.", "Europe/Berlin": "Ihre Bestellung vom 25.10.2026."}
