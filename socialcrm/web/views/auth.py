"""Login, logout, the health check, the home redirect and the language preference."""

from __future__ import annotations

import logging
import math
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import text

from socialcrm.models import UI_LANGUAGES
from socialcrm.services import auth, users
from socialcrm.services.auth import LoginPolicy
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.render import render
from socialcrm.web.security import (
    PRELOGIN_COOKIE,
    PRELOGIN_KEY,
    USER_KEY,
    clear_session_cookie,
    client_address,
    local_path,
    prelogin_token,
    set_session_cookie,
    user_of,
)

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()
LOGIN_POLICY_KEY = web.AppKey("login_policy", LoginPolicy)
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
    """The login form (a logged-in user goes straight on)."""
    if request.get(USER_KEY) is not None:
        raise web.HTTPFound(_safe_next(request.query.get("next")) or "/")
    return _login_page(request)


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the credentials; on success set the session cookie and go on to ``next`` or the role's home."""
    form = await request.post()
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))
    address = client_address(request)
    policy = request.app[LOGIN_POLICY_KEY]
    result = await request.app[DB_KEY].run_write(
        lambda s: auth.log_in(s, username, password, address=address, policy=policy)
    )
    if result.outcome == "throttled":
        page = _login_page(request, 429, "Too many attempts. Please wait a few minutes.", username)
        page.headers["Retry-After"] = str(math.ceil(result.retry_after))
        return page
    if result.user is None or result.session_token is None:
        return _login_page(request, 401, "Wrong username or password.", username)
    target = _safe_next(str(form.get("next", ""))) or HOME_BY_ROLE.get(result.user.role, "/mentions")
    response = web.HTTPSeeOther(target)
    set_session_cookie(request, response, result.session_token, int(policy.session_hours * 3600))
    response.del_cookie(PRELOGIN_COOKIE, path="/")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """End this browser's session and go back to the login page."""
    user = user_of(request)
    await request.app[DB_KEY].run_write(lambda s: auth.log_out(s, user))
    response = web.HTTPSeeOther("/login")
    clear_session_cookie(request, response)
    raise response


@routes.get("/")
async def home(request: web.Request) -> web.StreamResponse:
    """Each role's start page."""
    raise web.HTTPFound(HOME_BY_ROLE.get(user_of(request).role, "/mentions"))


@routes.post("/me/language")
async def set_language(request: web.Request) -> web.StreamResponse:
    """Store the UI language (``de``, ``en``, or empty to follow the browser)."""
    user = user_of(request)
    form = await request.post()
    choice = str(form.get("language", "")) or None
    if choice is not None and choice not in UI_LANGUAGES:
        raise web.HTTPBadRequest(text="language: must be de, en or empty")
    await request.app[DB_KEY].run_write(lambda s: users.set_language(s, user.id, choice))
    referer = _safe_next(urlsplit(request.headers.get("Referer", "")).path)
    raise web.HTTPSeeOther(referer or "/")
