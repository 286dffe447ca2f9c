"""The application factory: ``create_app(config, db)`` returns the aiohttp Application the daemon serves."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from socialcrm.config import Config
from socialcrm.db import Database
from socialcrm.services.auth import LoginPolicy
from socialcrm.web import metrics
from socialcrm.web.middleware import DB_KEY, authenticate, csrf_protect, error_pages
from socialcrm.web.permissions import ROUTE_MAP_KEY, RouteMap
from socialcrm.web.queries.rollup import MentionRollups
from socialcrm.web.render import DEFAULT_LANGUAGE_KEY, DEFAULT_ZONE_KEY, JINJA_KEY, build_environment
from socialcrm.web.security import PUBLIC_URL_KEY, TRUSTED_PROXIES_KEY, add_security_headers, trusted_networks
from socialcrm.web.views import (
    account,
    admin,
    auth,
    customers,
    dashboard,
    labels,
    mentions,
    queue,
    replies,
    saved_replies,
    ticket_actions,
    tickets,
)
from socialcrm.web.views.auth import LOGIN_POLICY_KEY
from socialcrm.web.views.common import CONFIG_KEY

STATIC_DIR = Path(__file__).parent / "static"


def create_app(config: Config, db: Database, *, classifier: object | None = None) -> web.Application:
    """Build the web app for ``config`` on ``db``; it needs no startup or cleanup hooks of its own.

    ``classifier``: the running sentiment classifier, whose sentence vectors labels train on (without
    one, the configured classifier is built when a label is first trained).
    """
    from socialcrm.web.api import v1

    app = web.Application(
        middlewares=[metrics.time_requests, error_pages, authenticate, csrf_protect],
        client_max_size=1024 * 1024,
    )
    app[CONFIG_KEY] = config
    app[DB_KEY] = db
    app[JINJA_KEY] = build_environment()
    app[DEFAULT_LANGUAGE_KEY] = config.web.default_language
    app[DEFAULT_ZONE_KEY] = config.web.time_zone or ""
    app[PUBLIC_URL_KEY] = config.web.public_url or ""
    app[TRUSTED_PROXIES_KEY] = trusted_networks(config.web.trusted_proxies)
    app[metrics.METRICS_TOKEN_KEY] = metrics.metrics_token(config)
    app[LOGIN_POLICY_KEY] = LoginPolicy.of(config.web.session_hours, config.web.login_attempts_per_15min)
    app.on_response_prepare.append(add_security_headers)
    for module in (
        auth,
        account,
        mentions,
        replies,
        queue,
        tickets,
        ticket_actions,
        dashboard,
        customers,
        admin,
        saved_replies,
        metrics,
        labels,
    ):
        app.router.add_routes(module.routes)
    admin.setup_rules(app)
    labels.setup(app, classifier)
    app[dashboard.ROLLUP_KEY] = MentionRollups()
    v1.setup(app)
    app.router.add_static("/static/", STATIC_DIR, name="static", append_version=False)
    app[ROUTE_MAP_KEY] = RouteMap(app)
    return app
