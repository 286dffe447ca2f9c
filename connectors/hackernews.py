"""Hacker News through Algolia's ``search_by_date``: stories and comments matching queries; read-only.

Each query (``query`` and every entry of ``keywords``) is its own stream, searched newest first with
``numericFilters=created_at_i>=<mark - overlap>``. When a page is full of new hits, older pages are
read with an upper bound ``created_at_i<=<oldest on the page>`` instead of page numbers, so neither
Algolia's 1,000-hit window nor hits arriving meanwhile can skip anything. The overlap (default
300 s) covers Algolia's indexing delay; ids already delivered near the mark are filtered out.

Hacker News has no write API: drafts end as "copy, open the post, mark as posted".
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import aiohttp
from pydantic import Field, model_validator

from connectors._cursor import Page, PageItem
from connectors._http import request_json
from connectors._markup import html_to_text
from connectors._polling import PollContext, Step, poll_streams, walking
from connectors.base import (
    Batch,
    ConnectorFactory,
    ConnectorOptions,
    MalformedResponseError,
    RawPost,
    ReadOnlyMixin,
    ReplyLookup,
    ReplyResult,
    ReplyTarget,
)

logger = logging.getLogger(__name__)


class HackerNewsOptions(ConnectorOptions):
    """Options of a ``type = "hackernews"`` source."""

    base_url: str = "https://hn.algolia.com/api/v1"
    site_url: str = "https://news.ycombinator.com"
    query: str | None = None
    keywords: list[str] = Field(default_factory=list)
    tags: list[Literal["story", "comment"]] = Field(default=["story", "comment"], min_length=1)
    page_size: int = Field(100, ge=1, le=1000)
    max_pages: int = Field(10, ge=1, le=100)
    overlap_seconds: int = Field(300, ge=0, le=86400)

    @model_validator(mode="after")
    def _needs_a_query(self) -> HackerNewsOptions:
        if not (self.query and self.query.strip()) and not any(k.strip() for k in self.keywords):
            raise ValueError("set `query` or `keywords`: listening to every Hacker News item is not supported")
        return self


class HackerNewsConnector(ReadOnlyMixin):
    """Listen to Hacker News stories and comments; replies are posted by a person."""

    kind: ClassVar[str] = "hackernews"
    Options: ClassVar[type[ConnectorOptions]] = HackerNewsOptions
    min_interval: ClassVar[timedelta] = timedelta(seconds=60)

    def __init__(self, name: str, options: HackerNewsOptions, http: aiohttp.ClientSession) -> None:
        self.name = name
        self.options = options
        self.http = http
        self._base = options.base_url.rstrip("/")
        self._site = options.site_url.rstrip("/")

    def _queries(self) -> dict[str, str]:
        queries: dict[str, str] = {}
        if self.options.query and self.options.query.strip():
            queries["query"] = self.options.query.strip()
        for word in self.options.keywords:
            if word.strip():
                queries[f"keyword:{word.strip().casefold()}"] = word.strip()
        return queries

    async def fetch(self, cursor: str | None) -> Batch:
        """Fetch the stories and comments after ``cursor`` from Algolia's search."""
        steps: dict[str, Step] = {
            name: walking(self._page_fetcher(text), float(self.options.overlap_seconds), time.time)
            for name, text in self._queries().items()
        }
        return await poll_streams(self.name, self.kind, cursor, steps, max_pages=self.options.max_pages)

    def _page_fetcher(self, query: str) -> Any:
        async def fetch_page(ctx: PollContext, anchor: Any, floor: float | None) -> Page:
            filters = []
            if floor is not None:
                filters.append(f"created_at_i>={int(floor) - self.options.overlap_seconds}")
            if anchor is not None:
                bound, op = anchor
                filters.append(f"created_at_i{op}{int(bound)}")
            params = {
                "query": query,
                "tags": "(" + ",".join(self.options.tags) + ")",
                "hitsPerPage": str(self.options.page_size),
            }
            if filters:
                params["numericFilters"] = ",".join(filters)
            resp = await request_json(self.http, self.name, f"{self._base}/search_by_date", params=params)
            ctx.saw(resp)
            data = resp.data
            if not isinstance(data, dict) or not isinstance(data.get("hits"), list):
                raise MalformedResponseError(self.name, f"search_by_date answer has no hits list ({resp.url})")
            items: list[PageItem] = []
            for hit in data["hits"]:
                post = self._to_post(ctx, hit)
                if post is not None:
                    items.append(PageItem(post.external_id, post.published_at.timestamp(), post))
            more = int(data.get("nbPages") or 0) > 1 and len(data["hits"]) >= self.options.page_size
            next_anchor = None
            if more and items:
                oldest, newest = min(i.key for i in items), max(i.key for i in items)
                # Inclusive, so hits sharing the boundary second are not lost (seen ids drop the
                # repeats); exclusive only when a whole page shares one second, to make progress.
                next_anchor = [int(oldest), "<=" if oldest < newest else "<"]
            return Page(items, next_anchor)

        return fetch_page

    def _to_post(self, ctx: PollContext, hit: Any) -> RawPost | None:
        if not isinstance(hit, dict) or not hit.get("objectID"):
            ctx.skip("a search hit without objectID was skipped")
            return None
        object_id = str(hit["objectID"])
        try:
            created = datetime.fromtimestamp(int(hit["created_at_i"]), UTC)
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            ctx.skip(f"hit {object_id} has no usable created_at_i")
            return None
        tags = hit.get("_tags") or []
        is_comment = "comment" in tags or hit.get("comment_text") is not None
        author = hit.get("author") or None
        story_id = hit.get("story_id") or (None if is_comment else object_id)
        body = html_to_text(hit.get("comment_text") if is_comment else hit.get("story_text"))
        if not is_comment and hit.get("url"):
            body = f"{body}\n\n{hit['url']}".strip()
        points = hit.get("points")
        return RawPost(
            source=self.name,
            external_id=object_id,
            url=f"{self._site}/item?id={object_id}",
            author_handle=author,
            author_name=None,
            author_url=f"{self._site}/user?id={author}" if author else None,
            title=(hit.get("story_title") if is_comment else hit.get("title")) or None,
            body=body,
            published_at=created,
            raw=hit,
            thread_id=str(story_id) if story_id is not None else None,
            parent_id=str(hit["parent_id"]) if is_comment and hit.get("parent_id") is not None else None,
            kind="comment" if is_comment else "post",
            author_metrics={"points": float(points)} if isinstance(points, int | float) else {},
        )

    async def find_reply(
        self, target: ReplyTarget, text: str, idempotency_key: str, *, since: datetime | None = None
    ) -> ReplyResult | None:
        """Hacker News replies are posted by a person, so there is never one to find."""
        return None

    async def aclose(self) -> None:
        """Nothing to release: the HTTP session is shared."""
        return None


if TYPE_CHECKING:  # mypy holds the class to the contract the registry promises
    _factory: ConnectorFactory = HackerNewsConnector
    _reply_lookup: type[ReplyLookup] = HackerNewsConnector


__all__ = ["HackerNewsConnector", "HackerNewsOptions"]
