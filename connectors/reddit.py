"""Reddit through praw (in a worker thread): new posts and comments of subreddits, search, inbox mentions.

Streams: ``posts`` (``/r/<a+b>/new``), ``comments`` (``/r/<a+b>/comments``), ``search``
(``/r/<a+b or all>/search?sort=new``) and ``mentions`` (``/message/mentions``, needs a user
login). Every listing is newest first and paged with ``after=<fullname>``; each poll reads down to
the previous mark (``created_utc`` minus ``overlap_seconds``, ids near the mark filtered), one page
per batch, so a restart between pages resumes at the stored ``after``.

The raw listing JSON is read with ``Reddit.request`` (praw's public raw call), so the stored
payload is what Reddit sent. ``oauth_url``/``reddit_url`` redirect praw, e.g. to a replay server;
praw's connections pass the same private-network check as every other source's (the guard of
the session the connector is given, ``allow_private_network`` included; without one, the default
guard of a source's URLs), also through a proxy from the environment (connectors/_praw.py).

Replies are ``POST /api/comment`` as the logged-in user (``username`` + ``password_env`` for a
script app, or ``refresh_token_env``). Reddit has no idempotency key: a POST that fails
ambiguously is never retried by prawcore (see ``connectors._praw``) and ``find_reply`` pages back
through the user's comments to the first attempt for an answer under the target.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import aiohttp
import praw
from pydantic import Field, field_validator, model_validator

from connectors._cursor import Page, PageItem
from connectors._http import session_guard
from connectors._lookback import LookupPage, look_back
from connectors._markup import normalise_for_match
from connectors._netguard import NetworkGuard
from connectors._polling import PollContext, Step, keyword_filter, poll_streams, walking
from connectors._praw import PrawRunner, guarded_session
from connectors._time import from_epoch
from connectors.base import (
    AuthError,
    Batch,
    ConnectorFactory,
    ConnectorOptions,
    MalformedResponseError,
    RateLimited,
    RawPost,
    ReplyError,
    ReplyLookup,
    ReplyLookupIncompleteError,
    ReplyPolicy,
    ReplyResult,
    ReplyTarget,
    secret_from_env,
)

logger = logging.getLogger(__name__)

SITE = "https://www.reddit.com"
MAX_COMMENT_LENGTH = 10000
LOOKUP_PAGE_SIZE = 100
LISTING_CAP = 1000  # Reddit lists at most this many items of any listing
_CONTEXT_LINK = re.compile(r"/comments/([a-z0-9]+)/")
_TRANSIENT_API_ERRORS = {"RATELIMIT"}


class RedditOptions(ConnectorOptions):
    """Options of a ``type = "reddit"`` source."""

    subreddits: list[str] = Field(default_factory=list)
    include: list[Literal["posts", "comments", "mentions"]] = Field(default=["posts"])
    query: str | None = None
    keywords: list[str] = Field(default_factory=list)
    client_id: str
    client_secret_env: str | None = None
    user_agent: str = Field(min_length=10)
    username: str | None = None
    password_env: str | None = None
    refresh_token_env: str | None = None
    oauth_url: str = "https://oauth.reddit.com"
    reddit_url: str = "https://www.reddit.com"
    page_size: int = Field(100, ge=1, le=100)
    max_pages: int = Field(10, ge=1, le=100)
    overlap_seconds: int = Field(300, ge=0, le=86400)
    timeout_seconds: int = Field(16, ge=1, le=300)
    reply_lookup_pages: int = Field(10, ge=1, le=10)

    @field_validator("subreddits")
    @classmethod
    def _bare_names(cls, names: list[str]) -> list[str]:
        return [n.strip().removeprefix("/").removeprefix("r/") for n in names if n.strip()]

    @model_validator(mode="after")
    def _consistent(self) -> RedditOptions:
        if not self.include and not self.query:
            raise ValueError("set `include` and/or `query`")
        if {"posts", "comments"} & set(self.include) and not self.subreddits:
            raise ValueError("posts and comments need `subreddits`")
        if self.password_env and not self.username:
            raise ValueError("`password_env` needs `username`")
        if self.password_env and self.refresh_token_env:
            raise ValueError("use either `username` + `password_env` or `refresh_token_env`, not both")
        if self.password_env and not self.client_secret_env:
            raise ValueError("password login needs a script app: set `client_secret_env`")
        if "mentions" in self.include and not self.user_login:
            raise ValueError("mentions need a user login: `username` + `password_env` or `refresh_token_env`")
        return self

    @property
    def user_login(self) -> bool:
        """True when the options name a user login (password or refresh token), needed to reply."""
        return bool(self.password_env or self.refresh_token_env)


class RedditConnector:
    """Listen to subreddits, search and the inbox; reply as the logged-in user."""

    kind: ClassVar[str] = "reddit"
    Options: ClassVar[type[ConnectorOptions]] = RedditOptions
    min_interval: ClassVar[timedelta] = timedelta(seconds=60)
    reply_policy: ClassVar[ReplyPolicy] = ReplyPolicy(
        can_reply=True,
        max_length=MAX_COMMENT_LENGTH,
        bot_label="disclose in the reply that a brand account answers (Reddit asks bots to say so)",
        note=(
            "API access needs Reddit's approval (Responsible Builder Policy) and commercial use an "
            "agreement; without it, post drafts by hand. Replies need a user login."
        ),
    )

    def __init__(self, name: str, options: RedditOptions, http: aiohttp.ClientSession) -> None:
        self.name = name
        self.options = options
        self.http = http  # praw brings its own requests session, which keeps this session's network guard
        # Built without a guarded session (outside the runtime), the guard a source without
        # allow_private_network gets: public addresses and the IP literals of its own URLs.
        self._guard = session_guard(http) or NetworkGuard.for_urls([options.oauth_url, options.reddit_url])
        self._runner = PrawRunner(name)
        self._reddit: praw.Reddit | None = None
        self._me: str | None = options.username

    # -- the praw instance (built in the worker thread, secrets read at use time) ---------

    def _client(self) -> praw.Reddit:
        if self._reddit is None:
            o = self.options
            secret = secret_from_env(self.name, o.client_secret_env) if o.client_secret_env else None
            login: dict[str, str] = {}
            if o.password_env:
                password = secret_from_env(self.name, o.password_env)
                assert password is not None and o.username
                login = {"username": o.username, "password": password.reveal()}
            elif o.refresh_token_env:
                token = secret_from_env(self.name, o.refresh_token_env)
                assert token is not None
                login = {"refresh_token": token.reveal()}
            self._reddit = praw.Reddit(
                site_name=None,
                client_id=o.client_id,
                client_secret=secret.reveal() if secret else None,
                user_agent=o.user_agent,
                oauth_url=o.oauth_url.rstrip("/"),
                reddit_url=o.reddit_url.rstrip("/"),
                check_for_updates=False,
                check_for_async=False,
                ratelimit_seconds=0,
                requestor_class=self._runner.requestor_class(),
                requestor_kwargs={"timeout": o.timeout_seconds, "session": guarded_session(self._guard)},
                **login,
            )
        return self._reddit

    async def _request(self, method: str, path: str, params: dict[str, Any] | None = None, data: Any = None) -> Any:
        def work() -> Any:
            reddit = self._client()
            self._runner.check_budget()
            return reddit.request(method=method, path=path, params=params, data=data)

        return await self._runner.run(work)

    # -- reading -------------------------------------------------------------------------

    async def fetch(self, cursor: str | None) -> Batch:
        """Fetch the posts after ``cursor`` from the configured streams (posts, comments, search, mentions)."""
        subs = "+".join(self.options.subreddits)
        steps: dict[str, Step] = {}
        overlap = float(self.options.overlap_seconds)
        if "posts" in self.options.include:
            steps["posts"] = walking(self._lister(f"r/{subs}/new", {}), overlap, time.time)
        if "comments" in self.options.include:
            steps["comments"] = walking(self._lister(f"r/{subs}/comments/", {}), overlap, time.time)
        if self.options.query:
            params = {
                "q": self.options.query,
                "sort": "new",
                "t": "all",
                "restrict_sr": str(bool(subs)).lower(),
            }
            steps["search"] = walking(self._lister(f"r/{subs or 'all'}/search/", params), overlap, time.time)
        if "mentions" in self.options.include:
            steps["mentions"] = walking(self._lister("message/mentions", {}, mention=True), overlap, time.time)
        keep = keyword_filter(self.options.keywords)
        return await poll_streams(self.name, self.kind, cursor, steps, max_pages=self.options.max_pages, keep=keep)

    def _lister(self, path: str, params: dict[str, str], mention: bool = False) -> Any:
        async def fetch_page(ctx: PollContext, anchor: Any, floor: float | None) -> Page:
            query: dict[str, Any] = {**params, "limit": self.options.page_size}
            if anchor:
                query["after"] = str(anchor)
            data = await self._request("GET", path, query)
            requestor = self._runner.requestor
            if requestor is not None and requestor.wait_until:
                ctx.state.pause_for(requestor.wait_until - time.time())
            listing = data.get("data") if isinstance(data, dict) and data.get("kind") == "Listing" else None
            if not isinstance(listing, dict) or not isinstance(listing.get("children"), list):
                raise MalformedResponseError(self.name, f"/{path} did not answer with a Listing")
            items = []
            for child in listing["children"]:
                post = self._to_post(ctx, child, mention)
                if post is not None:
                    items.append(PageItem(post.external_id, post.published_at.timestamp(), post))
            return Page(items, listing.get("after") or None)

        return fetch_page

    def _to_post(self, ctx: PollContext, child: Any, mention: bool) -> RawPost | None:
        data = child.get("data") if isinstance(child, dict) else None
        kind = child.get("kind") if isinstance(child, dict) else None
        if kind not in ("t1", "t3") or not isinstance(data, dict) or not data.get("name"):
            if kind not in ("t4", "more"):
                ctx.skip(f"listing item of kind {kind!r} without a name was skipped")
            return None
        published = from_epoch(data.get("created_utc"))
        if published is None:
            ctx.skip(f"{data['name']} has no usable created_utc")
            return None
        author = data.get("author")
        author = None if author in (None, "", "[deleted]") else str(author)
        common: dict[str, Any] = {
            "source": self.name,
            "external_id": str(data["name"]),
            "author_handle": author,
            "author_name": None,
            "author_url": f"{SITE}/user/{author}" if author else None,
            "published_at": published,
            "raw": child,
            "author_metrics": {"score": float(data["score"])} if isinstance(data.get("score"), int) else {},
        }
        if kind == "t3":
            body = str(data.get("selftext") or "")
            if not data.get("is_self") and data.get("url"):
                body = f"{body}\n\n{data['url']}".strip()
            return RawPost(
                url=SITE + str(data.get("permalink") or f"/comments/{data.get('id')}/"),
                title=data.get("title") or None,
                body=body,
                thread_id=str(data["name"]),
                parent_id=None,
                kind="post",
                **common,
            )
        link_id = data.get("link_id")
        context = str(data.get("context") or "")
        if not link_id and (match := _CONTEXT_LINK.search(context)):
            link_id = f"t3_{match.group(1)}"
        if data.get("permalink"):
            url = SITE + str(data["permalink"])
        elif context:
            url = SITE + context.split("?")[0]
        else:
            link = str(link_id or "").removeprefix("t3_")
            url = f"{SITE}/r/{data.get('subreddit')}/comments/{link}/_/{data.get('id')}/"
        return RawPost(
            url=url,
            title=data.get("link_title") or None,
            body=str(data.get("body") or ""),
            thread_id=str(link_id) if link_id else None,
            parent_id=str(data["parent_id"]) if data.get("parent_id") else None,
            kind="mention" if mention else "comment",
            **common,
        )

    # -- replying ------------------------------------------------------------------------

    async def reply(self, target: ReplyTarget, text: str, idempotency_key: str) -> ReplyResult:
        """Post ``text`` as a reply to ``target`` (a submission or a comment)."""
        if not text.strip():
            raise ReplyError(self.name, "the reply is empty", permanent=True)
        if len(text) > MAX_COMMENT_LENGTH:
            raise ReplyError(self.name, f"reply is {len(text)} characters; Reddit takes {MAX_COMMENT_LENGTH}", True)
        if not self.options.user_login:
            raise ReplyError(self.name, "replying needs a user login (password_env or refresh_token_env)", True)
        if not target.external_id.startswith(("t1_", "t3_")):
            raise ReplyError(self.name, f"{target.external_id} is not a Reddit post or comment", permanent=True)
        try:
            data = await self._request("POST", "api/comment/", data={"thing_id": target.external_id, "text": text})
        except AuthError as err:
            if "HTTP 403" in str(err):
                raise ReplyError(self.name, f"Reddit forbids replying to {target.external_id}: {err}", True) from err
            raise
        errors = ((data or {}).get("json") or {}).get("errors") if isinstance(data, dict) else None
        if errors:
            kinds = {str(e[0]) for e in errors if isinstance(e, list) and e}
            message = "; ".join(" ".join(str(p) for p in e if p) for e in errors)
            if kinds & _TRANSIENT_API_ERRORS:
                raise RateLimited(self.name, f"Reddit asks to wait before commenting: {message}")
            raise ReplyError(self.name, f"Reddit refused the reply: {message}", permanent=True)
        try:
            thing = data["json"]["data"]["things"][0]["data"]
        except (KeyError, IndexError, TypeError) as err:
            raise MalformedResponseError(self.name, "the created comment came back in an unknown shape") from err
        return ReplyResult(str(thing["name"]), self._comment_url(thing))

    def _comment_url(self, thing: dict[str, Any]) -> str | None:
        if thing.get("permalink"):
            return SITE + str(thing["permalink"])
        link = str(thing.get("link_id") or "").removeprefix("t3_")
        return f"{SITE}/r/{thing.get('subreddit')}/comments/{link}/_/{thing.get('id')}/" if link else None

    async def _username(self) -> str:
        if self._me is None:
            me = await self._request("GET", "api/v1/me")
            if not isinstance(me, dict) or not me.get("name"):
                raise AuthError(self.name, "api/v1/me did not name the logged-in user")
            self._me = str(me["name"])
        return self._me

    async def find_reply(
        self, target: ReplyTarget, text: str, idempotency_key: str, *, since: datetime | None = None
    ) -> ReplyResult | None:
        """Look for the user's comment with this text directly under ``target``.

        With ``since`` (the first attempt's time): page back through the user's own comments
        (``/user/<name>/comments?sort=new``, ``after``) until one is older, at most
        ``reply_lookup_pages`` pages of 100; Reddit lists no more than 1,000, so a look-up that
        needs more cannot decide. Without it: the newest 500 comments under the target.
        """
        if not self.options.user_login:
            return None
        me = await self._username()
        fullname = target.external_id
        wanted = normalise_for_match(text)

        def match(comment: dict[str, Any]) -> ReplyResult | None:
            if (
                comment.get("parent_id") == fullname
                and str(comment.get("author") or "").casefold() == me.casefold()
                and normalise_for_match(str(comment.get("body") or "")) == wanted
            ):
                return ReplyResult(str(comment["name"]), self._comment_url(comment))
            return None

        if since is None:
            return await self._find_in_tree(target, match)
        seen = 0

        async def page(after: Any | None) -> LookupPage[dict[str, Any]]:
            nonlocal seen
            params: dict[str, Any] = {"sort": "new", "limit": LOOKUP_PAGE_SIZE, "raw_json": 1}
            if after:
                params["after"] = after
            data = await self._request("GET", f"user/{me}/comments", params)
            listing = data.get("data") if isinstance(data, dict) else None
            if not isinstance(listing, dict) or not isinstance(listing.get("children"), list):
                raise MalformedResponseError(self.name, f"/user/{me}/comments came back in an unknown shape")
            comments = [
                c["data"] for c in listing["children"] if isinstance(c, dict) and isinstance(c.get("data"), dict)
            ]
            seen += len(comments)
            following = listing.get("after")
            if not following and seen >= LISTING_CAP:
                raise ReplyLookupIncompleteError(
                    self.name,
                    f"Reddit lists only the user's {LISTING_CAP} latest comments, and all of them are newer than "
                    f"the first attempt at {since.isoformat(timespec='seconds')}",
                )
            return LookupPage(comments, following or None)

        def created(comment: dict[str, Any]) -> datetime | None:
            stamp = comment.get("created_utc")
            return from_epoch(float(stamp)) if isinstance(stamp, int | float) else None

        return await look_back(
            self.name, page, since=since, created_at=created, match=match, max_pages=self.options.reply_lookup_pages
        )

    async def _find_in_tree(
        self, target: ReplyTarget, match: Callable[[dict[str, Any]], ReplyResult | None]
    ) -> ReplyResult | None:
        fullname = target.external_id
        link = (
            fullname if fullname.startswith("t3_") else (target.thread_id or target.raw.get("data", {}).get("link_id"))
        )
        if not link or not str(link).startswith("t3_"):
            return None
        params: dict[str, Any] = {"sort": "new", "limit": 500, "depth": 1}
        if fullname.startswith("t1_"):
            params.update(comment=fullname.removeprefix("t1_"), depth=2)
        tree = await self._request("GET", f"comments/{str(link).removeprefix('t3_')}/", params)
        if not isinstance(tree, list) or len(tree) < 2:
            raise MalformedResponseError(self.name, "the comment tree came back in an unknown shape")
        for comment in _comments(tree[1]):
            found = match(comment)
            if found is not None:
                return found
        return None

    async def aclose(self) -> None:
        """Stop the thread that runs praw."""
        self._runner.close()


def _comments(listing: Any) -> list[dict[str, Any]]:
    """Every comment of a listing, replies included."""
    found: list[dict[str, Any]] = []
    stack = [listing]
    while stack:
        node = stack.pop()
        children = node.get("data", {}).get("children") if isinstance(node, dict) else None
        for child in children or []:
            if isinstance(child, dict) and child.get("kind") == "t1" and isinstance(child.get("data"), dict):
                found.append(child["data"])
                if isinstance(child["data"].get("replies"), dict):
                    stack.append(child["data"]["replies"])
    return found


if TYPE_CHECKING:  # mypy holds the class to the contract the registry promises
    _factory: ConnectorFactory = RedditConnector
    _reply_lookup: type[ReplyLookup] = RedditConnector


__all__ = ["RedditConnector", "RedditOptions"]
