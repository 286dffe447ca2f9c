"""Jinja2 with autoescaping, the app's filters, and ``render(request, template, **context)``."""

from __future__ import annotations

from datetime import UTC, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from socialcrm.formatting import format_order_status
from socialcrm.models import utcnow
from socialcrm.services.auth import AuthenticatedUser
from socialcrm.timezones import server_zone_name, zone
from socialcrm.web import i18n
from socialcrm.web.notices import notice_of
from socialcrm.web.permissions import may_open
from socialcrm.web.sanitize import plain, post_html, safe_url
from socialcrm.web.security import LANGUAGE_KEY, PRELOGIN_KEY, USER_KEY

TEMPLATES_DIR = Path(__file__).parent / "templates"
JINJA_KEY = web.AppKey("jinja", jinja2.Environment)
DEFAULT_LANGUAGE_KEY = web.AppKey("default_language", str)
DEFAULT_ZONE_KEY = web.AppKey("default_time_zone", str)
"""``[web] time_zone``: the zone of people who chose none and whose browser sends none (empty: the server's)."""
TIME_ZONE_COOKIE = "tz"
"""The browser's time zone (an IANA name), set by app.js; used while the user has chosen none."""

NAVIGATION = (
    ("/queue", "Reply queue"),
    ("/tickets", "Tickets"),
    ("/dashboard", "Dashboard"),
    ("/customers", "Customers"),
    ("/mentions", "Mentions"),
    ("/labels", "Labels"),
    ("/admin", "Admin"),
)
"""The header's links; each is shown to the roles that may open it (web.permissions decides)."""


def build_environment() -> jinja2.Environment:
    """The Jinja2 environment: the templates folder, autoescaping, strict undefined names, the post filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["post_html"] = post_html
    env.filters["safe_url"] = safe_url
    env.filters["plain"] = plain
    return env


def language_of(request: web.Request) -> str:
    """The request's UI language (the user's choice, the browser's, the configured default), worked out once."""
    cached = request.get(LANGUAGE_KEY)
    if isinstance(cached, str):
        return cached
    user: AuthenticatedUser | None = request.get(USER_KEY)
    language = i18n.negotiate(
        user.language if user else None,
        request.headers.get("Accept-Language"),
        request.app[DEFAULT_LANGUAGE_KEY],
    )
    request[LANGUAGE_KEY] = language
    return language


def zone_name_of(request: web.Request) -> str:
    """The request's zone: the user's choice, the browser's ``tz`` cookie, ``[web] time_zone``, the server's."""
    user: AuthenticatedUser | None = request.get(USER_KEY)
    for name in (user.time_zone if user else None, request.cookies.get(TIME_ZONE_COOKIE)):
        if name and zone(name) is not None:
            return name
    return request.app.get(DEFAULT_ZONE_KEY) or server_zone_name()


def zone_of(request: web.Request) -> tzinfo:
    """The zone of zone_name_of (UTC should the name stop resolving)."""
    return zone(zone_name_of(request)) or UTC


def page_context(request: web.Request) -> dict[str, Any]:
    """What every page template can use: the user, language helpers, formatting, navigation."""
    language = language_of(request)
    user: AuthenticatedUser | None = request.get(USER_KEY)
    now = utcnow()
    zone_name = zone_name_of(request)
    shown_in = zone(zone_name) or UTC

    def may(target: str, method: str = "GET") -> bool:
        """Whether the current person would get through to ``target`` (links and forms are shown only then)."""
        return user is not None and may_open(request.app, user.role, target, method)

    nav = [(href, label) for href, label in NAVIGATION if may(href)]

    def query(**changes: Any) -> str:
        params = {k: v for k, v in request.query.items()}
        for key, value in changes.items():
            if value is None or value == "":
                params.pop(key, None)
            else:
                params[key] = str(value)
        return "?" + urlencode(params) if params else "?"

    return {
        "user": user,
        "lang": language,
        "t": i18n.translator(language),
        "dt": lambda v: i18n.format_datetime(v, language, shown_in),
        "date": lambda v: i18n.format_date(v, language, shown_in),
        "day": lambda v: i18n.format_date(v, language, shown_in),  # a day the page filters by (days are the zone's)
        "time_zone": zone_name,
        "num": lambda v, d=0: i18n.format_number(v, language, d),
        "pct": lambda v: i18n.format_percent(v, language),
        "order_status": lambda v: format_order_status(v, language),
        "dur": lambda v: i18n.format_duration(v, language),
        "age": lambda v: i18n.format_age(v, now, language),
        "now": now,
        "nav": nav,
        "may": may,
        "path": request.path,
        "query": query,
        "csrf_token": user.csrf_token if user else request.get(PRELOGIN_KEY, ""),
        "notice": None,
        "notice_kind": "",
        **notice_of(request),
    }


def render(request: web.Request, template: str, http_status: int = 200, **context: Any) -> web.Response:
    """An HTML response from ``template`` with the page context and ``context``."""
    env = request.app[JINJA_KEY]
    merged = page_context(request)
    merged.update(context)
    html = env.get_template(template).render(**merged)
    return web.Response(text=html, status=http_status, content_type="text/html", charset="utf-8")
