"""Request middlewares: error pages, authentication (session cookie or bearer token) and CSRF."""

from __future__ import annotations

import logging
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.exc import SQLAlchemyError

from socialcrm.db import Database, cause_of, is_unavailable
from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError
from socialcrm.services import auth
from socialcrm.services.auth import AuthenticatedUser
from socialcrm.web.render import render
from socialcrm.web.security import (
    AUTH_KEY,
    PRELOGIN_COOKIE,
    SAFE_METHODS,
    SESSION_COOKIE,
    USER_KEY,
    submitted_csrf_token,
    tokens_equal,
    wants_json,
)

logger = logging.getLogger(__name__)
DB_KEY = web.AppKey("db", Database)
HEALTH_PATH = "/healthz"
PUBLIC_PATHS = frozenset({HEALTH_PATH, "/login", "/metrics"})  # /metrics checks its own token
_MESSAGES = {
    400: "The request is not valid.",
    403: "You may not do this.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "Someone else changed this first.",
    429: "Too many attempts. Please wait a few minutes.",
    503: "The database is unavailable just now. Please try again in a moment.",
}
RETRY_AFTER_SECONDS = 5  # what a 503 asks a client to wait before trying again (Retry-After)


def is_api(request: web.Request) -> bool:
    """Whether the request is for the JSON API (bearer tokens, JSON errors)."""
    return request.path.startswith("/api/")


def is_public(request: web.Request) -> bool:
    """Whether the path needs no login (the health check, the login page, static files, /metrics with its own check)."""
    return request.path in PUBLIC_PATHS or request.path.startswith("/static/")


# Headers an error keeps on its way into the error page: a 405 names the methods allowed (RFC 9110).
_KEPT_HEADERS = ("Allow",)


def _error_response(
    request: web.Request, status: int, detail: str | None, kept: dict[str, str] | None = None
) -> web.StreamResponse:
    message = _MESSAGES.get(status, "Error")
    if is_api(request) or wants_json(request):
        headers = dict(kept or {})
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="socialcrm"'
        return web.json_response({"error": detail or message, "status": status}, status=status, headers=headers)
    if status == 401:
        target = request.path_qs if request.method == "GET" else "/"
        raise web.HTTPFound("/login?next=" + quote(target, safe=""))
    response = render(request, "error.html", http_status=status, status_code=status, message=message, detail=detail)
    response.headers.update(kept or {})
    return response


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """HTML error pages for people, JSON errors for the API; service errors mapped to 404, 409 and 400.

    A database that cannot be used just now (``db.is_unavailable``) is a 503 with ``Retry-After``, logged
    as one warning line instead of a 500 with a traceback; any other database error stays a 500.
    """
    try:
        return await handler(request)
    except web.HTTPRedirection:
        raise
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None
        kept = {name: exc.headers[name] for name in _KEPT_HEADERS if name in exc.headers}
        return _error_response(request, exc.status, detail, kept)
    except NotFoundError as err:
        return _error_response(request, 404, str(err))
    except ConflictError as err:
        return _error_response(request, 409, str(err))
    except InvalidInputError as err:  # the message names the field and says why
        return _error_response(request, 400, str(err))
    except SQLAlchemyError as err:
        if not is_unavailable(err):
            raise  # a bug: aiohttp logs it with its traceback and answers 500
        # An outage (a PostgreSQL restart, a SQLite file locked too long): a line for the operator, a 503 for people.
        logger.warning("database unavailable: %s %s: %s", request.method, request.path, cause_of(err))
        return _error_response(request, 503, None, {"Retry-After": str(RETRY_AFTER_SECONDS)})


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find the user from the bearer token (API) or the session cookie; everything but public paths needs one."""
    db = request.app[DB_KEY]
    user: AuthenticatedUser | None = None
    authorization = request.headers.get("Authorization", "")
    if is_api(request) and authorization.lower().startswith("bearer "):
        token = authorization[7:].strip()
        check = await db.run_read(lambda s: auth.check_api_token(s, token)) if token else None
        if check is None:
            raise web.HTTPUnauthorized(text="invalid or revoked API token")
        user = check.user
        if not user.may_request(request.method):
            raise web.HTTPForbidden(text="this API token is read-only")
        token_id = user.token_id
        if check.record_use and token_id is not None:
            await db.run_write(lambda s: auth.record_api_token_use(s, token_id))
        request[AUTH_KEY] = "bearer"
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and request.path != HEALTH_PATH:  # the health check answers alike for everyone, database down too
            user = await db.run_read(lambda s: auth.user_for_session(s, cookie))
        request[AUTH_KEY] = "session" if user else None
    request[USER_KEY] = user
    if user is None and not is_public(request):
        raise web.HTTPUnauthorized(text="login required")
    return await handler(request)


@web.middleware
async def csrf_protect(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every state-changing request made with a cookie must carry the session's CSRF token (else 403)."""
    if request.method not in SAFE_METHODS and request.get(AUTH_KEY) != "bearer":
        user: AuthenticatedUser | None = request.get(USER_KEY)
        expected = user.csrf_token if user else request.cookies.get(PRELOGIN_COOKIE)
        submitted = await submitted_csrf_token(request)
        if not tokens_equal(expected, submitted):
            logger.warning("CSRF token missing or wrong: %s %s", request.method, request.path)
            raise web.HTTPForbidden(text="CSRF token missing or wrong")
    return await handler(request)
