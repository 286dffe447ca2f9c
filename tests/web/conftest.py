"""Fixtures for the web tests: a real app on a real database, users of every role, logged-in clients, and
logged-in pages of a real headless Chromium (Debian's, driven by Playwright) for the browser tests."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from socialcrm.config import Config, parse_config
from socialcrm.db import Database
from socialcrm.models import Mention
from socialcrm.outbox import OutboxRunResult, OutboxWorker
from socialcrm.timezones import server_zone_name
from socialcrm.web.app import create_app
from tests.conftest import CHROMIUM
from tests.replay.cassettes import load, serve
from tests.replay_server import ReplayServer
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


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Records any dialog or script-made call and every CSP refusal, before the page's own code runs.
WATCH = """
window.__fired = [];
window.__violations = [];
for (const name of ["alert", "confirm", "prompt", "print"]) {
  window[name] = (...args) => { window.__fired.push(name + ":" + String(args[0])); };
}
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + (e.sample || ""));
});
"""
MASTODON_CASSETTES = Path(__file__).resolve().parents[1] / "replay" / "mastodon"
LogIn = Callable[..., Awaitable[tuple[Any, list[str]]]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that drives Chromium is a browser test, skipped where Chromium is not installed."""
    missing = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed")
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
            item.add_marker(missing)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium for one test."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        await chromium.close()


@pytest.fixture
def serve_web(aiohttp_server, db: Database) -> Callable[..., Awaitable[str]]:  # type: ignore[no-untyped-def]
    """``await serve_web(toml)`` runs the web app with that config on 127.0.0.1 and gives its base URL."""

    async def start(toml: str = "") -> str:
        server = await aiohttp_server(create_app(parse_config(toml), db), host="127.0.0.1", port=0)
        return f"http://127.0.0.1:{server.port}"

    return start


@pytest.fixture
def log_in(browser: Any) -> LogIn:
    """``page, dialogs = await log_in(base, "service")``: a new browser context logged in through the form.

    The page records dialogs (``dialogs``), script-made calls and CSP refusals (``WATCH``) from the start;
    keyword arguments go to the context (``locale`` is en-US and ``timezone_id`` UTC unless given, ``viewport``).
    """

    async def open_as(base: str, username: str, **context_options: Any) -> tuple[Any, list[str]]:
        # A fixed zone (UTC unless given), so what a page shows never depends on the machine's TZ.
        context = await browser.new_context(**{"locale": "en-US", "timezone_id": "UTC", **context_options})
        page = await context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        await page.add_init_script(WATCH)
        await page.goto(base + "/login")
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_load_state("load")
        return page, dialogs

    return open_as


@dataclass
class MastodonThread:
    """The seed world, its first mention a recorded Mastodon status that the replay server takes a reply to."""

    world: World
    config_toml: str
    author: str
    replay: ReplayServer

    async def deliver(self, db: Database, passes: int = 1) -> list[OutboxRunResult]:
        """Run ``passes`` outbox passes with the Mastodon connector, as the daemon would."""
        from connectors.mastodon import MastodonConnector

        config = parse_config(self.config_toml)
        async with aiohttp.ClientSession() as http:
            connector = MastodonConnector("masto", config.sources[0].options, http)
            worker = OutboxWorker(config, db, {"masto": connector}, http)
            return [await worker.run_once() for _ in range(passes)]

    def posted(self) -> list[Any]:
        """The statuses posted to the replay server."""
        return [r for r in self.replay.requests if r.method == "POST" and r.path == "/api/v1/statuses"]


@pytest.fixture
def mastodon_thread(db: Database, replay: ReplayServer, monkeypatch: pytest.MonkeyPatch) -> MastodonThread:
    """Users, the seed world, and a replay server that answers one reply to the world's mention."""
    monkeypatch.setenv("MASTO_TOKEN", "tok-abc")
    posts = [i for i in load(MASTODON_CASSETTES / "test_status_reply.yaml") if i.method == "POST"]
    original, recorded_reply = posts[0].json(), posts[1]
    serve(replay, [recorded_reply])
    config_toml = f"""
[[sources]]
name = "masto"
type = "mastodon"
base_url = "{replay.base_url}"
hashtags = ["acme"]
access_token_env = "MASTO_TOKEN"
"""
    make_users(db)
    world = make_world(db)
    with db.write() as s:
        mention = s.get(Mention, world.mention_id)
        assert mention is not None
        mention.source, mention.external_id = "masto", original["id"]
        mention.author, mention.url = original["account"]["acct"], original["url"]
        s.add(mention)
    return MastodonThread(world, config_toml, original["account"]["acct"], replay)
