"""Webhooks as Standard Webhooks: a real receiver on 127.0.0.1 verifies them with the standardwebhooks package.

Also: the first release's signature header while ``legacy_signature`` is on, the same webhook-id on
every retry, config errors for unknown events, warnings for unsigned webhooks, and every event of
the vocabulary queued somewhere (and no other).
"""

from __future__ import annotations

import ast
import hashlib
import hmac
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from connectors.base import Batch
from socialcrm.config import Config, SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.errors import ConfigError
from socialcrm.models import WEBHOOK_EVENTS, OutboxItem, utcnow
from socialcrm.outbox import OutboxWorker
from socialcrm.pipeline import Pipeline
from socialcrm.rules.loader import compile_rules
from socialcrm.webhooks import new_secret
from tests.core.fakes import FakeClassifier, post
from tests.replay_server import ReplayServer
from tests.test_architecture import ROOT, source_files

RULE = """
[[rules]]
name = "complaint-alert"
[rules.when]
sentiment = ["negative"]
[[rules.then]]
action = "notify"
webhook = "ops"
message = "Beschwerde"
"""


def hook_config(url: str, secret_env: str = "HOOK_SECRET", extra: str = "") -> Config:
    return parse_config(RULE + f'\n[[webhooks]]\nname = "ops"\nurl = "{url}"\nsecret_env = "{secret_env}"\n{extra}\n')


class Receiver:
    """A webhook receiver as its users write one: verify with standardwebhooks, else 401."""

    def __init__(self, secret: str | bytes, answers: list[int] | None = None) -> None:
        self.webhook = Webhook(secret)
        self.answers = answers or []
        self.seen: list[tuple[dict[str, str], bytes]] = []
        self.verified: list[Any] = []

    async def __call__(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        self.seen.append((headers, body))
        try:
            payload = self.webhook.verify(body, headers)
        except WebhookVerificationError as err:
            return web.Response(status=401, text=str(err))
        if self.answers:
            return web.Response(status=self.answers.pop(0))
        self.verified.append(payload)
        return web.Response(status=204)


async def complain(config: Config, db: Database) -> None:
    """Store a complaint through the real pipeline: its rule queues a notify webhook."""
    ruleset = compile_rules(list(config.rules), config.templates, webhooks={w.name for w in config.webhooks})
    pipeline = Pipeline(config, db, FakeClassifier(), ruleset)
    complaint = post("blog", 1, "Die Lieferung ist überfällig, sehr ärgerlich!", author="jana")
    await pipeline.process(SourceConfig(name="blog", type="feed"), Batch(posts=[complaint], cursor="c1"))


async def deliver(config: Config, db: Database) -> list[int]:
    """Run the outbox until nothing is due, making retries due at once; the rows' ``sent`` per pass."""
    passes = []
    async with aiohttp.ClientSession() as http:
        worker = OutboxWorker(config, db, {}, http)
        for _ in range(4):
            passes.append((await worker.run_once()).sent)
            with db.write() as session:
                for item in session.exec(select(OutboxItem).where(OutboxItem.status == "pending")):
                    item.next_attempt_at = utcnow() - timedelta(seconds=1)
                    session.add(item)
    return passes


async def test_receivers_verify_webhooks_with_the_standardwebhooks_package(
    db: Database, replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = new_secret()
    monkeypatch.setenv("HOOK_SECRET", secret)
    receiver = Receiver(secret)
    replay.add_handler("POST", "/hook", receiver)
    config = hook_config(replay.url("/hook"))
    assert not [w for w in config.warnings if "webhooks" in w]
    await complain(config, db)

    assert sum(await deliver(config, db)) == 1
    [payload] = receiver.verified
    assert payload["event"] == "notify" and payload["rule"] == "complaint-alert"
    assert payload["message"] == "Beschwerde" and "überfällig" in payload["mention"]["text"]
    headers, body = receiver.seen[0]
    assert headers["webhook-id"].startswith("msg_") and headers["webhook-timestamp"].isdigit()
    # The first release's header is still there for its receivers, keyed with the secret's text.
    ts = headers["X-SocialCRM-Timestamp"]
    legacy = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["X-SocialCRM-Signature"] == f"sha256={legacy}"
    # The check is real: another secret, or a changed body, does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("überfällig".encode(), "pünktlich".encode()), headers)


async def test_a_retry_sends_the_same_webhook_id_and_legacy_headers_can_be_switched_off(
    db: Database, replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = new_secret()
    monkeypatch.setenv("HOOK_SECRET", secret)
    receiver = Receiver(secret, answers=[503])
    replay.add_handler("POST", "/hook", receiver)
    config = hook_config(replay.url("/hook"), extra="legacy_signature = false")
    await complain(config, db)

    assert await deliver(config, db) == [0, 1, 0, 0]
    assert len(receiver.seen) == 2 and len(receiver.verified) == 1
    ids = {headers["webhook-id"] for headers, _ in receiver.seen}
    assert len(ids) == 1  # receivers deduplicate a retried message by its id
    assert not any("X-SocialCRM-Signature" in headers for headers, _ in receiver.seen)


async def test_a_first_release_secret_still_signs_both_ways(
    db: Database, replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLD_SECRET", "s3cret-from-0.1")
    receiver = Receiver(b"s3cret-from-0.1")  # its bytes, as the warning tells the receiver to use them
    replay.add_handler("POST", "/hook", receiver)
    config = hook_config(replay.url("/hook"), secret_env="OLD_SECRET")
    assert any("OLD_SECRET is not a Standard Webhooks secret" in w for w in config.warnings)
    await complain(config, db)
    assert sum(await deliver(config, db)) == 1
    headers, body = receiver.seen[0]
    legacy = hmac.new(b"s3cret-from-0.1", headers["X-SocialCRM-Timestamp"].encode() + b"." + body, hashlib.sha256)
    assert headers["X-SocialCRM-Signature"] == f"sha256={legacy.hexdigest()}"


def test_unknown_events_are_config_errors_and_unsigned_webhooks_a_warning() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config('[[webhooks]]\nname = "ops"\nurl = "https://hooks.example.com/x"\nevents = ["notify", "ticket"]\n')
    assert err.value.problems == ["webhooks[0].events: unknown event 'ticket' (known: notify, alert)"]
    with pytest.raises(ConfigError) as err:
        parse_config('[[webhooks]]\nname = "ops"\nurl = "https://hooks.example.com/x"\nevents = []\n')
    assert "names no event" in err.value.problems[0]
    config = parse_config('[[webhooks]]\nname = "ops"\nurl = "https://hooks.example.com/x"\n')
    assert config.webhooks[0].events == ("notify",)
    assert any(w.startswith("webhooks[0]: no secret_env") and "unsigned" in w for w in config.warnings)


def test_a_notify_action_may_only_name_a_webhook_that_takes_notify_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socialcrm.config_sections.WEBHOOK_EVENTS", ("notify", "alert"))  # a second event
    toml = RULE + '\n[[webhooks]]\nname = "ops"\nurl = "https://hooks.example.com/x"\nevents = ["alert"]\n'
    with pytest.raises(ConfigError) as err:
        parse_config(toml)
    assert err.value.problems == [
        "rules[0].then[0].webhook: webhook 'ops' is not sent notify events (its events: alert); "
        'add "notify" to its events or name another webhook'
    ]


def test_every_event_is_queued_somewhere_and_no_other() -> None:
    """The config's vocabulary of events and the events the code queues are the same set."""
    queued: dict[str, list[str]] = {}
    for path in source_files("socialcrm"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", "")) == "enqueue_webhook"
            ):
                event = node.args[2] if len(node.args) > 2 else next(k.value for k in node.keywords if k.arg == "event")
                assert isinstance(event, ast.Constant), f"{path}:{node.lineno}: name the event literally"
                queued.setdefault(event.value, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert set(queued) == set(WEBHOOK_EVENTS), queued
