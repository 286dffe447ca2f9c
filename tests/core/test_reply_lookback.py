"""A retried reply is never posted twice, however much the account posted since the first attempt.

For each platform that replies, the real connector talks to an emulated account on 127.0.0.1
(tests/replay/accounts.py, built from recorded responses and paged as the platform pages): the
first attempt's reply is stored but its answer is lost, the account then posts more than a page
elsewhere, and the outbox retries with a fresh connector, as after a restart. On the first
release the look-up read only the newest page (40 statuses on Mastodon) and posted again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlmodel import select

from connectors import Connector, RawPost
from connectors.base import Batch
from connectors.bluesky import BlueskyConnector, BlueskyOptions
from connectors.discourse import DiscourseConnector, DiscourseOptions
from connectors.mastodon import MastodonConnector, MastodonOptions
from connectors.reddit import RedditConnector, RedditOptions
from socialcrm.config import Config, SourceConfig, parse_config
from socialcrm.db import Database
from socialcrm.models import OutboxItem, ReplyDraft, utcnow
from socialcrm.outbox import OutboxWorker
from socialcrm.services import drafts
from tests.core.test_pipeline import RULES, make_pipeline
from tests.replay.accounts import BlueskyRepo, DiscourseAccount, MastodonAccount, RedditAccount
from tests.replay.cassettes import load, serve
from tests.replay_server import ReplayServer

REPLAY = Path(__file__).resolve().parents[1] / "replay"
QUESTION = "How do I descale the machine?"


@dataclass
class Platform:
    """One platform's emulated account, a post to answer there, and how to build its connector."""

    source: SourceConfig
    target: RawPost
    account: Any
    others: int  # more than one page of the account's listing

    def connector(self, replay: ReplayServer, http: aiohttp.ClientSession, **extra: Any) -> Connector:
        options = type(self.source.options)(**(self.source.options.model_dump() | extra))  # type: ignore[union-attr]
        kinds = {
            "mastodon": MastodonConnector,
            "bluesky": BlueskyConnector,
            "discourse": DiscourseConnector,
            "reddit": RedditConnector,
        }
        return kinds[self.source.type](self.source.name, options, http)  # type: ignore[no-any-return]

    def replies(self) -> int:
        account = self.account
        if isinstance(account, MastodonAccount):
            return len(account.replies_to(self.target.external_id))
        if isinstance(account, BlueskyRepo):
            return len(account.replies_to(self.target.external_id))
        if isinstance(account, DiscourseAccount):
            return len(account.replies_in(int(self.target.raw["topic_id"])))
        return len(account.replies_to(self.target.external_id))


def question(source: str, external_id: str, url: str, raw: dict[str, Any], author: str) -> RawPost:
    return RawPost(
        source=source,
        external_id=external_id,
        url=url,
        author_handle=author,
        title=None,
        body=QUESTION,
        published_at=datetime(2026, 11, 1, tzinfo=UTC),
        raw=raw,
    )


def mastodon(replay: ReplayServer) -> Platform:
    account = MastodonAccount(replay.base_url)
    account.install(replay)
    options = MastodonOptions(base_url=replay.base_url, hashtags=["acme"], access_token_env="MASTO_TOKEN")
    target = question("masto", "117020593378945190", replay.url("/@someone/117020593378945190"), {}, "someone")
    return Platform(SourceConfig(name="masto", type="mastodon", options=options), target, account, 45)


def bluesky(replay: ReplayServer) -> Platform:
    recorded = load(REPLAY / "bluesky" / "repo_auth_direct.yml")
    serve(replay, [i for i in recorded if i.path == "/xrpc/com.atproto.server.createSession"])
    did = json.loads(next(i for i in recorded if "createSession" in i.path).body)["did"]
    account = BlueskyRepo(did)
    account.install(replay)
    views = load(REPLAY / "bluesky" / "f_search.yml")[0].json()["posts"]
    view = next(v for v in views if not v["record"].get("reply"))
    options = BlueskyOptions(
        base_url=replay.base_url, identifier="bskyr.bsky.social", app_password_env="BSKY_APP_PASSWORD", query="x"
    )
    target = question("sky", view["uri"], "https://bsky.app/x", view, "someone.bsky.social")
    return Platform(SourceConfig(name="sky", type="bluesky", options=options), target, account, 120)


def discourse(replay: ReplayServer) -> Platform:
    account = DiscourseAccount("testuser")
    account.install(replay)
    options = DiscourseOptions(base_url=replay.base_url, api_key_env="FORUM_KEY", api_username="testuser")
    raw = {"topic_id": 39, "post_number": 2}
    target = question("forum", "47", replay.url("/t/test-topic/39/2"), raw, "someone")
    return Platform(SourceConfig(name="forum", type="discourse", options=options), target, account, 45)


def reddit(replay: ReplayServer) -> Platform:
    account = RedditAccount("bot_account")
    account.install(replay)
    options = RedditOptions(
        subreddits=["x"],
        client_id="clientid",
        client_secret_env="REDDIT_SECRET",
        user_agent="socialcrm-tests/0.1 (by /u/tester)",
        username="bot_account",
        password_env="REDDIT_PASSWORD",
        oauth_url=replay.base_url,
        reddit_url=replay.base_url,
    )
    target = question("rd", "t1_d1616q2", "https://www.reddit.com/r/x/comments/4b1tfm/_/d1616q2/", {}, "someone")
    return Platform(SourceConfig(name="rd", type="reddit", options=options), target, account, 120)


PLATFORMS = {"mastodon": mastodon, "bluesky": bluesky, "discourse": discourse, "reddit": reddit}


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MASTO_TOKEN": "tok",
        "BSKY_APP_PASSWORD": "abcd-efgh-ijkl-mnop",
        "FORUM_KEY": "k",
        "REDDIT_SECRET": "s",
        "REDDIT_PASSWORD": "p",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def config() -> Config:
    return parse_config(RULES)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def approved(config: Config, db: Database, platform: Platform) -> int:
    """Store the question through the real pipeline and approve its reply draft."""
    pipeline = make_pipeline(config, db)
    await pipeline.process(platform.source, Batch(posts=[platform.target], cursor="c"))
    with db.write() as session:
        draft = session.exec(select(ReplyDraft)).one()
        assert draft.id is not None
        drafts.approve(session, draft.id, user="cm")
        return draft.id


def make_due(db: Database) -> OutboxItem:
    with db.write() as session:
        item = session.exec(select(OutboxItem)).one()
        item.next_attempt_at = utcnow() - timedelta(seconds=1)
        session.add(item)
        session.flush()
        session.expunge(item)
        return item


async def close(connector: Connector) -> None:
    await connector.aclose()


@pytest.mark.parametrize("name", list(PLATFORMS))
async def test_retry_after_a_lost_answer_finds_the_reply_behind_many_newer_posts(
    name: str, config: Config, db: Database, replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    platform = PLATFORMS[name](replay)
    draft_id = await approved(config, db, platform)
    platform.account.faults.drop_next = 1  # the reply is stored, the answer never arrives
    first_connector = platform.connector(replay, http)
    first = await OutboxWorker(config, db, {platform.source.name: first_connector}, http).run_once()
    await close(first_connector)
    assert first.retrying == 1 and platform.replies() == 1
    platform.account.post_elsewhere(platform.others)  # the account posts elsewhere before the retry
    item = make_due(db)
    assert item.status == "sending"  # the outcome is unknown: the retry must look first

    restarted = platform.connector(replay, http)
    second = await OutboxWorker(config, db, {platform.source.name: restarted}, http).run_once()
    await close(restarted)
    assert second.sent == 1
    assert platform.replies() == 1, f"{name}: the reply was posted twice"
    with db.read() as session:
        draft = session.get(ReplyDraft, draft_id)
    assert draft is not None and draft.status == "sent"


async def test_a_look_up_that_cannot_reach_back_posts_nothing_and_asks_a_person(
    config: Config, db: Database, replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    platform = mastodon(replay)
    draft_id = await approved(config, db, platform)
    platform.account.faults.drop_next = 1
    connector = platform.connector(replay, http, reply_lookup_pages=1)
    worker = OutboxWorker(config, db, {"masto": connector}, http)
    await worker.run_once()
    platform.account.post_elsewhere(45)  # more than the one page this source may read back
    make_due(db)

    result = await worker.run_once()
    assert result.failed == 1 and result.sent == 0
    assert platform.replies() == 1  # not posted blindly
    with db.read() as session:
        draft = session.get(ReplyDraft, draft_id)
        item = session.exec(select(OutboxItem)).one()
    assert draft is not None and draft.status == "failed"
    assert draft.error is not None and "could not tell" in draft.error and "mark the draft as posted" in draft.error
    assert "40 latest posts (1 pages" in draft.error
    assert item.status == "failed" and (item.result or {}).get("lookup") == "undecided"

    # A person looked and chose "send again": it is posted without looking back once more.
    with db.write() as session:
        drafts.retry(session, draft_id, user="cm")
    again = await worker.run_once()
    assert again.sent == 1 and platform.replies() == 2


async def test_without_a_first_attempt_time_the_look_up_reads_the_newest_page_only(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    platform = mastodon(replay)
    account: MastodonAccount = platform.account
    reply = account.add_status("Hi someone, thanks for your question!", platform.target.external_id)
    account.post_elsewhere(45)
    connector = platform.connector(replay, http)
    text = "Hi someone, thanks for your question!"
    target = drafts_target(platform.target)
    assert await connector.find_reply(target, text, "k") is None  # type: ignore[attr-defined]
    since = datetime.fromisoformat(reply["created_at"].replace("Z", "+00:00"))
    found = await connector.find_reply(target, text, "k", since=since)  # type: ignore[attr-defined]
    assert found is not None and found.external_id == reply["id"]
    pages = [r for r in replay.requests if r.path == account.statuses_path]
    assert [r.query.get("max_id") is not None for r in pages] == [False, False, True]
    assert all(r.query["limit"] == "40" for r in pages)


def drafts_target(post: RawPost) -> Any:
    from connectors import ReplyTarget

    return ReplyTarget(post.external_id, post.url, post.thread_id, post.parent_id, post.author_handle, post.raw)


async def test_sending_again_after_tries_of_unknown_outcome_looks_first(
    config: Config, db: Database, replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    platform = mastodon(replay)
    draft_id = await approved(config, db, platform)
    account: MastodonAccount = platform.account
    account.faults.refuse_next = 8  # 502 on every try: each outcome is unknown to the outbox
    worker = OutboxWorker(config, db, {"masto": platform.connector(replay, http)}, http)
    for _ in range(8):
        await worker.run_once()
        make_due(db)
    with db.read() as session:
        draft = session.get(ReplyDraft, draft_id)
        item = session.exec(select(OutboxItem)).one()
    assert draft is not None and draft.status == "failed" and item.attempts == 8
    assert (item.result or {}).get("outcome_unknown") is True
    # One of those tries may have reached the platform after all (a 502 does not say): put it there.
    account.add_status("Hi someone, thanks for your question!", platform.target.external_id)
    account.post_elsewhere(45)
    with db.write() as session:
        drafts.retry(session, draft_id, user="cm")
    lookups = sum(1 for r in replay.requests if r.path == account.statuses_path)
    result = await worker.run_once()
    assert result.sent == 1 and platform.replies() == 1  # found, not posted again
    assert sum(1 for r in replay.requests if r.path == account.statuses_path) > lookups
