"""The web app while its database is away and right after: a clear 503, the health check's contract, no 500.

PostgreSQL: the test's database is closed and every connection to it cut (tests/database_outage.py), as
a server restart does. SQLite: a second process holds the file's write lock past busy_timeout.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import socialcrm.db
from socialcrm.config import Config
from socialcrm.db import Database, is_unavailable
from socialcrm.web.app import create_app
from socialcrm.web.middleware import DB_KEY
from tests.database_outage import Outage, cut, short_busy_timeout
from tests.web.conftest import _FORM_CSRF, login
from tests.web.seed import PASSWORD

JSON = {"Accept": "application/json"}
UNAVAILABLE = "The database is unavailable just now. Please try again in a moment."


def _problems(records: list[logging.LogRecord]) -> list[str]:
    """Log records an operator would read as a crash: errors, or anything with a traceback."""
    return [r.getMessage() for r in records if r.levelno >= logging.ERROR or r.exc_info]


async def test_postgresql_outage_is_a_503_and_the_first_request_after_it_works(  # type: ignore[no-untyped-def]
    aiohttp_client, database_url: str, web_config: Config, world, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("a PostgreSQL outage; SQLite's locked file: the test below")
    # Pooled connections are never pinged for being idle here: the first request after the outage comes
    # within milliseconds of the last one before it, on a connection the outage ended.
    monkeypatch.setattr(socialcrm.db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    db = Database(database_url)
    client = await aiohttp_client(create_app(web_config, db))
    await login(client, "service")
    anon = await aiohttp_client(create_app(web_config, db))
    try:
        assert (await client.get("/tickets")).status == 200
        caplog.clear()
        await asyncio.to_thread(cut, database_url, True, until_gone=True)
        try:
            page = await client.get("/tickets")
            assert page.status == 503 and page.headers["Retry-After"] == "5"
            assert UNAVAILABLE in await page.text()
            german = await client.get("/tickets", headers={"Accept-Language": "de"})
            assert german.status == 503 and "Die Datenbank ist gerade nicht erreichbar" in await german.text()
            api = await client.get("/api/v1/tickets", headers=JSON)
            assert api.status == 503 and await api.json() == {"error": UNAVAILABLE, "status": 503}
            # The health check keeps its contract, for a monitor and for a logged-in browser alike.
            for who in (anon, client):
                health = await who.get("/healthz")
                assert health.status == 503
                assert await health.json() == {"status": "error", "database": "unreachable"}
        finally:
            await asyncio.to_thread(cut, database_url, False)
        outage_log = [r for r in caplog.records if r.name == "socialcrm.web.middleware"]
        assert outage_log and all("database unavailable: GET /" in r.getMessage() for r in outage_log)
        assert _problems(caplog.records) == []

        # Back: the very first request of each kind works, on the pool that held the cut connections.
        assert (await client.get("/tickets")).status == 200
        assert (await client.get("/api/v1/tickets", headers=JSON)).status == 200
        assert await (await anon.get("/healthz")).json() == {"status": "ok", "database": "ok"}

        # A restart between two requests, with nothing in flight: the next request is not its victim.
        for _ in range(3):
            await asyncio.to_thread(cut, database_url, True, until_gone=True)
            await asyncio.to_thread(cut, database_url, False)
            assert (await client.get("/tickets")).status == 200
        assert _problems(caplog.records) == []
    finally:
        db.dispose()


async def test_a_write_while_another_process_holds_the_sqlite_file_is_a_503(  # type: ignore[no-untyped-def]
    aiohttp_client, db: Database, database_url: str, web_config: Config, world, caplog
) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite's file lock; PostgreSQL's outage: the test above")

    short_busy_timeout(db)
    client = await aiohttp_client(create_app(web_config, db))
    outage = Outage(db, database_url)
    outage.begin()
    try:
        caplog.clear()
        token = await login_form_token(client)  # reading goes on (WAL): the login page shows
        attempt = await client.post(
            "/login", data={"username": "service", "password": PASSWORD, "csrf_token": token}, allow_redirects=False
        )
        assert attempt.status == 503 and UNAVAILABLE in await attempt.text()  # its session could not be stored
        assert _problems(caplog.records) == []
        assert any("database is locked" in r.getMessage() for r in caplog.records)
    finally:
        outage.end()
    await login(client, "service")  # the lock gone, the same write works
    assert (await client.get("/tickets")).status == 200


async def login_form_token(client: Any) -> str:
    """The login form's CSRF token."""
    page = await client.get("/login")
    assert page.status == 200
    match = _FORM_CSRF.search(await page.text())
    assert match
    return match.group(1)


async def test_a_database_error_that_is_a_bug_stays_a_500(aiohttp_client, db: Database, web_config: Config, world):  # type: ignore[no-untyped-def]
    app = create_app(web_config, db)

    async def broken(request: web.Request) -> web.Response:
        await request.app[DB_KEY].run_read(lambda s: s.connection().execute(text("SELECT * FROM no_such_table")))
        return web.Response()

    app.router.add_get("/test/broken", broken)
    client = await aiohttp_client(app)
    await login(client, "service")
    response = await client.get("/test/broken", headers=JSON)
    assert response.status == 500 and "no_such_table" not in await response.text()
    with db.read() as session, pytest.raises(SQLAlchemyError) as raised:
        session.connection().execute(text("SELECT * FROM no_such_table"))
    assert not is_unavailable(raised.value)
