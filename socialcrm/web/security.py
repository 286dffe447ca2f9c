"""Web security by default: cookies, CSRF, response headers, roles, safe redirects (authentication: services.auth)."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from socialcrm.services.auth import AuthenticatedUser, new_secret
from socialcrm.web import permissions

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
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TRUSTED_PROXIES_KEY: web.AppKey[tuple[IPNetwork, ...]] = web.AppKey("trusted_proxies")
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
        permissions.register(wrapper, allowed)
        return wrapper

    return decorate


def _in_networks(address: str, networks: tuple[IPNetwork, ...]) -> bool | None:
    """Whether ``address`` lies in one of ``networks``; None when it is not an IP address at all."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    return any(ip in network for network in networks)


def client_address(request: web.Request) -> str:
    """The client's address: the peer's, or, when the peer is a trusted proxy, the one X-Forwarded-For names.

    X-Forwarded-For is read from the right, past every trusted proxy, to the first address that is
    not one; anything an untrusted peer (or a client in front of the proxies) wrote is not believed.
    """
    peer = request.remote or "unknown"
    networks = request.app.get(TRUSTED_PROXIES_KEY, ())
    if not networks or not _in_networks(peer, networks):
        return peer
    hops = [hop.strip() for value in request.headers.getall("X-Forwarded-For", []) for hop in value.split(",")]
    for hop in reversed([h for h in hops if h]):
        trusted = _in_networks(hop, networks)
        if trusted is None:
            break  # garbage in the header: the last trusted hop is all we know
        if not trusted:
            return str(ipaddress.ip_address(hop))
        peer = hop
    return peer


def trusted_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """``[web] trusted_proxies`` as networks (the config has checked every entry)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


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
