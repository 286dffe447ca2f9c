"""Who may open what, read from the routes themselves: pages show a link or a form only where it would work.

``requires`` (web.security) records each guarded handler's roles here. ``may_open(app, role, path)``
finds the route that would answer ``path`` and says whether ``role`` passes its guard, so a
template never repeats a route's roles (marketing sees a customer's name, not a link that answers 403).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

ADMIN = "admin"
_GUARDS: dict[Callable[..., Any], frozenset[str]] = {}


def register(handler: Callable[..., Any], roles: frozenset[str]) -> None:
    """Remember that only ``roles`` may call ``handler`` (done by ``requires``)."""
    _GUARDS[handler] = roles


def guard_of(handler: Callable[..., Any]) -> frozenset[str] | None:
    """The roles ``handler`` allows; None when it has no role guard (any logged-in person)."""
    return _GUARDS.get(handler)


@dataclass(frozen=True)
class _Route:
    path: str | None  # a plain path, or
    pattern: re.Pattern[str] | None  # the pattern of a path with {parameters}
    handlers: dict[str, Callable[..., Any]]

    def matches(self, path: str) -> bool:
        if self.path is not None:
            return self.path == path
        return self.pattern is not None and self.pattern.fullmatch(path) is not None


class RouteMap:
    """The app's routes in the order aiohttp tries them, for answering "would this role get in?"."""

    def __init__(self, app: web.Application) -> None:
        self.routes: list[_Route] = []
        for resource in app.router.resources():
            info = resource.get_info()
            if "prefix" in info:  # static files: public
                continue
            handlers = {route.method: route.handler for route in resource}
            self.routes.append(_Route(info.get("path"), info.get("pattern"), handlers))

    def handler(self, method: str, path: str) -> Callable[..., Any] | None:
        """The handler that would answer ``method path``, or None when no route does."""
        for route in self.routes:
            if route.matches(path):
                found = route.handlers.get(method) or route.handlers.get("*")
                if found is not None:
                    return found
        return None


ROUTE_MAP_KEY = web.AppKey("route_map", RouteMap)


def route_map(app: web.Application) -> RouteMap:
    """The app's RouteMap (``create_app`` builds it once every route is added)."""
    found = app.get(ROUTE_MAP_KEY)
    return found if found is not None else RouteMap(app)


def may_open(app: web.Application, role: str, target: str, method: str = "GET") -> bool:
    """Whether a person with ``role`` gets through to ``target`` (a path on this site, query allowed)."""
    path = urlsplit(target).path
    handler = route_map(app).handler(method.upper(), path)
    if handler is None:
        return False
    roles = guard_of(handler)
    return roles is None or role == ADMIN or role in roles
