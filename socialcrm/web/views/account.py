"""The account page: who you are, where you are logged in, and ending your other sessions."""

from __future__ import annotations

from aiohttp import web

from socialcrm.services import auth
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.render import render
from socialcrm.web.security import user_of
from socialcrm.web.views.common import finish

routes = web.RouteTableDef()


@routes.get("/me")
async def account(request: web.Request) -> web.Response:
    """The logged-in user's account: name, role and the sessions still open (this one marked)."""
    user = user_of(request)
    sessions = await request.app[DB_KEY].run_read(lambda s: auth.active_sessions(s, user.id))
    return render(request, "account.html", sessions=sessions, current=user.session_hash)


@routes.post("/me/sessions/end-others")
async def end_other_sessions(request: web.Request) -> web.StreamResponse:
    """Log out every other browser of this user; this one stays logged in."""
    user = user_of(request)
    ended = await request.app[DB_KEY].run_write(lambda s: auth.end_other_sessions(s, user))
    return finish(request, "/me", "sessions_ended", ended=ended)
