"""Errors as people and API clients see them: only the services' invalid-input errors are a 400."""

from __future__ import annotations

from aiohttp import web

from socialcrm.errors import InvalidInputError
from socialcrm.web.app import create_app
from tests.web.conftest import login

JSON = {"Accept": "application/json"}


async def test_invalid_input_is_400_and_a_stray_value_error_500(aiohttp_client, db, web_config, world):  # type: ignore[no-untyped-def]
    app = create_app(web_config, db)

    async def refuse(request: web.Request) -> web.Response:
        raise InvalidInputError("text: a note needs text")

    async def crash(request: web.Request) -> web.Response:
        int("internal detail")  # a bug, not the person's mistake
        return web.Response()

    app.router.add_get("/test/refuse", refuse)
    app.router.add_get("/test/crash", crash)
    client = await aiohttp_client(app)
    await login(client, "service")

    refused = await client.get("/test/refuse", headers=JSON)
    assert refused.status == 400
    assert await refused.json() == {"error": "text: a note needs text", "status": 400}
    page = await client.get("/test/refuse")
    assert page.status == 400 and "a note needs text" in await page.text()

    crashed = await client.get("/test/crash", headers=JSON)
    assert crashed.status == 500
    assert "internal detail" not in await crashed.text()
