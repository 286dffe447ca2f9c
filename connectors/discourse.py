"""Discourse forums: new posts, new topics and search results; replies through ``POST /posts.json``.

Streams (``include``):

* ``posts``: ``/posts.json``, every new public post of the forum, newest first, paged with the
  inclusive ``before=<post id>``; the mark is the highest post id delivered.
* ``topics``: ``/latest.json?order=created`` (or a category's ``/c/<id>/l/latest.json``), each new
  topic's opening post read from ``/t/<id>.json``; the mark is the highest topic id.
* ``search``: ``/search.json?q=<query> order:latest``, whose hits are read in full from
  ``/t/<topic>/posts.json?post_ids[]=...``; the mark is the highest post id.

Replies need an API key (``api_key_env``) and the user it acts for (``api_username``). Discourse
has no idempotency key; ``find_reply`` pages back through the account's replies to the first
attempt (``/user_actions.json?filter=5``), and a "too similar to what you recently posted" refusal is
treated as the earlier attempt having gone through.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import aiohttp
from pydantic import Field, model_validator

from connectors._cursor import Page, PageItem
from connectors._http import request_json
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
    ReplyLookup,
    ReplyPolicy,
    ReplyResult,
    ReplyTarget,
    TransientFetchError,
    secret_from_env,
)

logger = logging.getLogger(__name__)

MAX_POST_LENGTH = 32000
LOOKUP_PAGE_SIZE = 30  # Discourse's own page size for user actions
_TOPIC_URL = re.compile(r"/t/(?:[^/]+/)?(\d+)(?:/(\d+))?")


class DiscourseOptions(ConnectorOptions):
    """Options of a ``type = "discourse"`` source."""

    base_url: str
    include: list[Literal["posts", "topics", "search"]] = Field(default=["posts"], min_length=1)
    query: str | None = None
    keywords: list[str] = Field(default_factory=list)
    category_ids: list[int] = Field(default_factory=list)
    api_username: str | None = None
    api_key_env: str | None = None
    authenticated_reads: bool = False
    max_pages: int = Field(10, ge=1, le=100)
    reply_lookup_pages: int = Field(DEFAULT_LOOKUP_PAGES, ge=1, le=1000)

    @model_validator(mode="after")
    def _consistent(self) -> DiscourseOptions:
        if "search" in self.include and not (self.query and self.query.strip()):
            raise ValueError("include = ['search'] needs a `query`")
        if bool(self.api_key_env) != bool(self.api_username):
            raise ValueError("`api_key_env` and `api_username` go together")
        if self.authenticated_reads and not self.api_key_env:
            raise ValueError("`authenticated_reads` needs `api_key_env` and `api_username`")
        return self


class DiscourseConnector:
    """Listen to one Discourse forum and reply as one forum user."""

    kind: ClassVar[str] = "discourse"
    Options: ClassVar[type[ConnectorOptions]] = DiscourseOptions
    min_interval: ClassVar[timedelta] = timedelta(seconds=60)
    reply_policy: ClassVar[ReplyPolicy] = ReplyPolicy(
        can_reply=True,
        max_length=MAX_POST_LENGTH,
        bot_label=None,
        note=(
            "replies post as `api_username` on this forum only (admin API key or a user API key); "
            "on forums you do not run, keep replies human and follow the forum's rules"
        ),
    )

    def __init__(self, name: str, options: DiscourseOptions, http: aiohttp.ClientSession) -> None:
        self.name = name
        self.options = options
        self.http = http
        self._base = options.base_url.rstrip("/")

    # -- reading -------------------------------------------------------------------------

    def _read_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.options.authenticated_reads:
            headers.update(self._auth_headers())
        return headers

    def _auth_headers(self) -> dict[str, str]:
        secret = secret_from_env(self.name, self.options.api_key_env)
        assert secret is not None and self.options.api_username
        return {"Api-Key": secret.reveal(), "Api-Username": self.options.api_username}

    async def _get(self, ctx: PollContext | None, path: str, params: Any = None) -> Any:
        resp = await request_json(self.http, self.name, self._base + path, params=params, headers=self._read_headers())
        if ctx is not None:
            ctx.saw(resp)
        return resp.data

    async def fetch(self, cursor: str | None) -> Batch:
        """Fetch the posts after ``cursor`` from the configured streams (new posts, new topics, search)."""
        steps: dict[str, Step] = {}
        if "posts" in self.options.include:
            steps["posts"] = walking(self._posts_page)
        if "topics" in self.options.include:
            steps["topics"] = walking(self._topics_page)
        if "search" in self.options.include:
            steps["search"] = walking(self._search_page)
        keep = keyword_filter(self.options.keywords)
        return await poll_streams(self.name, self.kind, cursor, steps, max_pages=self.options.max_pages, keep=keep)

    def _in_categories(self, category_id: Any) -> bool:
        return not self.options.category_ids or category_id in self.options.category_ids

    async def _posts_page(self, ctx: PollContext, anchor: Any, floor: float | None) -> Page:
        params = {"before": str(int(anchor))} if anchor is not None else None
        data = await self._get(ctx, "/posts.json", params)
        if not isinstance(data, dict) or not isinstance(data.get("latest_posts"), list):
            raise MalformedResponseError(self.name, "/posts.json answer has no latest_posts list")
        items = self._items(ctx, data["latest_posts"], {})
        oldest = min((i.key for i in items), default=None)
        return Page(items, int(oldest) - 1 if oldest is not None and oldest > 1 else None)

    async def _topics_page(self, ctx: PollContext, anchor: Any, floor: float | None) -> Page:
        page = int(anchor or 0)
        path = "/latest.json"
        if len(self.options.category_ids) == 1:
            path = f"/c/{self.options.category_ids[0]}/l/latest.json"
        params = {"order": "created", "ascending": "false"}
        if page:
            params["page"] = str(page)
        data = await self._get(ctx, path, params)
        topic_list = data.get("topic_list") if isinstance(data, dict) else None
        if not isinstance(topic_list, dict) or not isinstance(topic_list.get("topics"), list):
            raise MalformedResponseError(self.name, f"{path} answer has no topic_list.topics")
        items: list[PageItem] = []
        for topic in topic_list["topics"]:
            if not isinstance(topic, dict) or not isinstance(topic.get("id"), int):
                ctx.skip("a topic without a numeric id was skipped")
                continue
            tid = topic["id"]
            new = floor is not None and tid > floor
            if not new and (topic.get("pinned") or topic.get("pinned_globally")):
                continue  # pinned topics sit on top of the first page whatever their age
            post = None
            if new and self._in_categories(topic.get("category_id")):
                post = await self._opening_post(ctx, topic)
            # Old topics (and every topic on a first run) only move the mark: payload None.
            items.append(PageItem(f"topic-{tid}", float(tid), post))
        more = bool(topic_list.get("more_topics_url")) and bool(items)
        return Page(items, page + 1 if more else None)

    async def _opening_post(self, ctx: PollContext, topic: dict[str, Any]) -> RawPost | None:
        data = await self._get(ctx, f"/t/{topic['id']}.json")
        posts = ((data or {}).get("post_stream") or {}).get("posts") if isinstance(data, dict) else None
        if not isinstance(posts, list) or not posts:
            ctx.skip(f"topic {topic['id']} came back without posts")
            return None
        first = next((p for p in posts if isinstance(p, dict) and p.get("post_number") == 1), posts[0])
        context = {
            "topic_title": data.get("title") or topic.get("title"),
            "slug": data.get("slug") or topic.get("slug"),
        }
        return self._to_post(ctx, first, context, kind="post")

    async def _search_page(self, ctx: PollContext, anchor: Any, floor: float | None) -> Page:
        page = int(anchor or 1)
        query = f"{(self.options.query or '').strip()} order:latest"
        params = {"q": query, "page": str(page)}
        data = await self._get(ctx, "/search.json", params)
        if not isinstance(data, dict) or not isinstance(data.get("posts", []), list):
            raise MalformedResponseError(
                self.name,
                "/search.json answer is not the {posts, topics, grouped_search_result} object",
            )
        hits = [h for h in data.get("posts", []) if isinstance(h, dict) and isinstance(h.get("id"), int)]
        titles = {t.get("id"): t for t in data.get("topics", []) if isinstance(t, dict)}
        wanted = [h for h in hits if floor is None or h["id"] > floor]
        full: dict[int, dict[str, Any]] = {}
        by_topic: dict[int, list[int]] = {}
        for hit in wanted:
            by_topic.setdefault(hit["topic_id"], []).append(hit["id"])
        for topic_id, post_ids in by_topic.items():
            found = await self._get(ctx, f"/t/{topic_id}/posts.json", [("post_ids[]", str(i)) for i in post_ids])
            for post in ((found or {}).get("post_stream") or {}).get("posts") or []:
                if isinstance(post, dict) and isinstance(post.get("id"), int):
                    full[post["id"]] = post
        items: list[PageItem] = []
        for hit in hits:
            post_data = full.get(hit["id"])
            if post_data is None:
                if floor is None or hit["id"] > floor:
                    ctx.skip(f"search hit {hit['id']} could not be read in full")
                items.append(PageItem(str(hit["id"]), float(hit["id"]), None))
                continue
            topic = titles.get(hit.get("topic_id"), {})
            if not self._in_categories(topic.get("category_id")):
                items.append(PageItem(str(hit["id"]), float(hit["id"]), None))
                continue
            context = {"topic_title": topic.get("title"), "slug": topic.get("slug")}
            post = self._to_post(
                ctx, post_data, context, kind="post" if post_data.get("post_number") == 1 else "comment"
            )
            items.append(PageItem(str(hit["id"]), float(hit["id"]), post))
        grouped = data.get("grouped_search_result") or {}
        more = bool(grouped.get("more_full_page_results") or grouped.get("more_posts")) and bool(hits)
        return Page(items, page + 1 if more else None)

    def _items(self, ctx: PollContext, raw_posts: list[Any], context: dict[str, Any]) -> list[PageItem]:
        items = []
        for raw in raw_posts:
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), int):
                ctx.skip("a post without a numeric id was skipped")
                continue
            kind = "post" if raw.get("post_number") == 1 else "comment"
            if not self._in_categories(raw.get("category_id")):
                items.append(PageItem(str(raw["id"]), float(raw["id"]), None))
                continue
            post = self._to_post(ctx, raw, context, kind=kind)
            if post is not None:
                items.append(PageItem(post.external_id, float(raw["id"]), post))
        return items

    def _to_post(self, ctx: PollContext, raw: dict[str, Any], context: dict[str, Any], kind: str) -> RawPost | None:
        published = parse_iso(raw.get("created_at"))
        if published is None:
            ctx.skip(f"post {raw.get('id')} has no usable created_at")
            return None
        topic_id = raw.get("topic_id")
        slug = raw.get("topic_slug") or context.get("slug") or "-"
        number = raw.get("post_number")
        username = raw.get("username") or None
        body = html_to_text(raw.get("cooked")) if raw.get("cooked") else str(raw.get("raw") or "")
        metrics: dict[str, float] = {}
        if isinstance(raw.get("trust_level"), int):
            metrics["trust_level"] = float(raw["trust_level"])
        if isinstance(raw.get("reads"), int):
            metrics["reads"] = float(raw["reads"])
        return RawPost(
            source=self.name,
            external_id=str(raw["id"]),
            url=f"{self._base}/t/{slug}/{topic_id}/{number}" if number else f"{self._base}/t/{slug}/{topic_id}",
            author_handle=username,
            author_name=raw.get("name") or raw.get("display_username") or None,
            author_url=f"{self._base}/u/{username}" if username else None,
            title=raw.get("topic_title") or context.get("topic_title") or None,
            body=body,
            published_at=published,
            raw=raw,
            thread_id=f"topic-{topic_id}" if topic_id is not None else None,
            parent_id=None,
            kind=kind,  # type: ignore[arg-type]
            author_metrics=metrics,
        )

    # -- replying ------------------------------------------------------------------------

    def _target(self, target: ReplyTarget) -> tuple[int, int | None]:
        topic_id = target.raw.get("topic_id")
        number = target.raw.get("post_number")
        if not isinstance(topic_id, int):
            match = _TOPIC_URL.search(target.url or "")
            if not match:
                raise ReplyError(self.name, f"cannot tell the topic of post {target.external_id}", permanent=True)
            topic_id = int(match.group(1))
            number = int(match.group(2)) if match.group(2) else None
        return topic_id, number if isinstance(number, int) else None

    async def reply(self, target: ReplyTarget, text: str, idempotency_key: str) -> ReplyResult:
        """Post ``text`` as a reply in ``target``'s topic (a "just posted" refusal looks the reply up)."""
        if not text.strip():
            raise ReplyError(self.name, "the reply is empty", permanent=True)
        if len(text) > MAX_POST_LENGTH:
            raise ReplyError(
                self.name,
                f"reply is {len(text)} characters; Discourse takes {MAX_POST_LENGTH}",
                permanent=True,
            )
        if not self.options.api_key_env:
            raise ReplyError(self.name, "no api_key_env/api_username configured for replying", permanent=True)
        topic_id, number = self._target(target)
        body: dict[str, Any] = {"topic_id": topic_id, "raw": text}
        if number and number > 1:
            body["reply_to_post_number"] = number
        resp = await request_json(
            self.http,
            self.name,
            f"{self._base}/posts.json",
            method="POST",
            json_body=body,
            headers={**self._auth_headers(), "Accept": "application/json"},
            accept_statuses=(400, 403, 404, 422),
        )
        data = resp.data if isinstance(resp.data, dict) else {}
        if resp.status >= 400:
            errors = "; ".join(str(e) for e in data.get("errors") or []) or f"HTTP {resp.status}"
            if resp.status == 422 and "similar to what you recently posted" in errors:
                earlier = await self.find_reply(target, text, idempotency_key)
                if earlier is not None:
                    return earlier
                raise TransientFetchError(
                    self.name, f"Discourse says this reply was just posted, but it is not found yet: {errors}"
                )
            if resp.status == 403 and data.get("error_type") in (None, "invalid_access", "not_logged_in"):
                raise AuthError(self.name, f"not allowed to reply in topic {topic_id}: {errors}")
            raise ReplyError(self.name, f"Discourse refused the reply to topic {topic_id}: {errors}", permanent=True)
        if not isinstance(data.get("id"), int):
            raise MalformedResponseError(self.name, "the created post came back without an id")
        return ReplyResult(str(data["id"]), self._post_url(data, topic_id))

    def _post_url(self, data: dict[str, Any], topic_id: int) -> str:
        slug = data.get("topic_slug") or "-"
        number = data.get("post_number")
        topic_id = data.get("topic_id") or topic_id
        return f"{self._base}/t/{slug}/{topic_id}/{number}" if number else f"{self._base}/t/{slug}/{topic_id}"

    async def find_reply(
        self, target: ReplyTarget, text: str, idempotency_key: str, *, since: datetime | None = None
    ) -> ReplyResult | None:
        """Look for ``text`` among the account's replies in the target's topic made since ``since``.

        ``/user_actions.json?filter=5`` lists the account's replies newest first; it is paged with
        ``offset`` until one is older than ``since``, at most ``reply_lookup_pages`` pages.
        """
        if not self.options.api_key_env or not self.options.api_username:
            return None
        username = self.options.api_username
        topic_id, number = self._target(target)
        wanted = normalise_for_match(text)

        async def page(offset: Any | None) -> LookupPage[dict[str, Any]]:
            start = int(offset or 0)
            resp = await request_json(
                self.http,
                self.name,
                f"{self._base}/user_actions.json",
                params={"username": username, "filter": "5", "offset": str(start), "limit": str(LOOKUP_PAGE_SIZE)},
                headers={**self._auth_headers(), "Accept": "application/json"},
            )
            actions = resp.data.get("user_actions") if isinstance(resp.data, dict) else None
            if not isinstance(actions, list):
                raise MalformedResponseError(self.name, "/user_actions.json answer has no user_actions list")
            items = [a for a in actions if isinstance(a, dict)]
            # Older Discourse versions ignore `limit` (30 or 60 per page): an empty page is the end.
            return LookupPage(items, start + len(actions) if actions else None)

        def match(action: dict[str, Any]) -> ReplyResult | None:
            if action.get("topic_id") != topic_id:
                return None
            if (action.get("username") or "").casefold() != username.casefold():
                return None
            if number and number > 1 and action.get("reply_to_post_number") != number:
                return None
            excerpt = normalise_for_match(html_to_text(action.get("excerpt") or "")).rstrip("…").rstrip(".").strip()
            if not excerpt or not wanted.startswith(excerpt):
                return None
            data = {"topic_slug": action.get("slug"), "post_number": action.get("post_number")}
            return ReplyResult(str(action.get("post_id")), self._post_url(data, topic_id))

        return await look_back(
            self.name,
            page,
            since=since,
            created_at=lambda action: parse_iso(action.get("created_at")),
            match=match,
            max_pages=self.options.reply_lookup_pages,
        )

    async def aclose(self) -> None:
        """Nothing to release: the HTTP session is shared."""
        return None


if TYPE_CHECKING:  # mypy holds the class to the contract the registry promises
    _factory: ConnectorFactory = DiscourseConnector
    _reply_lookup: type[ReplyLookup] = DiscourseConnector


__all__ = ["DiscourseConnector", "DiscourseOptions"]
