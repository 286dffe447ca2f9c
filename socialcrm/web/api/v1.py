"""JSON API v1: mentions, tickets, drafts and customers, paged newest first; a few actions on drafts and tickets."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from sqlmodel import Session, col

from socialcrm.errors import ConflictError, InvalidInputError
from socialcrm.models import Customer, Mention, ReplyDraft, Ticket
from socialcrm.services import customers, label_predictions, tickets
from socialcrm.services.records import iso
from socialcrm.web import actions
from socialcrm.web.api import queries, schemas, serialize
from socialcrm.web.api.openapi import openapi_document
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.security import requires, user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY

PREFIX = "/api/v1"
routes = web.RouteTableDef()
M = TypeVar("M", bound=schemas.ApiModel)
_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"


def _query(request: web.Request, model: type[M]) -> M:
    """The query string as ``model``; 400 for an unknown, repeated or invalid parameter."""
    values: dict[str, str] = {}
    for name, value in request.query.items():
        if name in values:
            raise InvalidInputError(f"{name}: given more than once")
        values[name] = value
    return schemas.validate(model, values, "parameter")


def _listing(request: web.Request, items: list[dict[str, Any]], cursor: int | None) -> web.Response:
    """A page as JSON; when more follow, ``next`` and a ``Link: <...>; rel="next"`` header (RFC 8288) lead on."""
    next_url = None
    headers: dict[str, str] = {}
    if cursor is not None:
        query = {**request.query, "cursor": str(cursor)}
        next_url = str(request.rel_url.with_query(query))
        headers["Link"] = f'<{next_url}>; rel="next"'
    body = {"items": items, "next_cursor": str(cursor) if cursor else None, "next": next_url}
    return web.json_response(body, headers=headers)


async def _body(request: web.Request, model: type[M]) -> M:
    """The request body (JSON, or a form) as ``model``; no body at all is an empty one; else 400 or 415."""
    if not request.body_exists:
        values: dict[str, Any] = {}
    elif request.content_type == _JSON:
        try:
            values = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InvalidInputError(f"body: not valid JSON ({err})") from None
        if not isinstance(values, dict):
            raise InvalidInputError("body: must be a JSON object")
    elif request.content_type == _FORM:
        form = await request.post()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
    else:
        raise web.HTTPUnsupportedMediaType(text=f"body: send {_JSON} (or {_FORM}), not {request.content_type}")
    return schemas.validate(model, values, "field")


@routes.get(PREFIX + "/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3 description of this API (any logged-in user)."""
    user_of(request)
    return web.json_response(openapi_document())


@routes.get(PREFIX + "/mentions")
@requires("community", "service", "marketing")
async def list_mentions(request: web.Request) -> web.Response:
    """Mentions, newest first, filtered by source, sentiment, language, since, customer and label; paged by cursor."""
    q = _query(request, schemas.MentionQuery)
    filters: list[Any] = []
    if q.source:
        filters.append(Mention.source == q.source.strip())
    if q.sentiment:
        filters.append(Mention.sentiment == q.sentiment)
    if q.language:
        filters.append(Mention.language == q.language.strip())
    if q.since:
        filters.append(col(Mention.published_at) >= q.since)
    if q.customer_id is not None:
        filters.append(Mention.customer_id == q.customer_id)
    if q.label:
        filters.append(label_predictions.has_label(q.label.strip().lower()))
    rows, cursor, labels = await request.app[DB_KEY].run_read(lambda s: _mentions(s, filters, q.cursor, q.limit))
    return _listing(request, [serialize.mention(m, ref, labels.get(m.id or 0, {})) for m, ref in rows], cursor)


def _mentions(
    session: Session, filters: list[Any], before: int | None, limit: int
) -> tuple[list[tuple[Mention, str | None]], int | None, dict[int, dict[str, float]]]:
    """A page of mentions with their customer refs, the next cursor, and each mention's custom labels."""
    rows, cursor = queries.mentions(session, filters, before, limit)
    return rows, cursor, label_predictions.labels_of(session, [m.id for m, _ref in rows if m.id is not None])


@routes.get(PREFIX + r"/mentions/{id:\d+}")
@requires("community", "service", "marketing")
async def get_mention(request: web.Request) -> web.Response:
    """One mention."""
    mention_id = params.path_id(request)
    rows, _, labels = await request.app[DB_KEY].run_read(lambda s: _mentions(s, [Mention.id == mention_id], None, 1))
    if not rows:
        raise web.HTTPNotFound(text=f"no mention {mention_id}")
    return web.json_response(serialize.mention(*rows[0], labels.get(mention_id, {})))


@routes.get(PREFIX + "/tickets")
@requires("service")
async def list_tickets(request: web.Request) -> web.Response:
    """Tickets (merged ones left out), newest first, filtered by status, assignee and customer."""
    q = _query(request, schemas.TicketQuery)
    filters: list[Any] = [col(Ticket.merged_into_id).is_(None)]
    if q.status:
        filters.append(Ticket.status == q.status)
    if q.assignee:
        filters.append(Ticket.assignee == q.assignee.strip())
    if q.customer_id is not None:
        filters.append(Ticket.customer_id == q.customer_id)
    rows, cursor = await request.app[DB_KEY].run_read(lambda s: queries.tickets(s, filters, q.cursor, q.limit))
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
    body = await _body(request, schemas.TicketStatusBody)
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: actions.set_ticket_status(s, ticket_id, body.status, actor))
    return await get_ticket(request)


@routes.post(PREFIX + r"/tickets/{id:\d+}/notes")
@requires("service")
async def ticket_note(request: web.Request) -> web.StreamResponse:
    """Add an internal note (``text``) to a ticket; answers with the ticket."""
    ticket_id = params.path_id(request)
    body = await _body(request, schemas.TicketNoteBody)
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: actions.add_ticket_note(s, ticket_id, body.text.strip(), actor))
    return await get_ticket(request)


@routes.get(PREFIX + "/drafts")
@requires("community")
async def list_drafts(request: web.Request) -> web.Response:
    """Reply drafts, newest first, optionally of one status."""
    q = _query(request, schemas.DraftQuery)
    filters: list[Any] = []
    if q.status:
        filters.append(ReplyDraft.status == q.status)
    rows, cursor = await request.app[DB_KEY].run_read(lambda s: queries.drafts(s, filters, q.cursor, q.limit))
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
    body = await _body(request, schemas.DraftApproveBody)
    version, text = body.version, body.text.strip() if body.text else None
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
    body = await _body(request, schemas.DraftRejectBody)
    version, reason = body.version, body.reason.strip()
    actor = user_of(request).username
    try:
        await request.app[DB_KEY].run_write(lambda s: actions.reject_draft(s, draft_id, version, reason, actor))
    except ConflictError as err:
        return web.json_response({"error": str(err), "status": 409}, status=409)
    return await get_draft(request)


@routes.get(PREFIX + "/customers")
@requires("community", "service")
async def list_customers(request: web.Request) -> web.Response:
    """Active customers and prospects, newest first; ``q`` searches like the customer list (every match, paged)."""
    q = _query(request, schemas.CustomerQuery)
    search, before, limit = (q.q or "").strip(), q.cursor, q.limit
    filters: list[Any] = [col(Customer.merged_into_id).is_(None)]
    if search:
        filters.append(customers.search_condition(search))
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
