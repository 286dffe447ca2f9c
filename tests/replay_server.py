"""A real HTTP server on 127.0.0.1 that replays recorded responses and records what it was asked.

Tests register routes (method + path, optionally a query match) with one or more canned
responses; repeated requests walk through the list and then stay on the last one. Each route
may also be a handler coroutine for behaviour a recording cannot express (slow responses,
conditional GET). Every request is kept in ``server.requests`` so tests can assert on what the
client actually sent (headers, bodies, idempotency keys).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Canned:
    """One recorded response."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ReplayServer:
    """Serve canned responses keyed by (METHOD, path)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._routes: dict[tuple[str, str], list[Canned] | Handler] = {}
        self._served: dict[tuple[str, str], int] = {}
        self.requests: list[SeenRequest] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, method: str, path: str, *responses: Canned) -> None:
        """Serve ``responses`` in order for ``method path``; the last one repeats."""
        self._routes[(method.upper(), path)] = list(responses)
        self._served[(method.upper(), path)] = 0

    def add_handler(self, method: str, path: str, handler: Handler) -> None:
        self._routes[(method.upper(), path)] = handler

    def add_json(
        self, method: str, path: str, payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        hdrs = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        self.add(method, path, Canned(status, json.dumps(payload).encode(), hdrs))

    def add_file(
        self,
        method: str,
        path: str,
        file: Path,
        content_type: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.add(method, path, Canned(status, file.read_bytes(), {"Content-Type": content_type, **(headers or {})}))

    def served(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method.upper() and r.path == path)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            SeenRequest(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        key = (request.method, request.path)
        route = self._routes.get(key)
        if route is None:
            return web.Response(status=404, text=f"no recording for {request.method} {request.path}")
        if callable(route):
            return await route(request)
        index = min(self._served[key], len(route) - 1)
        self._served[key] += 1
        canned = route[index]
        if canned.delay:
            await asyncio.sleep(canned.delay)
        return web.Response(status=canned.status, body=canned.body, headers=dict(canned.headers))

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
