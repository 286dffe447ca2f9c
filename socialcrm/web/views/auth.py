"""Login, logout, the health check, the home redirect and the language preference."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import text

from socialcrm.services import audit, users
from socialcrm.web import sessions
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.render import render
from socialcrm.web.security import (
    PRELOGIN_COOKIE,
    PRELOGIN_KEY,
    USER_KEY,
    LoginThrottle,
    clear_session_cookie,
    client_address,
    local_path,
    prelogin_token,
    set_session_cookie,
    user_of,
)

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()
THROTTLE_KEY = web.AppKey("login_throttle", LoginThrottle)
SESSION_HOURS_KEY = web.AppKey("session_hours", float)
HOME_BY_ROLE = {
    "admin": "/admin",
    "community": "/queue",
    "service": "/tickets",
    "marketing": "/dashboard",
}


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Liveness and database reachability, without login."""
    db = request.app[DB_KEY]
    try:
        await db.run_read(lambda s: s.connection().execute(text("SELECT 1")).scalar())
    except Exception as err:  # any database failure makes the check fail, with its class for the operator
        logger.warning("health check: database unreachable: %s", type(err).__name__)
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirects)."""
    return local_path(target)


def _login_page(request: web.Request, status: int = 200, error: str | None = None, username: str = "") -> web.Response:
    token = prelogin_token(request)
    request[PRELOGIN_KEY] = token
    response = render(
        request,
        "login.html",
        http_status=status,
        error=error,
        username=username,
        next=_safe_next(request.query.get("next")),
    )
    prelogin_token(request, response)
    return response


@routes.get("/login")
async def login_form(request: web.Request) -> web.StreamResponse:
    if request.get(USER_KEY) is not None:
        raise web.HTTPFound(_safe_next(request.query.get("next")) or "/")
    return _login_page(request)


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))
    address = client_address(request)
    throttle = request.app[THROTTLE_KEY]
    db = request.app[DB_KEY]
    if throttle.blocked(address, username):
        await db.run_write(lambda s: audit.record(s, username or "-", "login.throttled", "user", None, {"ip": address}))
        return _login_page(request, 429, "Too many attempts. Please wait a few minutes.", username)
    hours = request.app[SESSION_HOURS_KEY]

    def attempt(s):  # type: ignore[no-untyped-def]
        user = users.authenticate(s, username, password)
        if user is None:
            audit.record(s, username or "-", "login.failure", "user", None, {"ip": address})
            return None
        sessions.purge_expired_sessions(s)
        token, _row = sessions.start_session(s, user, hours)
        audit.record(s, user.username, "login.success", "user", user.id, {"ip": address})
        return token, user.role

    outcome = await db.run_write(attempt)
    if outcome is None:
        throttle.failed(address, username)
        return _login_page(request, 401, "Wrong username or password.", username)
    throttle.succeeded(username)
    token, role = outcome
    target = _safe_next(str(form.get("next", ""))) or HOME_BY_ROLE.get(role, "/mentions")
    response = web.HTTPSeeOther(target)
    set_session_cookie(request, response, token, int(hours * 3600))
    response.del_cookie(PRELOGIN_COOKIE, path="/")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    db = request.app[DB_KEY]
    session_hash = user.session_hash

    def finish(s):  # type: ignore[no-untyped-def]
        if session_hash:
            sessions.end_session(s, session_hash)
        audit.record(s, user.username, "logout", "user", user.id)

    await db.run_write(finish)
    response = web.HTTPSeeOther("/login")
    clear_session_cookie(request, response)
    raise response


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(HOME_BY_ROLE.get(user_of(request).role, "/mentions"))


@routes.post("/me/language")
async def set_language(request: web.Request) -> web.StreamResponse:
    """Store the UI language (``de``, ``en``, or empty to follow the browser)."""
    user = user_of(request)
    form = await request.post()
    choice = str(form.get("language", "")) or None
    if choice not in (None, "de", "en"):
        raise web.HTTPBadRequest(text="language: must be de, en or empty")
    await request.app[DB_KEY].run_write(lambda s: sessions.set_language(s, user.id, choice))
    referer = _safe_next(urlsplit(request.headers.get("Referer", "")).path)
    raise web.HTTPSeeOther(referer or "/")
