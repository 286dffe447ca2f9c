"""Builders shared by the rules, linking and service tests: configs, customers and mentions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlmodel import Session

from socialcrm.config import Config, parse_config
from socialcrm.linking import link_mention, normalize_phone
from socialcrm.models import ContactPoint, Customer, Identity, Mention, Order
from socialcrm.rules.facts import build_facts
from socialcrm.rules.loader import compile_rules
from socialcrm.rules.ruleset import RuleSet
from socialcrm.services.actions import ActionContext, apply_evaluation

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
_ids = count(1)

DEMO_RULES = """
[[rules]]
name = "complaint-ticket"
order = 10
stop = false
[rules.when]
sentiment = ["negative"]
language = ["de", "en"]
source_type = ["feed", "reddit"]
query = '(lieferung OR versand OR delivery OR "never arrived") AND NOT gewinnspiel'
customer = "linked"
[[rules.then]]
action = "open_ticket"
team = "service"
priority = "high"

[[rules]]
name = "question-reply"
[rules.when]
query = 'wie OR wann OR warum OR how OR when OR why'
[[rules.then]]
action = "draft_reply"
template = "question"

[templates.question]
de = "Hallo {{ author }}, danke für Ihre Frage ..."
en = "Hi {{ author }}, thanks for your question ..."
"""


def config(toml: str = DEMO_RULES) -> Config:
    return parse_config(toml)


def ruleset(cfg: Config) -> RuleSet:
    return compile_rules(cfg.rules, cfg.templates, webhooks={w.name for w in cfg.webhooks})


def customer(
    session: Session,
    ref: str,
    name: str | None = None,
    *,
    email: str | None = None,
    phone: str | None = None,
    handles: dict[str, str] | None = None,
    company: str | None = None,
    segment: str | None = None,
    tags: list[str] | None = None,
) -> Customer:
    record = Customer(customer_ref=ref, name=name, company=company, segment=segment, tags=tags or [])
    session.add(record)
    session.flush()
    assert record.id is not None
    if email:
        session.add(ContactPoint(customer_id=record.id, kind="email", value=email.lower()))
    if phone:
        session.add(ContactPoint(customer_id=record.id, kind="phone", value=normalize_phone(phone) or phone))
    for platform, handle in (handles or {}).items():
        session.add(Identity(platform=platform, handle=handle.lower(), customer_id=record.id))
    session.flush()
    return record


def order(session: Session, number: str, customer_id: int, products: list[str], days_ago: int = 3) -> Order:
    record = Order(
        order_number=number,
        customer_id=customer_id,
        products=products,
        ordered_at=NOW - timedelta(days=days_ago),
        status="shipped",
    )
    session.add(record)
    session.flush()
    return record


def mention(
    session: Session,
    text: str,
    *,
    author: str | None = "someone",
    source: str = "acme-forum",
    source_type: str = "feed",
    sentiment: str = "neutral",
    score: float = 0.8,
    language: str = "en",
    thread: str | None = None,
    title: str | None = None,
    author_name: str | None = None,
    published_at: datetime | None = None,
    metrics: dict[str, Any] | None = None,
    external_id: str | None = None,
) -> Mention:
    record = Mention(
        source=source,
        source_type=source_type,
        external_id=external_id or f"post-{next(_ids)}",
        url="https://forum.example/p/1",
        thread_id=thread,
        author=author,
        author_name=author_name,
        title=title,
        text=text,
        language=language,
        sentiment=sentiment,
        sentiment_score=score,
        published_at=published_at or NOW,
        author_metrics=metrics or {},
    )
    session.add(record)
    session.flush()
    return record


def process(session: Session, record: Mention, cfg: Config, rules: RuleSet, now: datetime = NOW) -> Any:
    """What the pipeline does for one new mention: link, facts, evaluate, apply."""
    link_mention(session, record, cfg.linking, now)
    facts = build_facts(session, record, rules, now)
    evaluation = rules.evaluate(facts)
    apply_evaluation(session, record, evaluation, ActionContext(config=cfg, now=now, actor="daemon"))
    return evaluation
