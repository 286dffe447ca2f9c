"""Re-page recorded items the way each platform pages them, for pagination and restart tests.

The recordings hold one page per listing; a restart in the middle of pagination needs several.
These handlers serve the *recorded* items (posts, statuses, hits) and only compute the page
envelope the platform would compute (slicing by ``limit``/``after``/``min_id``/``cursor``, the
``Link`` header, ``nbPages``). ``visible`` limits the items to those "already published", so a
test can let new items appear between two polls. The bot's own account on each platform that
replies (posting, and its posts listed page by page for ``find_reply``) is in ``tests/replay/accounts.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.replay.cassettes import json_response


@dataclass
class AlgoliaIndex:
    """HN Algolia ``search_by_date`` over recorded hits: tags, numericFilters, hitsPerPage, page."""

    hits: list[dict[str, Any]]
    visible: Callable[[dict[str, Any]], bool] = lambda hit: True
    seen_params: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        self.seen_params.append(params)
        tags = params.get("tags", "").strip("()").split(",") if params.get("tags") else []
        hits = [h for h in self.hits if self.visible(h)]
        if tags:
            hits = [h for h in hits if set(tags) & set(h.get("_tags", []))]
        for clause in filter(None, params.get("numericFilters", "").split(",")):
            match = re.fullmatch(r"(\w+)(>=|<=|>|<|=)(-?\d+)", clause)
            assert match, f"unexpected numeric filter {clause!r}"
            attr, op, value = match.group(1), match.group(2), int(match.group(3))
            ops = {">=": int.__ge__, "<=": int.__le__, ">": int.__gt__, "<": int.__lt__, "=": int.__eq__}
            hits = [h for h in hits if ops[op](int(h[attr]), value)]
        hits.sort(key=lambda h: h["created_at_i"], reverse=True)
        per_page = int(params.get("hitsPerPage", "20"))
        page = int(params.get("page", "0"))
        pages = (len(hits) + per_page - 1) // per_page
        return json_response(
            {
                "hits": hits[page * per_page : (page + 1) * per_page],
                "nbHits": len(hits),
                "page": page,
                "nbPages": pages,
                "hitsPerPage": per_page,
                "processingTimeMS": 1,
                "query": params.get("query", ""),
                "params": request.query_string,
            }
        )


@dataclass
class RedditListing:
    """A Reddit listing over recorded children: ``limit``, ``after``, newest first."""

    children: list[dict[str, Any]]
    visible: Callable[[dict[str, Any]], bool] = lambda child: True

    async def handle(self, request: web.Request) -> web.Response:
        items = [c for c in self.children if self.visible(c)]
        limit = int(request.query.get("limit", "25"))
        start = 0
        after = request.query.get("after")
        if after:
            names = [c["data"]["name"] for c in items]
            start = names.index(after) + 1 if after in names else len(items)
        chunk = items[start : start + limit]
        more = start + limit < len(items)
        return json_response(
            {
                "kind": "Listing",
                "data": {
                    "modhash": "",
                    "children": chunk,
                    "after": chunk[-1]["data"]["name"] if (chunk and more) else None,
                    "before": None,
                },
            }
        )


@dataclass
class MastodonTimeline:
    """A Mastodon timeline over recorded statuses: ``min_id``/``max_id``/``since_id``/``limit`` and Link."""

    statuses: list[dict[str, Any]]
    visible: Callable[[dict[str, Any]], bool] = lambda status: True
    key: Callable[[dict[str, Any]], str] = lambda item: item["id"]

    async def handle(self, request: web.Request) -> web.Response:
        def num(value: str) -> int:
            return int(value)

        items = sorted((s for s in self.statuses if self.visible(s)), key=lambda s: num(self.key(s)), reverse=True)
        limit = int(request.query.get("limit", "20"))
        if "max_id" in request.query:
            items = [s for s in items if num(self.key(s)) < num(request.query["max_id"])]
        if "since_id" in request.query:
            items = [s for s in items if num(self.key(s)) > num(request.query["since_id"])]
        if "min_id" in request.query:
            # Mastodon pages *up* from min_id: the oldest `limit` items after it, returned newest first.
            items = [s for s in items if num(self.key(s)) > num(request.query["min_id"])]
            chunk = items[-limit:]
        else:
            chunk = items[:limit]
        headers = {}
        if chunk:
            base = str(request.url.with_query(None))
            newest, oldest = self.key(chunk[0]), self.key(chunk[-1])
            headers["Link"] = f'<{base}?max_id={oldest}>; rel="next", <{base}?min_id={newest}>; rel="prev"'
        return json_response(chunk, headers=headers)


@dataclass
class OffsetPager:
    """Bluesky-style ``cursor`` (an offset) and ``limit`` over recorded items, newest first.

    ``since_key`` names the timestamp field that ``since`` filters on (``indexedAt``).
    """

    items: list[dict[str, Any]]
    list_key: str
    since_key: str = "indexedAt"
    visible: Callable[[dict[str, Any]], bool] = lambda item: True
    seen_params: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        self.seen_params.append(params)
        items = [i for i in self.items if self.visible(i)]
        if params.get("since"):
            items = [i for i in items if i[self.since_key] >= params["since"]]
        limit = int(params.get("limit", "25"))
        offset = int(params.get("cursor") or 0)
        chunk = items[offset : offset + limit]
        payload: dict[str, Any] = {self.list_key: chunk}
        if offset + limit < len(items):
            payload["cursor"] = str(offset + limit)
        return json_response(payload)
