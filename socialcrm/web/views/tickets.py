"""Service tickets: list or board by status, priority and SLA due time; one ticket with its context."""

from __future__ import annotations

from aiohttp import web

from socialcrm.models import OPEN_TICKET_STATUSES, TICKET_STATUSES, utcnow
from socialcrm.web import actions
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.queries.tickets import (
    PRIORITY_ORDER,
    SORTS,
    TicketFilter,
    ticket_board,
    ticket_detail,
    ticket_page,
)
from socialcrm.web.render import render
from socialcrm.web.security import requires, user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY, finish

routes = web.RouteTableDef()


@routes.get("/tickets")
@requires("service")
async def ticket_list(request: web.Request) -> web.Response:
    """Open tickets (or one status), filtered and sorted, 50 a page; ``view=board`` shows them by status."""
    q = request.query
    now = utcnow()
    db = request.app[DB_KEY]
    if q.get("view") == "board":
        board = await db.run_read(lambda s: ticket_board(s, now))
        return render(request, "tickets_board.html", board=board)
    status = params.choice(q, "status", TICKET_STATUSES)
    where = TicketFilter(
        statuses=(status,) if status else OPEN_TICKET_STATUSES,
        priority=params.choice(q, "priority", PRIORITY_ORDER),
        assignee=params.text(q, "assignee", 64),
        team=params.text(q, "team", 64),
        breached=q.get("breached") == "1",
        sort=params.choice(q, "sort", SORTS) or "due",
        page=params.page(q),
    )
    page = await db.run_read(lambda s: ticket_page(s, where, now))
    return render(
        request,
        "tickets.html",
        page=page,
        where=where,
        status=status,
        statuses=TICKET_STATUSES,
        priorities=PRIORITY_ORDER,
        sorts=SORTS,
    )


@routes.get("/tickets/{id}")
@requires("service")
async def ticket_view(request: web.Request) -> web.Response:
    """One ticket with its mentions, customer, notes and due times."""
    ticket_id = params.path_id(request)
    now = utcnow()
    detail = await request.app[DB_KEY].run_read(lambda s: ticket_detail(s, ticket_id, now))
    if detail is None:
        raise web.HTTPNotFound(text=f"no ticket {ticket_id}")
    users = await request.app[DB_KEY].run_read(actions.usernames_for_roles(("service", "admin")))
    return render(
        request,
        "ticket.html",
        d=detail,
        t_=detail.row.ticket,
        statuses=TICKET_STATUSES,
        priorities=PRIORITY_ORDER,
        assignees=users,
    )


@routes.post("/tickets/{id}/status")
@requires("service")
async def ticket_status(request: web.Request) -> web.StreamResponse:
    """Move a ticket to another status (only the allowed steps)."""
    ticket_id = params.path_id(request)
    form = await request.post()
    status = params.choice(form, "status", TICKET_STATUSES)
    if status is None:
        raise web.HTTPBadRequest(text="status: required")
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: actions.set_ticket_status(s, ticket_id, status, actor))
    return finish(request, f"/tickets/{ticket_id}", "ticket_updated", status_value=status)


@routes.post("/tickets/{id}/assign")
@requires("service")
async def ticket_assign(request: web.Request) -> web.StreamResponse:
    """Assign a ticket and change its priority (due times follow the SLA)."""
    ticket_id = params.path_id(request)
    form = await request.post()
    assignee = params.text(form, "assignee", 64)
    priority = params.choice(form, "priority", PRIORITY_ORDER)
    actor = user_of(request).username
    sla = request.app[CONFIG_KEY].sla
    await request.app[DB_KEY].run_write(lambda s: actions.assign_ticket(s, ticket_id, assignee, priority, actor, sla))
    return finish(request, f"/tickets/{ticket_id}", "ticket_updated")


@routes.post("/tickets/{id}/notes")
@requires("service")
async def ticket_note(request: web.Request) -> web.StreamResponse:
    """Add an internal note to a ticket."""
    ticket_id = params.path_id(request)
    form = await request.post()
    text = params.text(form, "text", 10000)
    if text is None:
        raise web.HTTPBadRequest(text="text: a note cannot be empty")
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: actions.add_ticket_note(s, ticket_id, text, actor))
    return finish(request, f"/tickets/{ticket_id}", "note_added")


@routes.post("/tickets/{id}/merge")
@requires("service")
async def ticket_merge(request: web.Request) -> web.StreamResponse:
    """Merge the duplicate ticket named in the form into this one."""
    ticket_id = params.path_id(request)
    form = await request.post()
    duplicate_id = params.integer(form, "duplicate_id", 1)
    if duplicate_id is None:
        raise web.HTTPBadRequest(text="duplicate_id: required")
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: actions.merge_tickets(s, duplicate_id, ticket_id, actor))
    return finish(request, f"/tickets/{ticket_id}", "merged")
