"""Test data for the web tests, stored through the real models and services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count

from sqlmodel import Session

from socialcrm.db import Database
from socialcrm.models import Customer, CustomLabel, Decision, Identity, Mention, Order, SourceState, utcnow
from socialcrm.services import drafts, saved_replies, tickets, users
from socialcrm.services.saved_replies import SavedReplyInput

PASSWORD = "correct horse battery"
ROLES = ("admin", "community", "service", "marketing")
_ids = count(1)


def make_users(db: Database) -> None:
    with db.write() as s:
        for role in ROLES:
            users.create_user(s, role, role, PASSWORD, actor="test")


def add_customer(s: Session, name: str = "Erika Mustermann", ref: str | None = None, **extra: object) -> Customer:
    customer = Customer(customer_ref=ref or f"K-{next(_ids):05d}", name=name, **extra)
    s.add(customer)
    s.flush()
    return customer


def add_mention(
    s: Session,
    text: str = "Meine Bestellung ist nicht angekommen.",
    *,
    source: str = "acme-blog",
    source_type: str = "feed",
    sentiment: str | None = "negative",
    customer: Customer | None = None,
    title: str | None = None,
    author: str = "erika",
    thread_id: str | None = None,
    published_at: datetime | None = None,
    url: str = "https://blog.example.com/post/1",
    language: str = "de",
    group: str | None = "brand",
    tags: list[str] | None = None,
) -> Mention:
    n = next(_ids)
    mention = Mention(
        source=source,
        source_type=source_type,
        external_id=f"ext-{n}",
        url=url,
        thread_id=thread_id or f"t-{n}",
        author=author,
        author_name=author.title(),
        title=title,
        text=text,
        language=language,
        sentiment=sentiment,
        sentiment_score=0.9 if sentiment else None,
        customer_id=customer.id if customer else None,
        group=group,
        tags=tags or [],
        published_at=published_at or utcnow() - timedelta(hours=2),
    )
    s.add(mention)
    s.flush()
    return mention


@dataclass
class World:
    """Ids of one small, complete data set: a customer with a complaint, a ticket and a pending draft."""

    customer_id: int
    mention_id: int
    ticket_id: int
    draft_id: int
    other_ticket_id: int
    saved_reply_id: int
    label_id: int = 0  # a custom label "churn" (defined, not trained)


def make_world(
    db: Database,
    *,
    source_type: str = "mastodon",
    draft_text: str | None = None,
    mention_text: str | None = None,
) -> World:
    with db.write() as s:
        customer = add_customer(s, "Erika Mustermann")
        s.add(Identity(platform=source_type, handle="erika", customer_id=customer.id))
        s.add(
            Order(
                order_number=f"A-{next(_ids):06d}",
                customer_id=customer.id,
                ordered_at=datetime(2026, 10, 1, tzinfo=UTC),
                products=["Kaffeemaschine X1"],
                status="shipped",
            )
        )
        mention = add_mention(
            s,
            mention_text or "Meine Bestellung ist nicht angekommen. Was ist da los?",
            customer=customer,
            source=f"acme-{source_type}",
            source_type=source_type,
            title="Lieferung",
        )
        s.add(
            Decision(
                mention_id=mention.id,
                rule="question-reply",
                fired=True,
                explanation={
                    "order": 100,
                    "matched": True,
                    "conditions": [
                        {
                            "condition": "sentiment",
                            "matched": True,
                            "expected": ["negative"],
                            "actual": "negative",
                        }
                    ],
                },
            )
        )
        ticket = tickets.open_ticket(
            s,
            subject="Lieferung fehlt",
            priority="high",
            customer_id=customer.id,
            thread_key=f"{mention.source}:{mention.thread_id}",
            rule="complaint",
            mention_id=mention.id,
        )
        other = tickets.open_ticket(
            s,
            subject="Lieferung fehlt (Duplikat)",
            customer_id=customer.id,
            thread_key="x:dup",
            rule="complaint",
        )
        draft = drafts.create_draft(
            s,
            mention=mention,
            text=draft_text or "Das tut uns leid! Wir kümmern uns.",
            language="de",
            rule="question-reply",
        )
        saved = saved_replies.create(
            s, SavedReplyInput("danke", "de", "Danke", "Danke, {{ customer_name }}!"), actor="test"
        )
        s.add(SourceState(name="acme-blog", type="feed", state="ok", last_success_at=utcnow()))
        label = CustomLabel(name="churn", title="Churn signal")
        s.add(label)
        s.flush()
        assert customer.id and mention.id and ticket.id and draft.id and other.id and saved.id and label.id
        return World(customer.id, mention.id, ticket.id, draft.id, other.id, saved.id, label.id)
