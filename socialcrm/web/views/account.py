"""The account page: who you are, your time zone, where you are logged in, the weekly digest."""

from __future__ import annotations

from aiohttp import web

from socialcrm.errors import InvalidInputError
from socialcrm.models import User
from socialcrm.services import auth, users
from socialcrm.timezones import server_zone_name, zone, zone_names
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.render import TIME_ZONE_COOKIE, render
from socialcrm.web.security import user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY, finish

routes = web.RouteTableDef()


@routes.get("/me")
async def account(request: web.Request) -> web.Response:
    """The logged-in user's account: name, role and the sessions still open (this one marked)."""
    user = user_of(request)
    sessions = await request.app[DB_KEY].run_read(lambda s: auth.active_sessions(s, user.id))
    browser = request.cookies.get(TIME_ZONE_COOKIE)
    record = await request.app[DB_KEY].run_read(lambda s: s.get(User, user.id))
    return render(
        request,
        "account.html",
        sessions=sessions,
        current=user.session_hash,
        chosen_zone=user.time_zone,
        automatic_zone=browser if browser and zone(browser) else server_zone_name(),
        zone_names=zone_names(),
        record=record,
        mail_configured=request.app[CONFIG_KEY].smtp is not None,
    )


@routes.post("/me/time-zone")
async def set_time_zone(request: web.Request) -> web.StreamResponse:
    """Show this user's times in the zone chosen (empty: the browser's, else the server's)."""
    user = user_of(request)
    form = await request.post()
    choice = params.text(form, "time_zone", 64)
    await request.app[DB_KEY].run_write(lambda s: users.set_time_zone(s, user.username, choice, actor=user.username))
    return finish(request, "/me", "time_zone_saved")


@routes.post("/me/digest")
async def digest_settings(request: web.Request) -> web.StreamResponse:
    """Switch the weekly digest e-mail on or off and set where it goes."""
    user = user_of(request)
    form = await request.post()
    email = params.text(form, "email", 254)
    wanted = form.get("weekly_digest") == "on"
    try:
        await request.app[DB_KEY].run_write(lambda s: users.set_digest(s, user.id, email, wanted))
    except InvalidInputError as err:
        raise web.HTTPBadRequest(text=str(err)) from None
    return finish(request, "/me", "digest_saved")


@routes.post("/me/sessions/end-others")
async def end_other_sessions(request: web.Request) -> web.StreamResponse:
    """Log out every other browser of this user; this one stays logged in."""
    user = user_of(request)
    ended = await request.app[DB_KEY].run_write(lambda s: auth.end_other_sessions(s, user))
    return finish(request, "/me", "sessions_ended", ended=ended)
