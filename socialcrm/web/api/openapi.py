"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

Its parameters and bodies are written from the request models the handlers validate with (schemas.py),
so the document and the server cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from socialcrm.models import DRAFT_STATUSES, SENTIMENT_LABELS, TICKET_STATUSES
from socialcrm.web.api import schemas
from socialcrm.web.views.params import MAX_ID

DESCRIPTION = """\
Read mentions, tickets, reply drafts and customers; approve or reject drafts; move tickets.

Authentication: `Authorization: Bearer <token>`; an admin creates tokens under Admin → Users and API tokens.
Each token acts as its user, with that user's role (admin, community, service, marketing).

Paging: lists return the newest records first, at most `limit` (50; up to 200) a page. While more
follow, the body's `next` and the `Link: <next>; rel="next"` header (RFC 8288; a reference relative to
the request) give the next page's address, and `next_cursor` is what to pass as `cursor` for it; on
the last page all three are absent or null. Lists carry no total: counting every match of a filter
on millions of mentions would cost more than the page itself.

Input: query parameters and bodies are checked against this document. An unknown or repeated parameter,
an unknown body field, `null` for a field (leave it out instead) or a number out of range is a 400 that
names the field and says why; a body that is neither JSON nor a form is a 415.

Outbound webhooks (configured in `[[webhooks]]`) are POSTed as JSON following the Standard Webhooks
specification: `webhook-id` (the same on every retry), `webhook-timestamp` (Unix seconds) and
`webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">`; verify them with a
`standardwebhooks` library and the webhook's `whsec_` secret. Each also carries `Idempotency-Key` and,
while `legacy_signature` is on, the first release's `X-SocialCRM-Timestamp` and
`X-SocialCRM-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the webhook's secret>`.
"""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(fmt: str | None = None, nullable: bool = True, enum: tuple[str, ...] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": ["string", "null"] if nullable else "string"}
    if fmt:
        schema["format"] = fmt
    if enum:
        schema["enum"] = list(enum)
    return schema


_INT = {"type": "integer"}
_INT_NULL = {"type": ["integer", "null"]}
_TIME = _string("date-time")
_SCHEMAS: dict[str, Any] = {
    "Mention": {
        "type": "object",
        "properties": {
            "id": _INT,
            "source": _string(nullable=False),
            "source_type": _string(nullable=False),
            "external_id": _string(nullable=False),
            "url": _string("uri"),
            "thread_id": _string(),
            "author": _string(),
            "author_name": _string(),
            "title": _string(),
            "text": _string(nullable=False),
            "language": _string(),
            "sentiment": _string(enum=SENTIMENT_LABELS),
            "sentiment_score": {"type": ["number", "null"]},
            "customer_id": _INT_NULL,
            "customer_ref": _string(),
            "group": _string(),
            "tags": {"type": "array", "items": {"type": "string"}},
            "published_at": _TIME,
            "fetched_at": _TIME,
            "labels": {"type": "array", "items": {"type": "string"}, "description": "custom labels predicted"},
        },
    },
    "Ticket": {
        "type": "object",
        "properties": {
            "id": _INT,
            "status": _string(nullable=False, enum=TICKET_STATUSES),
            "priority": _string(nullable=False),
            "team": _string(),
            "assignee": _string(),
            "rule": _string(),
            "subject": _string(),
            "customer_id": _INT_NULL,
            "customer_ref": _string(),
            "merged_into_id": _INT_NULL,
            "mention_ids": {"type": "array", "items": _INT},
            "created_at": _TIME,
            "updated_at": _TIME,
            "first_response_due": _TIME,
            "resolution_due": _TIME,
            "first_response_at": _TIME,
            "resolved_at": _TIME,
            "closed_at": _TIME,
            "notes": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Draft": {
        "type": "object",
        "properties": {
            "id": _INT,
            "status": _string(nullable=False, enum=DRAFT_STATUSES),
            "version": _INT,
            "rule": _string(),
            "template": _string(),
            "language": _string(),
            "text": _string(nullable=False),
            "original_text": _string(),
            "mention_id": _INT,
            "customer_id": _INT_NULL,
            "customer_ref": _string(),
            "assignee": _string(),
            "created_at": _TIME,
            "approved_by": _string(),
            "approved_at": _TIME,
            "rejected_by": _string(),
            "rejected_reason": _string(),
            "sent_at": _TIME,
            "external_reply_url": _string(),
            "error": _string(),
        },
    },
    "Customer": {
        "type": "object",
        "properties": {
            "id": _INT,
            "customer_ref": _string(nullable=False),
            "name": _string(),
            "company": _string(),
            "segment": _string(),
            "tags": {"type": "array", "items": {"type": "string"}},
            "is_prospect": {"type": "boolean"},
            "merged_into_id": _INT_NULL,
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    },
    "Error": {"type": "object", "properties": {"error": _string(nullable=False), "status": _INT}},
}

_ID = [
    {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }
]


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional field's schema without its ``null`` branch: leaving a field out is how it is left empty."""
    branches = schema.get("anyOf")
    if branches and {"type": "null"} in branches:
        rest = [b for b in branches if b != {"type": "null"}]
        merged = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        schema = {**merged, **rest[0]} if len(rest) == 1 else {**merged, "anyOf": rest}
    if schema.get("default", ...) is None:
        schema = {k: v for k, v in schema.items() if k != "default"}
    schema.pop("title", None)
    return schema


def model_schema(model: type[schemas.ApiModel]) -> dict[str, Any]:
    """The JSON Schema of a request model as the document shows it (no titles, no null for an optional field)."""
    schema = model.model_json_schema()
    schema.pop("title", None)
    schema.pop("description", None)
    schema["properties"] = {name: _without_null(p) for name, p in schema["properties"].items()}
    return schema


def query_parameters(model: type[schemas.ApiModel]) -> list[dict[str, Any]]:
    """The query parameters of a request model, in the order of its fields."""
    schema = model_schema(model)
    required = set(schema.get("required", []))
    parameters = []
    for name, field in schema["properties"].items():
        description = field.pop("description", None)
        parameter = {"name": name, "in": "query", "required": name in required, "schema": field}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Invalid input",
        401: "No or invalid bearer token",
        403: "The token's role may not do this",
        404: "Not found",
        409: "Someone else changed the record first",
        415: "The body is neither JSON nor a form",
    }
    return {
        str(c): {"description": reasons[c], "content": {"application/json": {"schema": _ref("Error")}}} for c in codes
    }


def _list(tag: str, schema: str, summary: str, query: type[schemas.ApiModel]) -> dict[str, Any]:
    return {
        "get": {
            "tags": [tag],
            "summary": summary,
            "parameters": query_parameters(query),
            "responses": {
                "200": {
                    "description": "A page, newest first",
                    "headers": {
                        "Link": {
                            "description": 'The next page, when there is one: `<next>; rel="next"` (RFC 8288)',
                            "schema": {"type": "string"},
                        }
                    },
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "items": {"type": "array", "items": _ref(schema)},
                                    "next_cursor": _string(),
                                    "next": _string(),
                                },
                            }
                        }
                    },
                },
                **_errors(400, 401, 403),
            },
        }
    }


def _one(tag: str, schema: str, summary: str) -> dict[str, Any]:
    return {
        "get": {
            "tags": [tag],
            "summary": summary,
            "parameters": _ID,
            "responses": {
                "200": {"description": summary, "content": {"application/json": {"schema": _ref(schema)}}},
                **_errors(401, 403, 404),
            },
        }
    }


def _action(tag: str, schema: str, summary: str, body: type[schemas.ApiModel], required: bool = True) -> dict[str, Any]:
    body_schema = model_schema(body)
    return {
        "post": {
            "tags": [tag],
            "summary": summary,
            "parameters": _ID,
            "requestBody": {
                "required": required,
                "content": {"application/json": {"schema": body_schema}},
            },
            "responses": {
                "200": {
                    "description": "The record after the change",
                    "content": {"application/json": {"schema": _ref(schema)}},
                },
                **_errors(400, 401, 403, 404, 409, 415),
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of /api/v1 that /api/v1/openapi.json serves."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "socialcrm API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _SCHEMAS,
        },
        "paths": {
            "/mentions": _list("mentions", "Mention", "Stored mentions", schemas.MentionQuery),
            "/mentions/{id}": _one("mentions", "Mention", "One mention"),
            "/tickets": _list("tickets", "Ticket", "Tickets (merged duplicates left out)", schemas.TicketQuery),
            "/tickets/{id}": _one("tickets", "Ticket", "One ticket with its mention ids and notes"),
            "/tickets/{id}/status": _action(
                "tickets", "Ticket", "Move a ticket to another status", schemas.TicketStatusBody
            ),
            "/tickets/{id}/notes": _action("tickets", "Ticket", "Add a note", schemas.TicketNoteBody),
            "/drafts": _list("drafts", "Draft", "Reply drafts", schemas.DraftQuery),
            "/drafts/{id}": _one("drafts", "Draft", "One reply draft"),
            "/drafts/{id}/approve": _action(
                "drafts",
                "Draft",
                "Approve a pending draft (optionally with a final text); 409 if someone was first",
                schemas.DraftApproveBody,
                required=False,
            ),
            "/drafts/{id}/reject": _action(
                "drafts", "Draft", "Reject a pending draft with a reason", schemas.DraftRejectBody
            ),
            "/customers": _list("customers", "Customer", "Customers", schemas.CustomerQuery),
            "/customers/{id}": _one("customers", "Customer", "One customer with identities, orders and related ids"),
        },
    }
