"""Facts: everything the rules may look at for one mention, gathered from the database up front.

``build_facts`` does the reading (customer, open tickets, orders, volume counts); ``RuleSet.evaluate``
then decides from the facts alone, so evaluation is pure and a backtest can replay it safely.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from socialcrm import threads
from socialcrm.models import OPEN_TICKET_STATUSES, Customer, CustomLabel, Mention, MentionLabel, Order, Ticket
from socialcrm.rules.text import fold, words

if TYPE_CHECKING:
    from socialcrm.rules.ruleset import RuleSet


@dataclass(frozen=True)
class Facts:
    """What one mention and its customer look like to the rules."""

    source: str
    source_type: str
    text: str
    mention_id: int | None = None
    language: str | None = None
    sentiment: str | None = None
    sentiment_score: float | None = None
    author: str | None = None
    author_metrics: Mapping[str, Any] = field(default_factory=dict)
    thread_key: str = ""
    published_at: datetime | None = None
    customer_id: int | None = None
    customer_ref: str | None = None
    customer_name: str | None = None
    customer_is_prospect: bool = False
    consent_marketing: bool = False
    segment: str | None = None
    customer_tags: frozenset[str] = frozenset()
    open_ticket_ids: tuple[int, ...] = ()
    ordered_products: frozenset[str] = frozenset()
    volume: Mapping[str, int] = field(default_factory=dict)
    labels: Mapping[str, float] = field(default_factory=dict)  # custom labels predicted, name -> score
    words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.words:
            object.__setattr__(self, "words", words(self.text))

    @property
    def customer_linked(self) -> bool:
        """True when the mention belongs to a known customer (not a prospect, not nobody)."""
        return self.customer_id is not None and not self.customer_is_prospect


def thread_key(mention: Mention) -> str:
    """The key that groups a mention with its thread: ``source:thread_id`` (or its own id)."""
    return threads.thread_key(mention.source, mention.thread_id or mention.external_id)


def mention_text(mention: Mention) -> str:
    """Title and body as the rules see them."""
    return f"{mention.title}\n{mention.text}" if mention.title else mention.text


def build_facts(session: Session, mention: Mention, ruleset: RuleSet, now: datetime) -> Facts:
    """Read what the rules need about ``mention`` (already flushed and linked) from the database."""
    customer = session.get(Customer, mention.customer_id) if mention.customer_id is not None else None
    open_ids: tuple[int, ...] = ()
    products: frozenset[str] = frozenset()
    if customer is not None and customer.id is not None and ruleset.needs_open_tickets:
        open_ids = tuple(
            ticket_id
            for ticket_id in session.exec(
                select(Ticket.id)
                .where(Ticket.customer_id == customer.id, col(Ticket.status).in_(OPEN_TICKET_STATUSES))
                .order_by(col(Ticket.id))
            )
            if ticket_id is not None
        )
    if customer is not None and customer.id is not None and ruleset.needs_orders:
        products = ordered_products(
            order.products for order in session.exec(select(Order).where(Order.customer_id == customer.id))
        )
    volume = {cond.key: cond.count(session, mention, now) for cond in ruleset.volume_conditions}
    labels = predicted_labels(session, mention.id) if ruleset.needs_labels and mention.id is not None else {}
    return facts_for(mention, customer, open_ids, products, volume, labels)


def ordered_products(product_lists: Iterable[Sequence[str] | None]) -> frozenset[str]:
    """The folded names of every product in these orders' product lists."""
    return frozenset(fold(product) for products in product_lists for product in products or ())


def facts_for(
    mention: Mention,
    customer: Customer | None,
    open_ticket_ids: tuple[int, ...],
    products: frozenset[str],
    volume: Mapping[str, int],
    labels: Mapping[str, float] | None = None,
    words: tuple[str, ...] = (),
) -> Facts:
    """The facts of ``mention`` from what was read about it (no I/O): the batch pipeline reads in bulk.

    ``words``: the words of its text, when the caller split them already (else they are split here).
    """
    return Facts(
        mention_id=mention.id,
        source=mention.source,
        source_type=mention.source_type,
        text=mention_text(mention),
        language=mention.language,
        sentiment=mention.sentiment,
        sentiment_score=mention.sentiment_score,
        author=mention.author,
        author_metrics=dict(mention.author_metrics or {}),
        thread_key=thread_key(mention),
        published_at=mention.published_at,
        customer_id=customer.id if customer else None,
        customer_ref=customer.customer_ref if customer else None,
        customer_name=customer.name if customer else None,
        customer_is_prospect=bool(customer and customer.is_prospect),
        consent_marketing=bool(customer and customer.consent_marketing),
        segment=customer.segment if customer else None,
        customer_tags=frozenset(fold(t) for t in (customer.tags if customer else ()) or ()),
        open_ticket_ids=open_ticket_ids,
        ordered_products=products,
        volume=dict(volume),
        labels=dict(labels or {}),
        words=words,
    )


def predicted_labels(session: Session, mention_id: int) -> dict[str, float]:
    """The switched-on custom labels predicted for a mention, name -> score."""
    rows = session.exec(
        select(CustomLabel.name, MentionLabel.score)
        .join(MentionLabel, col(MentionLabel.label_id) == CustomLabel.id)
        .where(MentionLabel.mention_id == mention_id, col(CustomLabel.enabled).is_(True))
    )
    return {name: score for name, score in rows}
