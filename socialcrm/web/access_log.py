"""The access log (``[web] access_log = true``): one line per request on the ``socialcrm.access`` logger.

A text line reads ``127.0.0.1 alice "GET /queue?page=2" 200 5120 3.1ms``; in JSON logs the same
facts also sit in an ``http`` object. Bodies, cookies and the Authorization header are never logged.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from socialcrm.web.security import USER_KEY

ACCESS_LOGGER = "socialcrm.access"


class AccessLogger(AbstractAccessLogger):
    """Logs method, path, status, size, duration and the logged-in user of each request."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """One line per request, with the same fields as structured ``http`` data for JSON logs."""
        user: Any = request.get(USER_KEY)
        username = getattr(user, "username", None) or "-"
        size = response.body_length
        http = {
            "remote": request.remote,
            "user": None if username == "-" else username,
            "method": request.method,
            "path": request.path_qs,
            "status": response.status,
            "bytes": size,
            "duration_ms": round(time * 1000, 1),
            "user_agent": request.headers.get("User-Agent"),
        }
        self.logger.info(
            '%s %s "%s %s" %s %s %.1fms',
            request.remote,
            username,
            request.method,
            request.path_qs,
            response.status,
            size,
            time * 1000,
            extra={"http": http},
        )

    @property
    def enabled(self) -> bool:
        """aiohttp calls ``log`` only when INFO is on for the access logger."""
        return self.logger.isEnabledFor(logging.INFO)


def access_log_options(enabled: bool) -> dict[str, Any]:
    """Keyword arguments for ``web.AppRunner``: our access logger, or none at all."""
    if not enabled:
        return {"access_log": None}
    return {"access_log": logging.getLogger(ACCESS_LOGGER), "access_log_class": AccessLogger}
