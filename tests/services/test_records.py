"""A mention looks the same wherever it leaves the system: exports, the API and webhooks."""

from __future__ import annotations

from sqlmodel import select

from socialcrm.models import Mention, OutboxItem
from socialcrm.services.exports import MENTION_FIELDS, mention_rows
from socialcrm.web.api import serialize
from tests.rules import factories as f

NOTIFY = """
[[rules]]
name = "tell-the-team"
[rules.when]
sentiment = ["negative"]
[[rules.then]]
action = "notify"
webhook = "service-chat"
[[webhooks]]
name = "service-chat"
url = "https://chat.example/hook"
"""


def test_export_api_and_webhook_write_the_same_fields_the_same_way(db) -> None:
    cfg = f.config(NOTIFY)
    rules = f.ruleset(cfg)
    long_text = "Die Lieferung ist kaputt. " * 40
    with db.write() as session:
        f.customer(session, "K-77", "Erika Muster", handles={"feed": "erika"})
        post = f.mention(session, long_text, author="erika", sentiment="negative", language="de", title="Kaputt")
        f.process(session, post, cfg, rules)
    with db.read() as session:
        mention = session.get(Mention, post.id)
        assert mention is not None
        exported = next(row for row in mention_rows(session) if row["id"] == post.id)
        api = serialize.mention(mention, "K-77")
        webhook = session.exec(select(OutboxItem)).one().payload["body"]["mention"]
    assert list(exported) == MENTION_FIELDS
    assert exported["customer_ref"] == api["customer_ref"] == "K-77"
    assert exported["published_at"] == "2026-03-02T09:30:00Z"
    for name, value in api.items():
        if name in exported:
            assert exported[name] == value, name
    for name, value in webhook.items():
        if name == "text":
            assert value == long_text[:500]  # webhooks carry an excerpt
        else:
            assert exported[name] == value, name
    assert set(webhook) == {
        "id",
        "source",
        "source_type",
        "url",
        "author",
        "title",
        "text",
        "language",
        "sentiment",
        "published_at",
        "labels",  # added after the first release: receivers ignore fields they do not know
    }
