"""What agents do to tickets: status (and reopen), assignment, notes, merges, posts, bulk changes, saved filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from aiohttp import web
from sqlmodel import Session

from socialcrm.errors import ConflictError
from socialcrm.models import PRIORITIES, TICKET_STATUSES, Priority, TicketStatus
from socialcrm.services import saved_filters, ticket_merges
from socialcrm.services.ticket_desk import BulkChange, BulkResult
from socialcrm.web import actions
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.queries.tickets import UNASSIGNED
from socialcrm.web.render import render
from socialcrm.web.security import requires, user_of, wants_json
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY, back_to, finish
from socialcrm.web.views.tickets import FILTER_KEYS, FILTER_PAGE

routes = web.RouteTableDef()
KEEP = "keep"
"""The bulk form's "leave as it is" choice."""


@routes.post("/tickets/{id}/status")
@requires("service")
async def ticket_status(request: web.Request) -> web.StreamResponse:
    """Change a ticket's status; open on a resolved or closed ticket reopens it."""
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
    """Assign the ticket to someone who works tickets (empty: nobody) and optionally change its priority."""
    ticket_id = params.path_id(request)
    form = await request.post()
    assignee = params.text(form, "assignee", 64)
    priority = params.choice(form, "priority", PRIORITIES)
    actor = user_of(request).username
    sla = request.app[CONFIG_KEY].sla
    await request.app[DB_KEY].run_write(lambda s: actions.assign_ticket(s, ticket_id, assignee, priority, actor, sla))
    return finish(request, f"/tickets/{ticket_id}", "ticket_updated")


@routes.post("/tickets/{id}/notes")
@requires("service")
async def ticket_note(request: web.Request) -> web.StreamResponse:
    """Add an internal note (never sent to the customer)."""
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
    """Merge the ticket named in the form into this one; two customers' tickets only after a confirmation."""
    ticket_id = params.path_id(request)
    form = await request.post()
    duplicate_id = params.integer(form, "duplicate_id", 1)
    if duplicate_id is None:
        raise web.HTTPBadRequest(text="duplicate_id: the number of the ticket to merge into this one")
    confirmed = form.get("confirm") == "1"
    db = request.app[DB_KEY]
    plan = await db.run_read(lambda s: ticket_merges.plan_merge(s, duplicate_id, ticket_id))
    if not plan.same_customer and not confirmed:
        if wants_json(request):
            raise ConflictError(f"{plan.mismatch()}; send confirm=1 to merge them anyway")
        first, second = (
            ticket_merges.customer_label(c) if c is not None else None
            for c in (plan.duplicate_customer, plan.target_customer)
        )
        return render(request, "ticket_merge_confirm.html", plan=plan, first=first, second=second)
    actor = user_of(request).username
    await db.run_write(lambda s: actions.merge_tickets(s, duplicate_id, ticket_id, actor, other_customer=confirmed))
    return finish(request, f"/tickets/{ticket_id}", "merged")


@routes.post("/tickets/{id}/mentions")
@requires("service")
async def ticket_add_mention(request: web.Request) -> web.StreamResponse:
    """Add a mention (by its number) to this ticket."""
    ticket_id = params.path_id(request)
    form = await request.post()
    mention_id = params.integer(form, "mention_id", 1)
    if mention_id is None:
        raise web.HTTPBadRequest(text="mention_id: the number of the mention to add")
    actor = user_of(request).username
    added = await request.app[DB_KEY].run_write(
        lambda s: actions.add_mention_to_ticket(s, ticket_id, mention_id, actor)
    )
    back = back_to(form, f"/tickets/{ticket_id}")
    return finish(request, back, "mention_added" if added else "mention_already_on_ticket", ticket_id=ticket_id)


@routes.post(r"/mentions/{id:\d+}/ticket")
@requires("service")
async def ticket_from_mention(request: web.Request) -> web.StreamResponse:
    """Open a ticket for this mention (its thread and customer) and go to it, or add it to ``ticket_id``."""
    mention_id = params.path_id(request)
    form = await request.post()
    actor = user_of(request).username
    db = request.app[DB_KEY]
    into = params.integer(form, "ticket_id", 1)
    if form.get("do") == "add" or into is not None:
        if into is None:
            raise web.HTTPBadRequest(text="ticket_id: the number of the ticket to add this mention to")
        added = await db.run_write(lambda s: actions.add_mention_to_ticket(s, into, mention_id, actor))
        return finish(request, f"/tickets/{into}", "mention_added" if added else "mention_already_on_ticket")
    subject = params.text(form, "subject", 512)
    priority = params.choice(form, "priority", PRIORITIES) or "normal"
    assignee = params.text(form, "assignee", 64)
    sla = request.app[CONFIG_KEY].sla
    ticket_id = await db.run_write(
        lambda s: actions.ticket_from_mention(s, mention_id, subject, priority, assignee, actor, sla)
    )
    return finish(request, f"/tickets/{ticket_id}", "ticket_created", ticket_id=ticket_id)


def _bulk_change(form: Mapping[str, Any], actor: str) -> BulkChange:
    """The change the bulk form asks for: its Close and Assign-to-me buttons, or the fields not left on "keep"."""
    if form.get("do") == "close":
        return BulkChange(status="closed")
    if form.get("do") == "assign_me":
        return BulkChange(assign=True, assignee=actor)
    status = params.choice(form, "status", (*TICKET_STATUSES, KEEP))
    priority = params.choice(form, "priority", (*PRIORITIES, KEEP))
    assignee = params.text(form, "assignee", 64)
    return BulkChange(
        status=None if status in (None, KEEP) else cast(TicketStatus, status),
        priority=None if priority in (None, KEEP) else cast(Priority, priority),
        assign=assignee not in (None, KEEP),
        assignee=None if assignee in (None, KEEP, UNASSIGNED) else assignee,
    )


@routes.post("/tickets/bulk")
@requires("service")
async def ticket_bulk(request: web.Request) -> web.StreamResponse:
    """Apply one change to the selected tickets; report the ones that could not take it, with the reason."""
    form = await request.post()
    ids = []
    for raw in form.getall("ticket", []):
        if not isinstance(raw, str) or not raw.isdigit():
            raise web.HTTPBadRequest(text=f"ticket: {raw!r} is not a ticket number")
        ids.append(int(raw))
    actor = user_of(request).username
    change = _bulk_change(form, actor)
    sla = request.app[CONFIG_KEY].sla

    def write(session: Session) -> BulkResult:
        return actions.bulk_change_tickets(session, ids, change, actor, sla)

    result = await request.app[DB_KEY].run_write(write)
    back = back_to(form, "/tickets")
    if result.refused and not wants_json(request):
        return render(request, "tickets_bulk_result.html", result=result, back=back)
    return finish(request, back, "bulk_done", changed=result.changed, refused=result.refused)


@routes.post("/tickets/filters")
@requires("service")
async def save_ticket_filter(request: web.Request) -> web.StreamResponse:
    """Save the list's current filter under a name, for this person only."""
    form = await request.post()
    name = params.text(form, "name", 200) or ""
    query = params.text(form, "query", 2000) or ""
    user = user_of(request)
    saved = await request.app[DB_KEY].run_write(
        lambda s: saved_filters.save_filter(s, user.id, FILTER_PAGE, name, query, FILTER_KEYS).query
    )
    return finish(request, f"/tickets?{saved}" if saved else "/tickets", "filter_saved")


@routes.post(r"/tickets/filters/{id:\d+}/delete")
@requires("service")
async def delete_ticket_filter(request: web.Request) -> web.StreamResponse:
    """Delete one of this person's saved filters."""
    filter_id = params.path_id(request)
    user = user_of(request)
    await request.app[DB_KEY].run_write(lambda s: saved_filters.delete_filter(s, user.id, filter_id))
    return finish(request, "/tickets", "filter_deleted")
