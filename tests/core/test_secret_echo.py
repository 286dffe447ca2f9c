"""Issue 11 item 8: a server that echoes a credential in its error body must not put it anywhere.

Real parts: a server on 127.0.0.1 answers every request of three sources (Mastodon, Discourse,
Bluesky) with an error whose body repeats the credential it was sent (the Authorization header,
the Api-Key header, the app password from the JSON body), the way some proxies and badly written
APIs do. Then ``socialcrm poll`` and ``socialcrm sources`` run as real processes with the secrets
in their environment. None of the secrets may appear in their output, their log (DEBUG, text and
JSON), or anywhere in the database. The Discourse key is 4 characters long: the first release
masked only secrets of 6 characters and more in the log, and none anywhere else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import sys
from pathlib import Path

import pytest
from aiohttp import web

from socialcrm.logs import SecretMaskingFilter
from socialcrm.secret_mask import MASK, mask_secrets, secret_forms
from tests.replay_server import ReplayServer

TOKEN = "mTok_9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c"
KEY = "k3Y9"
PASSWORD = "abcd-efgh-ijkl-mnop"
SECRETS = (TOKEN, KEY, PASSWORD)


async def echo(request: web.Request) -> web.Response:
    """Answer with an error that repeats every credential the request carried, first thing in the body."""
    body = (await request.read()).decode("utf-8", "replace")
    sent = " ".join(
        value for value in (request.headers.get("Authorization"), request.headers.get("Api-Key"), body) if value
    )
    status = 500 if "Api-Key" in request.headers else 401
    return web.json_response(
        {"error": f"rejected credentials: {sent}", "headers": dict(request.headers)}, status=status
    )


def config_text(base: str, log_format: str) -> str:
    return f"""
[database]
url = "sqlite:///crm.db"
[web]
enabled = false
[classifier]
kind = "lexicon"
[daemon]
log_format = "{log_format}"
[[sources]]
name = "toots"
type = "mastodon"
base_url = "{base}/mastodon"
hashtags = ["acme"]
access_token_env = "TEST_MASTODON_TOKEN"
[[sources]]
name = "forum"
type = "discourse"
base_url = "{base}/discourse"
api_username = "bot"
api_key_env = "TEST_DISCOURSE_KEY"
authenticated_reads = true
[[sources]]
name = "sky"
type = "bluesky"
base_url = "{base}/bsky"
identifier = "bot.example.org"
app_password_env = "TEST_BSKY_PASSWORD"
query = "acme"
"""


async def run_cli(cwd: Path, *args: str) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
    env.update(
        SOCIALCRM_CACHE_DIR=str(cwd / "cache"),
        TEST_MASTODON_TOKEN=TOKEN,
        TEST_DISCOURSE_KEY=KEY,
        TEST_BSKY_PASSWORD=PASSWORD,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "socialcrm",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return out.decode(), err.decode()


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if any(form in text for form in secret_forms(secret))]


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_echoed_credentials_surface_nowhere(replay: ReplayServer, tmp_path: Path, log_format: str) -> None:
    replay.add_handler("GET", "/mastodon/api/v1/timelines/tag/acme", echo)
    replay.add_handler("GET", "/discourse/posts.json", echo)
    replay.add_handler("POST", "/bsky/xrpc/com.atproto.server.createSession", echo)
    (tmp_path / "socialcrm.toml").write_text(config_text(replay.base_url, log_format))

    poll_out, poll_err = await run_cli(tmp_path, "--log-level", "DEBUG", "poll")
    list_out, list_err = await run_cli(tmp_path, "sources")

    # The servers really were sent the credentials, and echoed them: the test exercises the fault.
    sent = {r.path: r for r in replay.requests}
    assert sent["/mastodon/api/v1/timelines/tag/acme"].headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent["/discourse/posts.json"].headers["Api-Key"] == KEY
    assert PASSWORD in sent["/bsky/xrpc/com.atproto.server.createSession"].body.decode()
    # Each source failed with the server's message, and the message is shown, masked.
    assert "toots" in poll_out and "forum" in poll_out and "sky" in poll_out
    assert poll_out.count("rejected credentials") == 3 and list_out.count("rejected credentials") == 3
    assert MASK in list_out
    assert leaked(poll_out) == [] and leaked(poll_err) == []
    assert leaked(list_out) == [] and leaked(list_err) == []
    with sqlite3.connect(tmp_path / "crm.db") as connection:
        dump = "\n".join(connection.iterdump())
    assert "rejected credentials" in dump
    assert leaked(dump) == []


def test_short_secrets_are_masked_in_every_echoed_form() -> None:
    assert mask_secrets(f"key={KEY}; again {KEY}", [KEY]) == f"key={MASK}; again {MASK}"
    assert mask_secrets(json.dumps({"password": 'a/b"c'}), ['a/b"c']) == json.dumps({"password": MASK})
    assert mask_secrets("p=a%2Fb%20c", ["a/b c"]) == f"p={MASK}"
    # An excerpt cut short in the middle of a secret does not leave its beginning behind.
    assert mask_secrets(f"denied: {TOKEN[:12]}", [TOKEN]) == f"denied: {MASK}"
    record_filter = SecretMaskingFilter([KEY])
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "got %s back", (KEY,), None)
    record_filter.filter(record)
    assert record.getMessage() == f"got {MASK} back"
