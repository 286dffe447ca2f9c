"""SQLModel tables of socialcrm; importing this package registers every table in SQLModel.metadata."""

from socialcrm.models.columns import JSONType, UTCDateTime, utcnow
from socialcrm.models.crm import (
    ContactPoint,
    Customer,
    CustomerNote,
    Identity,
    LinkSuggestion,
    MergeCandidate,
    Order,
)
from socialcrm.models.engine import ActionKey, AuditEntry, Decision, OutboxItem
from socialcrm.models.mentions import Mention, SentimentCorrection
from socialcrm.models.sources import SOURCE_STATES, SourceState
from socialcrm.models.users import ApiToken, User, WebSession
from socialcrm.models.work import (
    DRAFT_STATUSES,
    TICKET_STATUSES,
    DraftEdit,
    ReplyDraft,
    Ticket,
    TicketMention,
    TicketNote,
)

__all__ = [
    "DRAFT_STATUSES",
    "SOURCE_STATES",
    "TICKET_STATUSES",
    "ActionKey",
    "ApiToken",
    "AuditEntry",
    "ContactPoint",
    "Customer",
    "CustomerNote",
    "Decision",
    "DraftEdit",
    "Identity",
    "JSONType",
    "LinkSuggestion",
    "Mention",
    "MergeCandidate",
    "Order",
    "OutboxItem",
    "ReplyDraft",
    "SentimentCorrection",
    "SourceState",
    "Ticket",
    "TicketMention",
    "TicketNote",
    "UTCDateTime",
    "User",
    "WebSession",
    "utcnow",
]
