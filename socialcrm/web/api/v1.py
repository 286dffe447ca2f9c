"""JSON API v1: mentions, tickets, drafts and customers, paged newest first; a few actions on drafts and tickets."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from sqlmodel import col

from socialcrm.errors import ConflictError
from socialcrm.models import DRAFT_STATUSES, SENTIMENT_LABELS, TICKET_STATUSES, Customer, Mention, ReplyDraft, Ticket
from socialcrm.services import customers, tickets
from socialcrm.services.records import iso
from socialcrm.web import actions
from socialcrm.web.api import queries, serialize
from socialcrm.web.api.openapi import openapi_document
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.security import requires, user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY

PREFIX = "/api/v1"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
routes = web.RouteTableDef()


def _paging(request: web.Request) -> tuple[int | None, int]:
    q = request.query
    limit = params.integer(q, "limit", 1) or DEFAULT_LIMIT
    if limit > MAX_LIMIT:
        raise web.HTTPBadRequest(text=f"limit: at most {MAX_LIMIT}")
    return params.integer(q, "cursor", 1), limit


def _listing(request: web.Request, items: list[dict[str, Any]], cursor: int | None) -> web.Response:
    next_url = None
    if cursor is not None:
        query = {**request.query, "cursor": str(cursor)}
        next_url = str(request.rel_url.with_query(query))
    return web.json_response({"items": items, "next_cursor": str(cursor) if cursor else None, "next": next_url})


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        form = await request.post()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise web.HTTPBadRequest(text=f"body: not valid JSON ({err})") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body: must be a JSON object")
    return body


@routes.get(PREFIX + "/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3 description of this API (any logged-in user)."""
    user_of(request)
    return web.json_response(openapi_document())


@routes.get(PREFIX + "/mentions")
@requires("community", "service", "marketing")
async def list_mentions(request: web.Request) -> web.Response:
    """Mentions, newest first, filtered by source, sentiment, language, since and customer; paged by cursor."""
    q = request.query
    filters: list[Any] = []
    if source := params.text(q, "source", 64):
        filters.append(Mention.source == source)
    if sentiment := params.choice(q, "sentiment", SENTIMENT_LABELS):
        filters.append(Mention.sentiment == sentiment)
    if language := params.text(q, "language", 8):
        filters.append(Mention.language == language)
    if since := params.day(q, "since"):
        filters.append(col(Mention.published_at) >= since)
    if (customer_id := params.integer(q, "customer_id", 1)) is not None:
        filters.append(Mention.customer_id == customer_id)
    before, limit = _paging(request)
    rows, cursor = await request.app[DB_KEY].run_read(lambda s: queries.mentions(s, filters, before, limit))
    return _listing(request, [serialize.mention(m, ref) for m, ref in rows], cursor)


@routes.get(PREFIX + r"/mentions/{id:\d+}")
@requires("community", "service", "marketing")
async def get_mention(request: web.Request) -> web.Response:
    """One mention."""
    mention_id = params.path_id(request)
    rows, _ = await request.app[DB_KEY].run_read(lambda s: queries.mentions(s, [Mention.id == mention_id], None, 1))
    if not rows:
        raise web.HTTPNotFound(text=f"no mention {mention_id}")
    return web.json_response(serialize.mention(*rows[0]))


@routes.get(PREFIX + "/tickets")
@requires("service")
async def list_tickets(request: web.Request) -> web.Response:
    """Tickets (merged ones left out), newest first, filtered by status, assignee and customer."""
    q = request.query
    filters: list[Any] = [col(Ticket.merged_into_id).is_(None)]
    if status := params.choice(q, "status", TICKET_STATUSES):
        filters.append(Ticket.status == status)
    if assignee := params.text(q, "assignee", 64):
        filters.append(Ticket.assignee == assignee)
    if (customer_id := params.integer(q, "customer_id", 1)) is not None:
        filters.append(Ticket.customer_id == customer_id)
    before, limit = _paging(request)
    rows, cursor = await request.app[DB_KEY].run_read(lambda s: queries.tickets(s, filters, before, limit))
    return _listing(request, [serialize.ticket(t, ids, ref) for t, ids, ref in rows], cursor)


@routes.get(PREFIX + r"/tickets/{id:\d+}")
@requires("service")
async def get_ticket(request: web.Request) -> web.Response:
    """One ticket with its mention ids and notes."""
    ticket_id = params.path_id(request)
    detail = await request.app[DB_KEY].run_read(lambda s: tickets.ticket_detail(s, ticket_id))
    data = serialize.ticket(
        detail.ticket,
        [m.id for m in detail.mentions if m.id is not None],
        detail.customer.customer_ref if detail.customer else None,
    )
    data["notes"] = [serialize.note(n) for n in detail.notes]
    return web.json_response(data)


@routes.post(PREFIX + r"/tickets/{id:\d+}/status")
@requires("service")
async def ticket_status(request: web.Request) -> web.StreamResponse:
    """Move a ticket to ``status``; answers with the ticket."""
    ticket_id = params.path_id(request)
    body = await _json_body(request)
    status = params.choice(body, "status", TICKET_STATUSES)
    if status is None:
        raise web.HTTPBadRequest(text="status: required")
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: actions.set_ticket_status(s, ticket_id, status, actor))
    return await get_ticket(request)


@routes.post(PREFIX + r"/tickets/{id:\d+}/notes")
@requires("service")
async def ticket_note(request: web.Request) -> web.StreamResponse:
    """Add an internal note (``text``) to a ticket; answers with the ticket."""
    ticket_id = params.path_id(request)
    body = await _json_body(request)
    text = params.text(body, "text", 10000)
    if text is None:
        raise web.HTTPBadRequest(text="text: required")
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: actions.add_ticket_note(s, ticket_id, text, actor))
    return await get_ticket(request)


@routes.get(PREFIX + "/drafts")
@requires("community")
async def list_drafts(request: web.Request) -> web.Response:
    """Reply drafts, newest first, optionally of one status."""
    filters: list[Any] = []
    if status := params.choice(request.query, "status", DRAFT_STATUSES):
        filters.append(ReplyDraft.status == status)
    before, limit = _paging(request)
    rows, cursor = await request.app[DB_KEY].run_read(lambda s: queries.drafts(s, filters, before, limit))
    return _listing(request, [serialize.draft(d, ref) for d, ref in rows], cursor)


@routes.get(PREFIX + r"/drafts/{id:\d+}")
@requires("community")
async def get_draft(request: web.Request) -> web.Response:
    """One reply draft."""
    draft_id = params.path_id(request)
    rows, _ = await request.app[DB_KEY].run_read(lambda s: queries.drafts(s, [ReplyDraft.id == draft_id], None, 1))
    if not rows:
        raise web.HTTPNotFound(text=f"no reply draft {draft_id}")
    return web.json_response(serialize.draft(*rows[0]))


@routes.post(PREFIX + r"/drafts/{id:\d+}/approve")
@requires("community")
async def approve_draft(request: web.Request) -> web.StreamResponse:
    """Approve; with ``version`` the approval only happens if nobody changed the draft since (else 409)."""
    draft_id = params.path_id(request)
    body = await _json_body(request)
    version = params.integer({k: str(v) for k, v in body.items()}, "version", 1)
    text = params.text(body, "text", 20000)
    actor = user_of(request).username
    try:
        four_eyes = request.app[CONFIG_KEY].web.four_eyes
        await request.app[DB_KEY].run_write(
            lambda s: actions.approve_draft(s, draft_id, version, text, actor, four_eyes)
        )
    except ConflictError as err:
        return web.json_response({"error": str(err), "status": 409}, status=409)
    return await get_draft(request)


@routes.post(PREFIX + r"/drafts/{id:\d+}/reject")
@requires("community")
async def reject_draft(request: web.Request) -> web.StreamResponse:
    """Reject a draft with a ``reason``; with ``version``, only if nobody changed it since (else 409)."""
    draft_id = params.path_id(request)
    body = await _json_body(request)
    reason = params.text(body, "reason", 2000)
    if reason is None:
        raise web.HTTPBadRequest(text="reason: required")
    version = params.integer({k: str(v) for k, v in body.items()}, "version", 1)
    actor = user_of(request).username
    try:
        await request.app[DB_KEY].run_write(lambda s: actions.reject_draft(s, draft_id, version, reason, actor))
    except ConflictError as err:
        return web.json_response({"error": str(err), "status": 409}, status=409)
    return await get_draft(request)


@routes.get(PREFIX + "/customers")
@requires("community", "service")
async def list_customers(request: web.Request) -> web.Response:
    """Active customers, newest first; ``q`` searches like the customer list."""
    search = params.text(request.query, "q", 200)
    filters: list[Any] = [col(Customer.merged_into_id).is_(None)]
    before, limit = _paging(request)
    if search:
        found = await request.app[DB_KEY].run_read(
            lambda s: customers.list_customers(s, search=search, include_prospects=True, limit=MAX_LIMIT)
        )
        filters.append(col(Customer.id).in_([c.id for c in found]))
    rows, cursor = await request.app[DB_KEY].run_read(lambda s: queries.page(s, Customer, filters, before, limit))
    return _listing(request, [serialize.customer(c) for c in rows], cursor)


@routes.get(PREFIX + r"/customers/{id:\d+}")
@requires("community", "service")
async def get_customer(request: web.Request) -> web.Response:
    """One customer with contacts, identities, orders, and the ids of recent tickets, drafts and mentions."""
    customer_id = params.path_id(request)
    view = await request.app[DB_KEY].run_read(lambda s: customers.customer_view(s, customer_id, limit=20))
    data = serialize.customer(view.customer)
    data.update(
        emails=view.emails,
        phones=view.phones,
        identities=[{"platform": i.platform, "handle": i.handle, "confirmed": i.confirmed} for i in view.identities],
        orders=[
            {
                "order_number": o.order_number,
                "ordered_at": iso(o.ordered_at),
                "status": o.status,
                "products": list(o.products),
            }
            for o in view.orders
        ],
        ticket_ids=[t.id for t in view.tickets],
        draft_ids=[d.id for d in view.drafts],
        recent_mention_ids=[m.id for m in view.mentions],
    )
    return web.json_response(data)


def setup(app: web.Application) -> None:
    """Add the API's routes to the app."""
    app.router.add_routes(routes)
