"""Prometheus metrics at ``/metrics``: its own bearer token (``[web] metrics_token_env``), else this machine only.

A scrape reads the stored figures from the database (socialcrm/monitoring/stored.py) and adds what
this process observed (socialcrm/monitoring/instruments.py) and the usual ``process_*`` and
``python_*`` figures, in the text format Prometheus asks for (OpenMetrics when its Accept header
says so). ``time_requests`` is the middleware that times every request for
``socialcrm_http_request_duration_seconds``.

Without a token only loopback clients may scrape. A request that came through a reverse proxy on
the same machine (it carries X-Forwarded-For, Forwarded or X-Real-IP) is not taken as local unless
that proxy is one of ``[web] trusted_proxies``, which then names the real client.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Iterable

import sqlalchemy.exc
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from socialcrm.config import Config
from socialcrm.models import utcnow
from socialcrm.monitoring.instruments import PROCESS_REGISTRY, observe_request
from socialcrm.monitoring.stored import Figures, StoredCollector, read_figures
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.security import TRUSTED_PROXIES_KEY, client_address, tokens_equal
from socialcrm.web.views.common import CONFIG_KEY

logger = logging.getLogger(__name__)
METRICS_PATH = "/metrics"
METRICS_TOKEN_KEY = web.AppKey("metrics_token", str)
_PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")

# The interpreter's own figures (CPU, memory, open files, GC), the same for every scrape.
_RUNTIME_REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=_RUNTIME_REGISTRY)
PlatformCollector(registry=_RUNTIME_REGISTRY)
GCCollector(registry=_RUNTIME_REGISTRY)

routes = web.RouteTableDef()


def metrics_token(config: Config) -> str:
    """The token scrapers must send, from the variable ``[web] metrics_token_env`` names ("" if none)."""
    name = config.web.metrics_token_env
    return os.environ.get(name, "").strip() if name else ""


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _refusal(request: web.Request) -> web.Response | None:
    """None when the request may scrape; else the answer that says why not."""
    token = request.app.get(METRICS_TOKEN_KEY, "")
    if token:
        authorization = request.headers.get("Authorization", "")
        given = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
        if tokens_equal(token, given):
            return None
        return web.Response(
            status=401,
            text="metrics need the bearer token named by [web] metrics_token_env\n",
            headers={"WWW-Authenticate": 'Bearer realm="socialcrm-metrics"'},
        )
    proxied = any(name in request.headers for name in _PROXY_HEADERS) and not request.app.get(TRUSTED_PROXIES_KEY)
    if _is_loopback(client_address(request)) and not proxied:
        return None
    return web.Response(
        status=403,
        text="metrics are served to this machine only; set [web] metrics_token_env to scrape from elsewhere\n",
    )


class _DatabaseUp(Collector):
    """A collector of the one ``socialcrm_database_up`` sample."""

    def __init__(self, up: bool) -> None:
        self.up = up

    def collect(self) -> Iterable[Metric]:
        """The sample: 1 when this scrape read the stored figures."""
        family = GaugeMetricFamily(
            "socialcrm_database_up", "1 when this scrape could read the stored figures from the database, else 0."
        )
        family.add_metric([], 1 if self.up else 0)
        return [family]


@routes.get(METRICS_PATH)
async def metrics(request: web.Request) -> web.StreamResponse:
    """Every metric, read now (stored figures from the database, this process's own in memory)."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    config = request.app[CONFIG_KEY]
    db = request.app[DB_KEY]
    registry = CollectorRegistry(auto_describe=True)
    figures: Figures | None
    try:
        figures = await db.run_read(lambda session: read_figures(session, config, utcnow()))
    except sqlalchemy.exc.SQLAlchemyError as err:
        logger.warning("Metrics: the database could not be read (%s)", str(err).splitlines()[0][:300])
        figures = None
    if figures is not None:
        registry.register(StoredCollector(figures))
    registry.register(_DatabaseUp(figures is not None))
    registry.register(PROCESS_REGISTRY)
    registry.register(_RUNTIME_REGISTRY)
    return await make_aiohttp_handler(registry)(request)


@web.middleware
async def time_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every request by method, route pattern and status (unknown paths share one route label)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        observe_request(request.method, route, status, time.perf_counter() - started)
