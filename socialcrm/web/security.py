"""Web security by default: cookies, CSRF, response headers, roles, safe redirects (authentication: services.auth)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from socialcrm.services.auth import AuthenticatedUser, new_secret

SESSION_COOKIE = "scrm_session"
PRELOGIN_COOKIE = "scrm_prelogin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def tokens_equal(a: str | None, b: str | None) -> bool:
    """Whether two secrets are equal, compared in constant time (an empty or missing one never matches)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, error pages and static files included, gets the headers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
    else:
        response.headers.setdefault("Cache-Control", "no-store")
    if cookie_secure(request):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def cookie_secure(request: web.Request) -> bool:
    """Secure cookies when the request came over TLS or the configured public URL is https."""
    public_url = request.app.get(PUBLIC_URL_KEY)
    return request.secure or bool(public_url and public_url.lower().startswith("https://"))


PUBLIC_URL_KEY = web.AppKey("public_url", str)
USER_KEY: web.RequestKey[AuthenticatedUser | None] = web.RequestKey("user")
AUTH_KEY: web.RequestKey[str | None] = web.RequestKey("auth")
LANGUAGE_KEY: web.RequestKey[str] = web.RequestKey("language", str)
PRELOGIN_KEY: web.RequestKey[str] = web.RequestKey("prelogin_csrf", str)


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str, max_age: int) -> None:
    """Set the session cookie: HttpOnly, SameSite=Lax, Secure where the site is served over https."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=cookie_secure(request),
        samesite="Lax",
    )


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """Tell the browser to drop the session cookie."""
    response.del_cookie(SESSION_COOKIE, path="/", secure=cookie_secure(request), samesite="Lax")


def prelogin_token(request: web.Request, response: web.StreamResponse | None = None) -> str:
    """The anonymous CSRF token of the login form (double-submit cookie); set it when missing."""
    token = request.cookies.get(PRELOGIN_COOKIE)
    if token and len(token) >= 32:
        return token
    token = request.get(PRELOGIN_KEY) or new_secret()
    request[PRELOGIN_KEY] = token
    if response is not None:
        response.set_cookie(
            PRELOGIN_COOKIE,
            token,
            max_age=3600,
            path="/",
            httponly=True,
            secure=cookie_secure(request),
            samesite="Strict",
        )
    return token


async def submitted_csrf_token(request: web.Request) -> str | None:
    """The token sent with a state-changing request: the X-CSRF-Token header, else the form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def requires(*roles: str) -> Callable[[Handler], Handler]:
    """Only these roles (and admin) may call the handler; others get 403."""
    allowed = frozenset(roles) | {"admin"}

    def decorate(handler: Handler) -> Handler:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            user = request.get(USER_KEY)
            if user is None:
                raise web.HTTPUnauthorized()
            if user.role not in allowed:
                raise web.HTTPForbidden(reason="role not allowed")
            return await handler(request)

        wrapper.__name__ = handler.__name__
        wrapper.__doc__ = handler.__doc__
        return wrapper

    return decorate


def client_address(request: web.Request) -> str:
    """The peer address (a proxy in front is not trusted to name the client)."""
    return request.remote or "unknown"


def local_path(target: str | None) -> str:
    """``target`` when it is a path on this site, else "" (no open redirects, also not via ``/\\host``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in target):
        return ""
    return target


def wants_json(request: web.Request) -> bool:
    """Whether the client asked for JSON rather than an HTML page."""
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def user_of(request: web.Request) -> AuthenticatedUser:
    """The request's logged-in user; 401 when there is none."""
    user: Any = request.get(USER_KEY)
    if not isinstance(user, AuthenticatedUser):
        raise web.HTTPUnauthorized()
    return user
