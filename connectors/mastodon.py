"""Mastodon: hashtag and public/local/home timelines, status search and mentions; replies with visibility.

Timelines and notifications are read *forwards*: ``min_id=<newest id delivered>`` returns the
statuses right after it, and the ``Link: <...min_id=...>; rel="prev"`` header names the next
starting point, so a restart resumes exactly where the stored cursor stopped. A full page means
more are waiting (``has_more``). A first poll takes the newest page and starts from there.
Search (``/api/v2/search``, needs a user token) is newest first with offsets and is walked down to
the previous mark like the other connectors' listings.

Replies go to ``POST /api/v1/statuses`` with ``in_reply_to_id``, the configured visibility and an
``Idempotency-Key`` header (Mastodon keeps it for an hour); ``find_reply`` pages back through the
account's own statuses to the first attempt for an answer to the same status with the same text.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import parse_qs, quote, urlsplit

import aiohttp
from pydantic import Field, field_validator, model_validator

from connectors._cursor import Page, PageItem, StreamState, newer_id
from connectors._http import JsonResponse, request_json
from connectors._lookback import DEFAULT_LOOKUP_PAGES, LookupPage, look_back
from connectors._markup import html_to_text, normalise_for_match
from connectors._polling import PollContext, Step, keyword_filter, poll_streams, walking
from connectors._time import parse_iso
from connectors.base import (
    AuthError,
    Batch,
    ConnectorFactory,
    ConnectorOptions,
    MalformedResponseError,
    RawPost,
    ReplyError,
    ReplyLength,
    ReplyLookup,
    ReplyPolicy,
    ReplyResult,
    ReplyTarget,
    secret_from_env,
)

logger = logging.getLogger(__name__)

MAX_STATUS_LENGTH = 500
URL_WEIGHT = 23
_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"(?<![\w@])@([\w.]+)@[\w.-]+\w")
_LEADING_MENTIONS = re.compile(r"^(?:@\S+\s+)+")
ROOT_CACHE = 5000
LOOKUP_PAGE_SIZE = 40  # the most Mastodon returns per page


class MastodonOptions(ConnectorOptions):
    """Options of a ``type = "mastodon"`` source."""

    base_url: str
    hashtags: list[str] = Field(default_factory=list)
    timeline: Literal["public", "local", "home"] | None = None
    keywords: list[str] = Field(default_factory=list)
    query: str | None = None
    notifications: bool = False
    access_token_env: str | None = None
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    max_characters: int = Field(MAX_STATUS_LENGTH, ge=1, le=100000)
    page_size: int = Field(40, ge=1, le=40)
    max_pages: int = Field(10, ge=1, le=100)
    thread_lookups_per_poll: int = Field(10, ge=0, le=100)
    reply_lookup_pages: int = Field(DEFAULT_LOOKUP_PAGES, ge=1, le=1000)

    @field_validator("hashtags")
    @classmethod
    def _strip_hash(cls, tags: list[str]) -> list[str]:
        return [t.strip().lstrip("#") for t in tags if t.strip().lstrip("#")]

    @model_validator(mode="after")
    def _consistent(self) -> MastodonOptions:
        if not (self.hashtags or self.timeline or self.query or self.notifications):
            raise ValueError("set at least one of `hashtags`, `timeline`, `query` or `notifications`")
        needs_token = [
            n
            for n, on in (
                ("query", bool(self.query)),
                ("notifications", self.notifications),
                ("timeline = 'home'", self.timeline == "home"),
            )
            if on
        ]
        if needs_token and not self.access_token_env:
            raise ValueError(f"{', '.join(needs_token)} need a user token: set `access_token_env`")
        return self


def _with_mention(domain: str, target: ReplyTarget, text: str) -> str:
    """The status text: ``@author`` first unless the reply already mentions the author."""
    handle = (target.author_handle or "").lstrip("@")
    if handle.endswith("@" + domain):
        handle = handle[: -len(domain) - 1]
    if not handle or f"@{handle}".casefold() in text.casefold():
        return text
    return f"@{handle} {text}"


class MastodonConnector:
    """Listen to one Mastodon instance and reply as the token's account."""

    kind: ClassVar[str] = "mastodon"
    Options: ClassVar[type[ConnectorOptions]] = MastodonOptions
    min_interval: ClassVar[timedelta] = timedelta(seconds=60)
    reply_policy: ClassVar[ReplyPolicy] = ReplyPolicy(
        can_reply=True,
        max_length=MAX_STATUS_LENGTH,
        bot_label="mark the account as a bot (Preferences > Profile: 'This is an automated account')",
        note=(
            "replies post from the account of `access_token_env` (scope write:statuses) and mention the "
            "author; follow the instance's rules for bots; links count as 23 characters"
        ),
    )

    def __init__(self, name: str, options: MastodonOptions, http: aiohttp.ClientSession) -> None:
        self.name = name
        self.options = options
        self.http = http
        self._base = options.base_url.rstrip("/")
        self._domain = urlsplit(self._base).netloc
        self._roots: OrderedDict[str, str] = OrderedDict()
        self._me: dict[str, Any] | None = None
        self._lookups_left = 0

    # -- HTTP ----------------------------------------------------------------------------

    def _headers(self, required: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        secret = secret_from_env(self.name, self.options.access_token_env, required=required)
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret.reveal()}"
        return headers

    async def _get(self, ctx: PollContext | None, path: str, params: Any = None, auth: bool = False) -> JsonResponse:
        resp = await request_json(
            self.http, self.name, self._base + path, params=params, headers=self._headers(required=auth)
        )
        if ctx is not None:
            ctx.saw(resp)
        return resp

    # -- reading -------------------------------------------------------------------------

    async def fetch(self, cursor: str | None) -> Batch:
        """Fetch the statuses after ``cursor`` from the hashtags, timeline, search and mentions configured."""
        self._lookups_left = self.options.thread_lookups_per_poll
        steps: dict[str, Step] = {}
        for tag in self.options.hashtags:
            steps[f"tag:{tag.casefold()}"] = self._forward(f"/api/v1/timelines/tag/{quote(tag, safe='')}", {})
        if self.options.timeline == "home":
            steps["timeline"] = self._forward("/api/v1/timelines/home", {}, auth=True, filtered=True)
        elif self.options.timeline:
            params = {"local": "true"} if self.options.timeline == "local" else {}
            steps["timeline"] = self._forward("/api/v1/timelines/public", params, filtered=True)
        if self.options.notifications:
            steps["mentions"] = self._forward(
                "/api/v1/notifications", [("types[]", "mention")], auth=True, mentions=True
            )
        if self.options.query:
            steps["search"] = walking(self._search_page, overlap=60.0)
        return await poll_streams(self.name, self.kind, cursor, steps, max_pages=self.options.max_pages)

    def _forward(
        self, path: str, params: Any, auth: bool = False, filtered: bool = False, mentions: bool = False
    ) -> Step:
        keep = keyword_filter(self.options.keywords) if filtered else None

        async def step(ctx: PollContext, stream: StreamState) -> list[RawPost]:
            query = list(params.items()) if isinstance(params, dict) else list(params)
            query.append(("limit", str(self.options.page_size)))
            since = stream.extra.get("min_id")
            if since:
                query.append(("min_id", str(since)))
            resp = await self._get(ctx, path, query, auth=auth)
            if not isinstance(resp.data, list):
                raise MalformedResponseError(self.name, f"{path} did not answer with a list")
            items = [i for i in resp.data if isinstance(i, dict) and i.get("id")]
            if since:  # a server that ignores min_id must not make us deliver old items again
                items = [i for i in items if str(i["id"]) != since and newer_id(str(i["id"]), since) != since]
            newest = since
            for item in items:
                newest = newer_id(newest, str(item["id"]))
            prev = resp.links.get("prev")
            if prev:
                link_min = parse_qs(urlsplit(prev).query).get("min_id", [None])[0]
                newest = newer_id(newest, link_min)
            if newest is None and not mentions:
                # Nothing yet: start from "now" (status ids are snowflakes: milliseconds << 16).
                newest = str(int(time.time() * 1000) << 16)
            stream.extra["min_id"] = newest
            stream.extra["more"] = bool(since) and len(resp.data) >= self.options.page_size
            posts = []
            for item in items:
                post = await self._from_notification(ctx, item) if mentions else await self._from_status(ctx, item)
                if post is not None and (keep is None or keep(post)):
                    posts.append(post)
            return posts

        return step

    async def _search_page(self, ctx: PollContext, anchor: Any, floor: float | None) -> Page:
        offset = int(anchor or 0)
        params = {
            "q": self.options.query or "",
            "type": "statuses",
            "resolve": "false",
            "limit": str(self.options.page_size),
            "offset": str(offset),
        }
        resp = await self._get(ctx, "/api/v2/search", params, auth=True)
        statuses = resp.data.get("statuses") if isinstance(resp.data, dict) else None
        if not isinstance(statuses, list):
            raise MalformedResponseError(self.name, "/api/v2/search answer has no statuses list")
        items = []
        for status in statuses:
            post = await self._from_status(ctx, status) if isinstance(status, dict) else None
            if post is not None:
                items.append(PageItem(post.external_id, post.published_at.timestamp(), post))
        more = len(statuses) >= self.options.page_size
        return Page(items, offset + len(statuses) if more else None)

    async def _from_notification(self, ctx: PollContext, note: dict[str, Any]) -> RawPost | None:
        status = note.get("status")
        if note.get("type") != "mention" or not isinstance(status, dict):
            return None
        return await self._from_status(ctx, status, kind="mention", raw=note)

    async def _from_status(
        self,
        ctx: PollContext,
        status: dict[str, Any],
        kind: str | None = None,
        raw: dict[str, Any] | None = None,
    ) -> RawPost | None:
        if status.get("reblog"):
            return None  # a boost repeats someone else's status; the original is what counts
        published = parse_iso(status.get("created_at"))
        account: dict[str, Any] = status["account"] if isinstance(status.get("account"), dict) else {}
        if published is None or not status.get("id"):
            ctx.skip(f"status {status.get('id')!r} has no id or no usable created_at")
            return None
        status_id = str(status["id"])
        parent = str(status["in_reply_to_id"]) if status.get("in_reply_to_id") else None
        acct = str(account.get("acct") or "") or None
        if acct and "@" not in acct:
            acct = f"{acct}@{self._domain}"
        metrics = {
            key: float(account[name])
            for key, name in (
                ("followers", "followers_count"),
                ("following", "following_count"),
                ("statuses", "statuses_count"),
            )
            if isinstance(account.get(name), int)
        }
        root = await self._thread_root(ctx, status_id, parent)
        return RawPost(
            source=self.name,
            external_id=status_id,
            url=str(status.get("url") or status.get("uri") or f"{self._base}/statuses/{status_id}"),
            author_handle=acct,
            author_name=account.get("display_name") or account.get("username") or None,
            author_url=account.get("url") or None,
            title=status.get("spoiler_text") or None,
            body=html_to_text(status.get("content")),
            published_at=published,
            raw=raw if raw is not None else status,
            thread_id=root,
            parent_id=parent,
            kind=kind or ("reply" if parent else "post"),  # type: ignore[arg-type]
            language_hint=status.get("language") or None,
            author_metrics=metrics,
        )

    async def _thread_root(self, ctx: PollContext, status_id: str, parent: str | None) -> str:
        """Return the thread's first status id: cached, from ``/context`` (bounded), else the parent."""
        if parent is None:
            root = status_id
        elif parent in self._roots:
            root = self._roots[parent]
        elif self._lookups_left > 0:
            self._lookups_left -= 1
            resp = await self._get(ctx, f"/api/v1/statuses/{status_id}/context", auth=False)
            ancestors = resp.data.get("ancestors") if isinstance(resp.data, dict) else None
            first = (
                ancestors[0] if isinstance(ancestors, list) and ancestors and isinstance(ancestors[0], dict) else None
            )
            root = str(first["id"]) if first and first.get("id") else parent
        else:
            root = parent
        self._roots[status_id] = root
        self._roots.move_to_end(status_id)
        while len(self._roots) > ROOT_CACHE:
            self._roots.popitem(last=False)
        return root

    # -- replying ------------------------------------------------------------------------

    def _reply_text(self, target: ReplyTarget, text: str) -> str:
        return _with_mention(self._domain, target, text)

    @classmethod
    def measure_reply(cls, options: Any, target: ReplyTarget, text: str) -> ReplyLength:
        """The length Mastodon counts for the status ``reply`` would post (the author's mention added)."""
        domain = urlsplit(str(options.base_url).rstrip("/")).netloc
        return ReplyLength(cls.counted_length(_with_mention(domain, target, text)), int(options.max_characters))

    @staticmethod
    def counted_length(text: str) -> int:
        """Count like Mastodon: each link is 23 characters, remote mentions without their domain."""
        text = _URL.sub("x" * URL_WEIGHT, text)
        text = _MENTION.sub(lambda m: "@" + m.group(1), text)
        return len(text)

    async def reply(self, target: ReplyTarget, text: str, idempotency_key: str) -> ReplyResult:
        """Post ``text`` as a reply to ``target`` with the ``Idempotency-Key`` header."""
        if not text.strip():
            raise ReplyError(self.name, "the reply is empty", permanent=True)
        full = self._reply_text(target, text)
        length = self.counted_length(full)
        if length > self.options.max_characters:
            raise ReplyError(
                self.name,
                f"reply is {length} characters as Mastodon counts them; the limit is {self.options.max_characters}",
                permanent=True,
            )
        if not self.options.access_token_env:
            raise ReplyError(self.name, "no access_token_env configured for replying", permanent=True)
        headers = {**self._headers(required=True), "Idempotency-Key": idempotency_key}
        form = {"status": full, "in_reply_to_id": target.external_id, "visibility": self.options.visibility}
        resp = await request_json(
            self.http,
            self.name,
            f"{self._base}/api/v1/statuses",
            method="POST",
            data=form,
            headers=headers,
            accept_statuses=(404, 422),
        )
        if resp.status >= 400:
            why = resp.data.get("error") if isinstance(resp.data, dict) else None
            raise ReplyError(
                self.name,
                f"Mastodon refused the reply (HTTP {resp.status}): {why or 'no reason given'}",
                permanent=True,
            )
        if not isinstance(resp.data, dict) or not resp.data.get("id"):
            raise MalformedResponseError(self.name, "the created status came back without an id")
        return ReplyResult(str(resp.data["id"]), resp.data.get("url") or resp.data.get("uri"))

    async def find_reply(
        self, target: ReplyTarget, text: str, idempotency_key: str, *, since: datetime | None = None
    ) -> ReplyResult | None:
        """Look for an answer to ``target`` with this text among the account's statuses since ``since``.

        Pages back with ``max_id`` (the ``Link: rel="next"`` header) until a status is older than
        ``since``, at most ``reply_lookup_pages`` pages of 40.
        """
        if not self.options.access_token_env:
            return None
        if self._me is None:
            me = await self._get(None, "/api/v1/accounts/verify_credentials", auth=True)
            if not isinstance(me.data, dict) or not me.data.get("id"):
                raise AuthError(self.name, "verify_credentials did not return the account")
            self._me = me.data
        path = f"/api/v1/accounts/{self._me['id']}/statuses"
        wanted = _LEADING_MENTIONS.sub("", normalise_for_match(text))

        async def page(max_id: Any | None) -> LookupPage[dict[str, Any]]:
            params = {"limit": str(LOOKUP_PAGE_SIZE), "exclude_reblogs": "true"}
            if max_id:
                params["max_id"] = str(max_id)
            resp = await self._get(None, path, params, auth=True)
            if not isinstance(resp.data, list):
                raise MalformedResponseError(self.name, "account statuses did not come back as a list")
            items = [s for s in resp.data if isinstance(s, dict) and s.get("id")]
            # Mastodon names the next page only while pages are full (records_continue?).
            link = resp.links.get("next")
            next_id = parse_qs(urlsplit(link).query).get("max_id", [None])[0] if link else None
            if next_id is None and len(resp.data) >= LOOKUP_PAGE_SIZE and items:
                next_id = str(items[-1]["id"])
            return LookupPage(items, next_id)

        def match(status: dict[str, Any]) -> ReplyResult | None:
            if str(status.get("in_reply_to_id")) != target.external_id:
                return None
            posted = _LEADING_MENTIONS.sub("", normalise_for_match(html_to_text(status.get("content"))))
            if posted != wanted:
                return None
            return ReplyResult(str(status["id"]), status.get("url") or status.get("uri"))

        return await look_back(
            self.name,
            page,
            since=since,
            created_at=lambda status: parse_iso(status.get("created_at")),
            match=match,
            max_pages=self.options.reply_lookup_pages,
        )

    async def aclose(self) -> None:
        """Nothing to release: the HTTP session is shared."""
        return None


if TYPE_CHECKING:  # mypy holds the class to the contract the registry promises
    _factory: ConnectorFactory = MastodonConnector
    _reply_lookup: type[ReplyLookup] = MastodonConnector


__all__ = ["MastodonConnector", "MastodonOptions"]
