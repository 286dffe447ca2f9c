"""Service tickets: the list or board (filters, saved filters, bulk actions) and one ticket with its history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlmodel import Session

from socialcrm.models import OPEN_TICKET_STATUSES, TICKET_STATUSES, Mention, SavedFilter, utcnow
from socialcrm.services import saved_filters
from socialcrm.web import actions
from socialcrm.web.composer import Composer, composers_for
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.queries.ticket_view import TicketView, ticket_view
from socialcrm.web.queries.tickets import (
    BOARD_STATUSES,
    PRIORITY_ORDER,
    SORTS,
    UNASSIGNED,
    BoardColumn,
    TicketFilter,
    TicketPage,
    ticket_board,
    ticket_page,
)
from socialcrm.web.render import render
from socialcrm.web.security import requires, user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY

routes = web.RouteTableDef()
ALL_STATUSES = "all"
FILTER_PAGE = "tickets"
FILTER_KEYS = ("view", "status", "priority", "assignee", "team", "breached", "sort")
"""The query parameters a saved ticket filter keeps."""


def ticket_filter(q: Mapping[str, Any]) -> TicketFilter:
    """The list's filter from the query string; a bad value is a 400 naming the parameter."""
    status = params.choice(q, "status", (*TICKET_STATUSES, ALL_STATUSES))
    statuses = TICKET_STATUSES if status == ALL_STATUSES else ((status,) if status else OPEN_TICKET_STATUSES)
    return TicketFilter(
        statuses=statuses,
        priority=params.choice(q, "priority", PRIORITY_ORDER),
        assignee=params.text(q, "assignee", 64),
        team=params.text(q, "team", 64),
        breached=q.get("breached") == "1",
        sort=params.choice(q, "sort", SORTS) or "due",
        page=params.page(q),
    )


@routes.get("/tickets")
@requires("service")
async def ticket_list(request: web.Request) -> web.Response:
    """The ticket list (or, with ``view=board``, the board), with this person's saved filters."""
    q = request.query
    now = utcnow()
    user = user_of(request)
    where = ticket_filter(q)
    board = q.get("view") == "board"
    pages: dict[str, int] = {s: params.integer(q, f"page_{s}", 1) or 1 for s in BOARD_STATUSES}

    def read(session: Session) -> tuple[list[BoardColumn] | TicketPage, list[SavedFilter], list[str]]:
        return (
            ticket_board(session, where, now, pages) if board else ticket_page(session, where, now),
            saved_filters.list_filters(session, user.id, FILTER_PAGE),
            actions.assignable_users("tickets")(session),
        )

    found, saved, assignees = await request.app[DB_KEY].run_read(read)
    context: dict[str, Any] = {
        "where": where,
        "status": params.text(q, "status", 16),
        "statuses": TICKET_STATUSES,
        "priorities": PRIORITY_ORDER,
        "sorts": SORTS,
        "saved": saved,
        "assignees": assignees,
        "unassigned": UNASSIGNED,
        "filter_query": request.query_string,
    }
    if board:
        return render(request, "tickets_board.html", columns=found, **context)
    return render(request, "tickets.html", page=found, **context)


@routes.get("/tickets/{id}")
@requires("service")
async def ticket_detail(request: web.Request) -> web.Response:
    """One ticket: its posts, history, replies and notes, the reply composer, and the customer beside it."""
    ticket_id = params.path_id(request)
    wanted = params.integer(request.query, "reply_to", minimum=1)
    config = request.app[CONFIG_KEY]
    user = user_of(request)
    now = utcnow()

    def read(session: Session) -> tuple[TicketView | None, list[str], Mention | None, Composer | None]:
        view = ticket_view(session, ticket_id, now)
        if view is None:
            return None, [], None, None
        target = reply_target(view.mentions, wanted)
        composer = composers_for(session, config, [target], user).get(target.id or 0) if target else None
        return view, actions.assignable_users("tickets")(session), target, composer

    view, assignees, target, composer = await request.app[DB_KEY].run_read(read)
    if view is None:
        raise web.HTTPNotFound(text=f"no ticket {ticket_id}")
    return render(
        request,
        "ticket.html",
        d=view,
        t_=view.row.ticket,
        statuses=TICKET_STATUSES,
        priorities=PRIORITY_ORDER,
        assignees=assignees,
        reply_target=target,
        composer=composer,
    )


def reply_target(mentions: list[Mention], wanted: int | None) -> Mention | None:
    """The post a public reply from the ticket answers: the one asked for, else the ticket's latest (not erased)."""
    live = [m for m in mentions if m.erased_at is None]
    chosen = [m for m in live if m.id == wanted]
    return chosen[0] if chosen else (live[-1] if live else None)
