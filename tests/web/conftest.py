"""Fixtures for the web tests: a real app on a real database, users of every role, logged-in clients."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator

import pytest
from aiohttp.test_utils import TestClient

from socialcrm.config import Config, parse_config
from socialcrm.db import Database
from socialcrm.timezones import server_zone_name
from socialcrm.web.app import create_app
from tests.web.seed import PASSWORD, World, make_users, make_world

CONFIG_TOML = """
[web]
default_language = "en"
login_attempts_per_15min = 5
"""
_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
_FORM_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture(autouse=True)
def server_in_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pages show times in the server's zone when the user and browser name none: UTC here, wherever tests run."""
    monkeypatch.setenv("TZ", "UTC")
    server_zone_name.cache_clear()
    yield
    monkeypatch.undo()
    server_zone_name.cache_clear()


@pytest.fixture
def web_config() -> Config:
    return parse_config(CONFIG_TOML)


@pytest.fixture
def world(db: Database) -> World:
    make_users(db)
    return make_world(db)


Client = TestClient  # type: ignore[type-arg]
MakeClient = Callable[..., Awaitable[TestClient]]  # type: ignore[type-arg]


@pytest.fixture
async def anon(aiohttp_client, db: Database, web_config: Config) -> TestClient:  # type: ignore[no-untyped-def,type-arg]
    """A client that has not logged in."""
    return await aiohttp_client(create_app(web_config, db))


async def login(client: TestClient, username: str, password: str = PASSWORD) -> str:  # type: ignore[type-arg]
    """Log in through the form (with its anonymous CSRF token); return the session's CSRF token."""
    page = await client.get("/login")
    token = _FORM_CSRF.search(await page.text())
    assert token, "login form has no CSRF field"
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    return await csrf_of(client)


async def csrf_of(client: TestClient) -> str:  # type: ignore[type-arg]
    page = await client.get("/mentions")
    match = _META_CSRF.search(await page.text())
    assert match and match.group(1), "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def as_role(aiohttp_client, db: Database, web_config: Config):  # type: ignore[no-untyped-def]
    """``await as_role("community")`` gives a logged-in client and its CSRF token."""

    async def make(role: str) -> tuple[TestClient, str]:  # type: ignore[type-arg]
        client = await aiohttp_client(create_app(web_config, db))
        token = await login(client, role)
        return client, token

    return make
