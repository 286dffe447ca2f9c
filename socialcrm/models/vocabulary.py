"""The words the application stores and checks, defined once: each a ``Literal`` type and its tuple of values.

Everything above the models (config, rules, services, web, CLI) imports these names instead of
spelling the values out again. The tuples keep the order people see in lists and error messages.
``classifiers`` cannot import socialcrm and keeps its own copy of the sentiment labels; a test
checks that the two agree.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Priority = Literal["low", "normal", "high", "urgent"]
PRIORITIES: Final[tuple[Priority, ...]] = get_args(Priority)

Role = Literal["admin", "community", "service", "marketing"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)

UiLanguage = Literal["en", "de"]
"""The web app's languages (a user's choice, ``[web] default_language``), also those of saved replies; English
first, the fallback."""
UI_LANGUAGES: Final[tuple[UiLanguage, ...]] = get_args(UiLanguage)

SentimentLabel = Literal["negative", "neutral", "positive"]
SENTIMENT_LABELS: Final[tuple[SentimentLabel, ...]] = get_args(SentimentLabel)

TicketStatus = Literal["new", "open", "pending", "resolved", "closed"]
TICKET_STATUSES: Final[tuple[TicketStatus, ...]] = get_args(TicketStatus)
OPEN_TICKET_STATUSES: Final[tuple[TicketStatus, ...]] = ("new", "open", "pending")
"""A ticket in one of these still needs work: it counts as open for rules, queues and SLA checks."""

DraftStatus = Literal["pending", "approved", "rejected", "sent", "failed"]
DRAFT_STATUSES: Final[tuple[DraftStatus, ...]] = get_args(DraftStatus)

LinkMethod = Literal["identity", "prospect", "confirmed", "email", "phone", "order", "customer_ref", "fuzzy_name"]
"""How a mention came to its customer (``Mention.link_method``) or why a link was suggested."""
LINK_METHODS: Final[tuple[LinkMethod, ...]] = get_args(LinkMethod)
TextLinkMethod = Literal["email", "phone", "order", "customer_ref"]
"""Evidence found in a post's text; a link on it is strong but waits in the review list."""
TEXT_LINK_METHODS: Final[tuple[TextLinkMethod, ...]] = get_args(TextLinkMethod)

SourceStatus = Literal["ok", "backoff", "auth_failed", "paused", "error", "new"]
"""A source's health: fine, backing off after failures, stopped by bad credentials, paused by a person,
never polled. "error" is reserved: the first release listed it, no code writes it."""
SOURCE_STATES: Final[tuple[SourceStatus, ...]] = get_args(SourceStatus)

WebhookEvent = Literal["notify", "alert"]
"""What a webhook can be sent: ``notify`` (a rule's notify action), ``alert`` (a spike, [alerts]). Each is
queued through ``services.outbox.enqueue_webhook`` somewhere (tests/core/test_standard_webhooks.py checks both
directions)."""
WEBHOOK_EVENTS: Final[tuple[WebhookEvent, ...]] = get_args(WebhookEvent)

__all__ = [
    "DRAFT_STATUSES",
    "LINK_METHODS",
    "OPEN_TICKET_STATUSES",
    "PRIORITIES",
    "ROLES",
    "SENTIMENT_LABELS",
    "SOURCE_STATES",
    "TEXT_LINK_METHODS",
    "TICKET_STATUSES",
    "UI_LANGUAGES",
    "WEBHOOK_EVENTS",
    "DraftStatus",
    "LinkMethod",
    "Priority",
    "Role",
    "SentimentLabel",
    "SourceStatus",
    "TextLinkMethod",
    "TicketStatus",
    "UiLanguage",
    "WebhookEvent",
]
