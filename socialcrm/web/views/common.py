"""Small things several pages share: the configuration key, source names, brand terms, the answer after an action."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from socialcrm.config import Config
from socialcrm.insights.themes import configured_brand_terms
from socialcrm.web.i18n import translate
from socialcrm.web.notices import NOTICES
from socialcrm.web.render import language_of
from socialcrm.web.security import local_path, wants_json
from socialcrm.web.views import params

CONFIG_KEY = web.AppKey("config", Config)
MAX_NEXT = 2000
"""The longest ``next`` a form may carry (a list's path with its filters)."""


def brand_terms(request: web.Request) -> frozenset[str]:
    """The brand's own words that themes leave out: ``[insights] brand_terms`` and what the sources listen for."""
    config = request.app[CONFIG_KEY]
    return configured_brand_terms(config.insights.brand_terms, (source.options for source in config.sources))


def source_names(request: web.Request) -> list[str]:
    """The configured sources' names, for filter menus."""
    config = request.app[CONFIG_KEY]
    return [source.name for source in config.sources]


def back_to(form: Mapping[str, Any], default: str) -> str:
    """Where to go after an action: the form's ``next`` when it is a path on this site, else ``default``."""
    return local_path(params.text(form, "next", MAX_NEXT)) or default


def finish(request: web.Request, location: str, code: str, *, status: int = 200, **data: object) -> web.StreamResponse:
    """After an action: JSON for fetch callers, else a 303 redirect carrying the notice code."""
    message, kind = NOTICES.get(code, (code, "ok"))
    if wants_json(request):
        payload = {
            "ok": kind == "ok",
            "code": code,
            "notice": translate(language_of(request), message),
            **data,
        }
        return web.json_response(payload, status=status)
    separator = "&" if "?" in location else "?"
    raise web.HTTPSeeOther(f"{location}{separator}notice={code}")
