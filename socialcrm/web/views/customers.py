"""Customers: search, the 360-degree view, link review and merge candidates."""

from __future__ import annotations

from aiohttp import web

from socialcrm.services import customers, merges
from socialcrm.web import actions
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.queries.customers import pending_links
from socialcrm.web.render import render
from socialcrm.web.security import requires, user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import finish

routes = web.RouteTableDef()
ROLES = ("community", "service")


@routes.get("/customers")
@requires(*ROLES)
async def customer_list(request: web.Request) -> web.Response:
    search = params.text(request.query, "q", 200)
    prospects = request.query.get("prospects") == "1"
    page = params.integer(request.query, "page", 1) or 1
    rows = await request.app[DB_KEY].run_read(
        lambda s: customers.list_customers(
            s, search=search, include_prospects=prospects, limit=51, offset=(page - 1) * 50
        )
    )
    return render(
        request,
        "customers.html",
        rows=rows[:50],
        more=len(rows) > 50,
        search=search or "",
        prospects=prospects,
        page=page,
    )


@routes.get(r"/customers/{id:\d+}")
@requires(*ROLES)
async def customer_page(request: web.Request) -> web.Response:
    customer_id = params.path_id(request)
    view = await request.app[DB_KEY].run_read(lambda s: customers.customer_view(s, customer_id))
    if view.customer.id != customer_id:
        raise web.HTTPFound(f"/customers/{view.customer.id}")
    return render(request, "customer.html", v=view, c=view.customer)


@routes.post(r"/customers/{id:\d+}/notes")
@requires(*ROLES)
async def customer_note(request: web.Request) -> web.StreamResponse:
    customer_id = params.path_id(request)
    form = await request.post()
    text = params.text(form, "text", 10000)
    if text is None:
        raise web.HTTPBadRequest(text="text: a note cannot be empty")
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: customers.add_note(s, customer_id, text, actor=actor))
    return finish(request, f"/customers/{customer_id}", "note_added")


@routes.get("/customers/links")
@requires(*ROLES)
async def link_review(request: web.Request) -> web.Response:
    rows = await request.app[DB_KEY].run_read(lambda s: pending_links(s))
    return render(request, "links.html", rows=rows)


@routes.post(r"/customers/links/{id:\d+}/{decision:confirm|reject}")
@requires(*ROLES)
async def link_decide(request: web.Request) -> web.StreamResponse:
    suggestion_id = params.path_id(request)
    confirm = request.match_info["decision"] == "confirm"
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: actions.decide_link(s, suggestion_id, confirm, actor))
    return finish(request, "/customers/links", "link_confirmed" if confirm else "link_rejected")


@routes.get("/customers/merges")
@requires(*ROLES)
async def merge_list(request: web.Request) -> web.Response:
    rows = await request.app[DB_KEY].run_read(lambda s: merges.list_candidates(s, limit=100))
    return render(request, "merges.html", rows=rows)


@routes.post(r"/customers/merges/{id:\d+}/merge")
@requires(*ROLES)
async def merge_do(request: web.Request) -> web.StreamResponse:
    """Merge the candidate pair; the form's ``keep`` names the record that stays (a or b)."""
    candidate_id = params.path_id(request)
    form = await request.post()
    keep = params.choice(form, "keep", ("a", "b")) or "a"
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: actions.merge_candidate(s, candidate_id, keep, actor))
    return finish(request, "/customers/merges", "customers_merged")


@routes.post(r"/customers/merges/{id:\d+}/dismiss")
@requires(*ROLES)
async def merge_dismiss(request: web.Request) -> web.StreamResponse:
    candidate_id = params.path_id(request)
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: merges.dismiss_candidate(s, candidate_id, actor=actor))
    return finish(request, "/customers/merges", "merge_dismissed")
