"""Customers: the 360 view and timeline, edits, merges on command, corrections, the customers export."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError
from socialcrm.models import ContactPoint, Customer, Identity, Mention, MergeCandidate, SentimentCorrection
from socialcrm.services import corrections, customers, drafts, merges
from tests.rules import factories as f


def _story(db):  # type: ignore[no-untyped-def]
    """A customer who complained, asked, ordered and got a note: what the 360 page shows."""
    cfg = f.config()
    rules = f.ruleset(cfg)
    with db.write() as session:
        kim = f.customer(
            session,
            "K-42",
            "Kim Krause",
            email="kim@example.de",
            handles={"reddit": "kimk"},
            company="Krause KG",
            segment="premium",
        )
        f.order(session, "A-4242", kim.id, ["Wasserkocher"], days_ago=10)
        complaint = f.mention(
            session,
            "Die Lieferung ist nie angekommen! Wann kommt sie?",
            author="kimk",
            source="r-acme",
            source_type="reddit",
            sentiment="negative",
            language="de",
            published_at=f.NOW - timedelta(days=1),
        )
        f.process(session, complaint, cfg, rules)
        customers.add_note(session, kim.id, "Rückruf vereinbart", actor="maria")
        return kim.id, complaint.id


def test_customer_360_view(db) -> None:
    kim_id, complaint_id = _story(db)
    with db.write() as session:
        draft = drafts.list_drafts(session)[0]
        drafts.approve(session, draft.id, user="cm1")
        drafts.mark_sent(session, draft.id, "t1_r", "https://reddit.example/t1_r")
    with db.read() as session:
        view = customers.customer_view(session, kim_id)
        assert view.customer.customer_ref == "K-42"
        assert (view.emails, [i.handle for i in view.identities]) == (["kim@example.de"], ["kimk"])
        assert [o.order_number for o in view.orders] == ["A-4242"]
        assert [m.id for m in view.mentions] == [complaint_id]
        assert len(view.tickets) == 1 and len(view.drafts) == 1
        assert view.sentiment_counts == {"negative": 1}
        kinds = [e.kind for e in view.timeline]
        assert sorted(kinds) == sorted(["mention", "ticket_opened", "draft", "reply_sent", "note", "order"])
        assert [e.at for e in view.timeline] == sorted((e.at for e in view.timeline), reverse=True)


def test_edit_and_search(db) -> None:
    kim_id, _ = _story(db)
    with db.write() as session:
        customers.update_customer(
            session, kim_id, actor="lead", segment="vip", tags=["beta", " "], consent_marketing=True
        )
        with pytest.raises(InvalidInputError, match="cannot edit customer_ref"):
            customers.update_customer(session, kim_id, actor="lead", customer_ref="X")
        customers.add_contact(session, kim_id, "phone", "+49 30 555 0101", actor="lead")
        with pytest.raises(InvalidInputError, match="not a valid e-mail"):
            customers.add_contact(session, kim_id, "email", "kim-at-example", actor="lead")
    with db.read() as session:
        kim = session.get(Customer, kim_id)
        assert (kim.segment, kim.tags, kim.consent_marketing) == ("vip", ["beta"], True)
        for needle in ("krause", "KIM@example", "kimk", "K-42", "krause kg"):
            assert [c.id for c in customers.list_customers(session, search=needle)] == [kim_id], needle
        assert customers.list_customers(session, search="nobody") == []
        # Wildcards typed by a person are literal: "%" must not list every customer.
        assert customers.list_customers(session, search="%") == []
        assert customers.list_customers(session, search="k_42") == []
        with pytest.raises(NotFoundError):
            customers.find_by_ref(session, "K-0")


def test_merge_on_command_moves_everything_and_is_audited(db) -> None:
    kim_id, complaint_id = _story(db)
    with db.write() as session:
        twin = f.customer(
            session,
            "K-43",
            "Kim Krause",
            email="kim@example.de",
            phone="0171 2223334",
            company="Krause KG",
            handles={"mastodon": "kim@social.example"},
        )
        found = merges.detect_candidates(session)
        assert [(c.customer_a_id, c.customer_b_id, c.reason) for c in found] == [
            (kim_id, twin.id, "same e-mail kim@example.de")
        ]
        assert session.get(Customer, twin.id).merged_into_id is None  # detection never merges
        merges.merge_by_ref(session, "K-42", "K-43", actor="lead")
        with pytest.raises(ConflictError, match="already merged"):
            merges.merge_customers(session, kim_id, twin.id, actor="lead")
    with db.read() as session:
        assert session.get(Customer, twin.id).merged_into_id == kim_id
        handles = sorted(i.handle for i in session.exec(select(Identity).where(Identity.customer_id == kim_id)))
        assert handles == ["kim@social.example", "kimk"]
        points = sorted(p.value for p in session.exec(select(ContactPoint).where(ContactPoint.customer_id == kim_id)))
        assert points == ["01712223334", "kim@example.de"]
        assert session.exec(select(MergeCandidate)).one().status == "merged"
        assert customers.customer_view(session, twin.id).customer.id == kim_id  # merged records redirect
        assert session.get(Mention, complaint_id).customer_id == kim_id


def test_dismissed_candidates_are_not_suggested_again(db) -> None:
    with db.write() as session:
        f.customer(session, "K-1", "Ole", email="family@example.de")
        f.customer(session, "K-2", "Ute", email="family@example.de")
        [candidate] = merges.detect_candidates(session)
        merges.dismiss_candidate(session, candidate.id, actor="lead")
        assert merges.detect_candidates(session) == []
        assert merges.list_candidates(session) == []


def test_sentiment_corrections_feed_retraining(db) -> None:
    _, complaint_id = _story(db)
    with db.write() as session:
        neutral = f.mention(session, "Lieferung kam heute, danke", title="Update", language="de")
        corrections.correct_sentiment(session, complaint_id, "neutral", "cm1")
        corrections.correct_sentiment(session, complaint_id, "negative", "cm2")  # the latest wins
        corrections.correct_sentiment(session, neutral.id, "positive", "cm1")
        with pytest.raises(InvalidInputError, match="unknown sentiment"):
            corrections.correct_sentiment(session, neutral.id, "angry", "cm1")
        with pytest.raises(NotFoundError):
            corrections.correct_sentiment(session, 99999, "positive", "cm1")
    with db.read() as session:
        assert session.get(Mention, neutral.id).sentiment == "positive"
        history = session.exec(
            select(SentimentCorrection.old_label, SentimentCorrection.new_label).where(
                SentimentCorrection.mention_id == complaint_id
            )
        ).all()
        assert history == [("negative", "neutral"), ("neutral", "negative")]
        examples = sorted(corrections.corrected_examples(session))
    assert examples == [
        ("Die Lieferung ist nie angekommen! Wann kommt sie?", "negative", "de"),
        ("Update\nLieferung kam heute, danke", "positive", "de"),
    ]


def test_export_rows_carry_customer_ref_and_leave_out_merged(db) -> None:
    kim_id, _ = _story(db)
    with db.write() as session:
        gone = f.customer(session, "K-99", "Old")
        merges.merge_customers(session, kim_id, gone.id, actor="lead")
    with db.read() as session:
        rows = list(customers.export_customers_rows(session))
    assert [r["customer_ref"] for r in rows] == ["K-42"]
    row = rows[0]
    assert (row["name"], row["emails"], row["identities"], row["orders"], row["is_prospect"]) == (
        "Kim Krause",
        ["kim@example.de"],
        ["reddit:kimk"],
        1,
        False,
    )
    assert row["created_at"].endswith("Z")
