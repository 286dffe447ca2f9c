"""Customers: search, the 360-degree view, link review and merge candidates."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import Session

from socialcrm.services import customers, merge_review, merges
from socialcrm.web import actions
from socialcrm.web.composer import Composer, composers_for
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.queries.customers import pending_links
from socialcrm.web.render import render
from socialcrm.web.security import requires, user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY, finish

routes = web.RouteTableDef()
ROLES = ("community", "service")


@routes.get("/customers")
@requires(*ROLES)
async def customer_list(request: web.Request) -> web.Response:
    """Customers by name, 50 a page; ``q`` matches name, company, customer_ref, e-mail or a handle."""
    search = params.text(request.query, "q", 200)
    prospects = request.query.get("prospects") == "1"
    page = params.page(request.query)
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
    """The 360-degree view of one customer (a merged record redirects to the one it went into)."""
    customer_id = params.path_id(request)
    config = request.app[CONFIG_KEY]
    user = user_of(request)

    def load(s: Session) -> tuple[customers.CustomerView, dict[int, Composer]]:
        view = customers.customer_view(s, customer_id)
        return view, composers_for(s, config, view.mentions, user)

    view, composers = await request.app[DB_KEY].run_read(load)
    if view.customer.id != customer_id:
        raise web.HTTPFound(f"/customers/{view.customer.id}")
    return render(request, "customer.html", v=view, c=view.customer, composers=composers)


@routes.post(r"/customers/{id:\d+}/notes")
@requires(*ROLES)
async def customer_note(request: web.Request) -> web.StreamResponse:
    """Add a note to the customer's timeline."""
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
    """Suggested mention-to-customer links waiting for a decision."""
    rows = await request.app[DB_KEY].run_read(lambda s: pending_links(s))
    return render(request, "links.html", rows=rows)


@routes.post(r"/customers/links/{id:\d+}/{decision:confirm|reject}")
@requires(*ROLES)
async def link_decide(request: web.Request) -> web.StreamResponse:
    """Confirm or reject a suggested link."""
    suggestion_id = params.path_id(request)
    confirm = request.match_info["decision"] == "confirm"
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: actions.decide_link(s, suggestion_id, confirm, actor))
    return finish(request, "/customers/links", "link_confirmed" if confirm else "link_rejected")


@routes.get("/customers/merges")
@requires(*ROLES)
async def merge_list(request: web.Request) -> web.Response:
    """Merge candidates grouped by what the records share, their e-mails and phones side by side."""
    groups = await request.app[DB_KEY].run_read(lambda s: merge_review.candidate_groups(s, limit=100))
    return render(request, "merges.html", groups=groups)


def _ids(form: Any, name: str) -> list[int]:
    values = []
    for raw in form.getall(name, []):
        number = params.whole_number(raw) if isinstance(raw, str) else None
        if number is None:
            raise web.HTTPBadRequest(text=f"{name}: {raw!r} is not a record number")
        values.append(number)
    return values


@routes.post("/customers/merges/group")
@requires(*ROLES)
async def merge_group(request: web.Request) -> web.StreamResponse:
    """Merge the ticked records of one group into the one kept, or dismiss the whole group (``do``)."""
    form = await request.post()
    candidate_ids = _ids(form, "candidate")
    actor = user_of(request).username
    if params.choice(form, "do", ("merge", "dismiss")) == "dismiss":
        await request.app[DB_KEY].run_write(lambda s: merge_review.dismiss_group(s, candidate_ids, actor=actor))
        return finish(request, "/customers/merges", "merge_dismissed")
    keep = params.integer(form, "keep", 1)
    if keep is None:
        raise web.HTTPBadRequest(text="keep: choose the record to keep")
    merge_ids = _ids(form, "merge")
    await request.app[DB_KEY].run_write(
        lambda s: merge_review.merge_group(s, candidate_ids, keep, merge_ids, actor=actor)
    )
    return finish(request, "/customers/merges", "customers_merged")


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
    """Mark a merge candidate as two different people."""
    candidate_id = params.path_id(request)
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: merges.dismiss_candidate(s, candidate_id, actor=actor))
    return finish(request, "/customers/merges", "merge_dismissed")
