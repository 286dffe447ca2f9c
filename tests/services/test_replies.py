"""A person's reply: one draft per compose key, the platform's limit, four eyes, rule drafts, template data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from socialcrm.config import parse_config
from socialcrm.db import Database
from socialcrm.errors import ConflictError, InvalidInputError, SecondPersonError
from socialcrm.models import AuditEntry, OutboxItem, ReplyDraft, Ticket, utcnow
from socialcrm.services import drafts, replies, tickets
from socialcrm.services.reply_context import template_context
from tests.rules import factories as f

MASTODON = """
[[sources]]
name = "masto"
type = "mastodon"
base_url = "https://masto.example"
hashtags = ["acme"]
max_characters = 60
"""
KEY = "service-test-compose-key"


def _mention(db: Database, *, source: str = "masto", source_type: str = "mastodon", author: str = "ida") -> int:
    with db.write() as session:
        customer = f.customer(session, "K-1", "Ida Weber", handles={source_type: author})
        f.order(session, "A-1001", customer.id, ["Mühle M2"], days_ago=30)
        f.order(session, "A-2002", customer.id, ["Barista 3000", "Tamper"], days_ago=2)
        post = f.mention(
            session, "Wo bleibt meine Bestellung?", author=author, source=source, source_type=source_type, language="de"
        )
        post.customer_id = customer.id
        session.add(post)
        session.flush()
        assert post.id is not None
        return post.id


def test_sending_twice_with_one_compose_key_makes_one_draft_and_one_reply(db) -> None:
    config = f.config(MASTODON)
    mention_id = _mention(db)
    with db.write() as session:
        first = replies.send(session, config, mention_id, "Wir sehen nach!", author="cm1", compose_key=KEY)
    with db.write() as session:
        second = replies.send(session, config, mention_id, "Wir sehen nach!", author="cm1", compose_key=KEY)
    assert (first.outcome, second.outcome, second.draft.id) == ("queued", "duplicate", first.draft.id)
    with db.read() as session:
        assert len(session.exec(select(ReplyDraft)).all()) == 1
        item = session.exec(select(OutboxItem)).one()
        assert (item.idempotency_key, item.payload["text"]) == (f"reply:{first.draft.id}", "Wir sehen nach!")


def test_the_limit_counts_what_the_platform_counts(db) -> None:
    config = f.config(MASTODON)  # max_characters = 60; "@ida " goes in front
    mention_id = _mention(db)
    with db.read() as session:
        from socialcrm.models import Mention

        mention = session.get(Mention, mention_id)
        assert replies.measure(config, mention, "x" * 55).counted == 60
        assert replies.measure(config, mention, "@ida " + "x" * 55).counted == 60, "no second mention is added"
        assert replies.measure(config, mention, "see https://example.com/" + "a" * 80).counted == 5 + 4 + 23
    with db.write() as session, pytest.raises(InvalidInputError) as err:
        replies.send(session, config, mention_id, "x" * 56, author="cm1", compose_key=KEY)
    assert (
        str(err.value) == "text: the reply is 61 characters as mastodon counts them; the limit is 60: shorten it by 1"
    )
    with db.write() as session:
        ok = replies.send(session, config, mention_id, "x" * 55, author="cm1", compose_key=KEY)
    assert ok.outcome == "queued"


def test_a_source_removed_from_the_config_leaves_a_reply_to_post_by_hand(db) -> None:
    mention_id = _mention(db, source="gone", source_type="hackernews")
    with db.write() as session:
        sent = replies.send(session, f.config(""), mention_id, "Danke!", author="cm1", compose_key=KEY)
    assert (sent.outcome, sent.draft.status) == ("manual", "approved")


def test_four_eyes_keep_a_persons_reply_waiting_for_someone_else(db) -> None:
    config = parse_config("[web]\nfour_eyes = true\n" + MASTODON)
    mention_id = _mention(db)
    with db.write() as session:
        sent = replies.send(session, config, mention_id, "Wir sehen nach!", author="cm1", compose_key=KEY)
    assert (sent.outcome, sent.draft.status, sent.draft.created_by) == ("waiting", "pending", "cm1")
    draft_id = sent.draft.id
    with db.write() as session, pytest.raises(SecondPersonError, match="needs a second person's approval: cm1"):
        drafts.approve(session, draft_id, user="cm1", four_eyes=config.web.four_eyes)
    with db.write() as session:  # cm2 edits it: now cm2 wrote the text and cm1 may approve
        drafts.edit(session, draft_id, "Wir sehen sofort nach!", user="cm2")
    with db.write() as session, pytest.raises(SecondPersonError):
        drafts.approve(session, draft_id, user="cm2", four_eyes=config.web.four_eyes)
    with db.write() as session:
        approved = drafts.approve(session, draft_id, user="cm1", four_eyes=config.web.four_eyes)
    assert (approved.status, approved.approved_by) == ("approved", "cm1")


def test_without_four_eyes_the_author_approves_by_sending_and_a_rule_draft_waits(db) -> None:
    config = f.config(f.DEMO_RULES)
    assert (config.web.four_eyes.own_replies, config.web.four_eyes.rule_drafts) == (False, True)
    with db.write() as session:
        post = f.mention(session, "Wie entkalke ich?", author="ida", source_type="reddit", language="de")
        f.process(session, post, config, f.ruleset(config))
    with db.read() as session:
        draft = session.exec(select(ReplyDraft)).one()
        assert (draft.status, draft.created_by) == ("pending", None)
        assert session.exec(select(OutboxItem)).all() == []


def test_rule_drafts_off_sends_a_rules_draft_without_a_person(db) -> None:
    config = f.config("[web.four_eyes]\nrule_drafts = false\n" + f.DEMO_RULES)
    with db.write() as session:
        post = f.mention(session, "Wie entkalke ich?", author="ida", source_type="reddit", language="de")
        f.process(session, post, config, f.ruleset(config))
    with db.read() as session:
        draft = session.exec(select(ReplyDraft)).one()
        assert (draft.status, draft.approved_by) == ("approved", "daemon")
        assert session.exec(select(OutboxItem)).one().draft_id == draft.id
        actions = session.exec(select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.entity_type == "draft"))
        assert list(actions) == [("draft.create", "daemon"), ("draft.approve", "daemon")]


def test_an_erased_post_cannot_be_answered_and_empty_text_is_refused(db) -> None:
    config = f.config(MASTODON)
    mention_id = _mention(db)
    with db.write() as session, pytest.raises(InvalidInputError, match="a reply needs text"):
        replies.send(session, config, mention_id, " \r\n ", author="cm1", compose_key=KEY)
    with db.write() as session, pytest.raises(InvalidInputError, match="compose_key"):
        replies.send(session, config, mention_id, "Hallo", author="cm1", compose_key="short")
    with db.write() as session:
        from socialcrm.models import Mention

        session.get(Mention, mention_id).erased_at = utcnow()  # type: ignore[union-attr]
    with db.write() as session, pytest.raises(ConflictError, match="erased"):
        replies.send(session, config, mention_id, "Hallo", author="cm1", compose_key=KEY)


def test_a_reply_counts_as_the_tickets_first_response(db) -> None:
    config = f.config(MASTODON)
    mention_id = _mention(db)
    with db.write() as session:
        ticket = tickets.open_ticket(session, subject="Lieferung", mention_id=mention_id, thread_key="x")
        ticket_id = ticket.id
    with db.write() as session:
        replies.send(session, config, mention_id, "Wir sehen nach!", author="cm1", compose_key=KEY)
    with db.read() as session:
        assert session.get(Ticket, ticket_id).first_response_at is not None  # type: ignore[union-attr]


def test_template_data_names_the_latest_order_the_open_ticket_and_the_agent(db) -> None:
    mention_id = _mention(db)
    with db.write() as session:
        from socialcrm.models import Mention
        from socialcrm.services import users

        users.create_user(session, "cm1", "community", "correct horse battery", actor="test")
        session.exec(select(users.User).where(users.User.username == "cm1")).one().display_name = "Jana Fischer"
        mention = session.get(Mention, mention_id)
        assert mention is not None and mention.customer_id is not None
        ticket = tickets.open_ticket(session, subject="x", customer_id=mention.customer_id, thread_key="other:1")
        context = template_context(session, mention, agent="cm1")
    assert (context["order_number"], context["order_product"], context["order_status"]) == (
        "A-2002",
        "Barista 3000, Tamper",
        "shipped",
    )
    assert context["order_date"] == f.NOW - timedelta(days=2)
    assert context["order_numbers"] == ["A-2002", "A-1001"]
    assert (context["ticket_number"], context["agent_name"], context["customer_name"]) == (
        str(ticket.id),
        "Jana Fischer",
        "Ida Weber",
    )
