"""Web security by default: token hashing, cookies, CSRF, response headers, roles and login throttling."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

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


def new_token() -> str:
    """A random URL-safe secret (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the database keeps of a session or API token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_equal(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The logged-in person as the handlers see it."""

    id: int
    username: str
    role: str
    language: str | None
    csrf_token: str
    session_hash: str | None = None  # None for API tokens


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
USER_KEY: web.RequestKey[CurrentUser | None] = web.RequestKey("user")
AUTH_KEY: web.RequestKey[str | None] = web.RequestKey("auth")
LANGUAGE_KEY: web.RequestKey[str] = web.RequestKey("language", str)
PRELOGIN_KEY: web.RequestKey[str] = web.RequestKey("prelogin_csrf", str)


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str, max_age: int) -> None:
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
    response.del_cookie(SESSION_COOKIE, path="/", secure=cookie_secure(request), samesite="Lax")


def prelogin_token(request: web.Request, response: web.StreamResponse | None = None) -> str:
    """The anonymous CSRF token of the login form (double-submit cookie); set it when missing."""
    token = request.cookies.get(PRELOGIN_COOKIE)
    if token and len(token) >= 32:
        return token
    token = request.get(PRELOGIN_KEY) or new_token()
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
        wrapper.allowed_roles = allowed  # type: ignore[attr-defined]
        return wrapper

    return decorate


class LoginThrottle:
    """Failed logins per client address and per username in a sliding 15-minute window."""

    def __init__(self, limit: int, window_seconds: float = 900.0, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _count(self, key: str) -> int:
        entries = self._failures.get(key)
        if not entries:
            return 0
        cutoff = self.clock() - self.window
        while entries and entries[0] < cutoff:
            entries.popleft()
        if not entries:
            del self._failures[key]
            return 0
        return len(entries)

    def blocked(self, address: str, username: str) -> bool:
        return self._count("ip:" + address) >= self.limit or self._count("user:" + username.lower()) >= self.limit

    def failed(self, address: str, username: str) -> None:
        now = self.clock()
        self._failures["ip:" + address].append(now)
        self._failures["user:" + username.lower()].append(now)

    def succeeded(self, username: str) -> None:
        self._failures.pop("user:" + username.lower(), None)


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
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def user_of(request: web.Request) -> CurrentUser:
    user: Any = request.get(USER_KEY)
    if not isinstance(user, CurrentUser):
        raise web.HTTPUnauthorized()
    return user
