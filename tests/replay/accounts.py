"""The bot's own account on each platform that replies: posting, and listing its posts page by page.

The recordings show one created reply and one page of an account's posts; a retry after a crash
needs more: the reply the crashed attempt made, then dozens of posts the account made elsewhere,
listed newest first in pages exactly as the platform pages them:

- Mastodon ``GET /api/v1/accounts/:id/statuses``: ``limit`` (at most 40), ``max_id``/``since_id``/
  ``min_id``, and a ``Link`` header whose ``rel="next"`` appears only while pages are full
  (Mastodon's ``records_continue?``), other query parameters kept, as recorded in
  ``test_get_pagination_info.yaml``;
- Bluesky ``com.atproto.repo.listRecords``: newest first by record key, ``limit`` (at most 100),
  ``cursor`` = the last record key of the page, present on every non-empty page (the PDS's own
  rule), so an empty page ends the listing;
- Discourse ``/user_actions.json?filter=5``: newest first, ``offset`` and ``limit`` (default 30);
- Reddit ``/user/<name>/comments?sort=new``: a Listing with ``limit`` (at most 100) and ``after``.

Items are built from the recorded responses (a created status, post, comment or record) with only
the fields that differ replaced: ids, times, text, the post replied to. ``PostFaults`` lets a test
lose the answer to a post that was stored (the connection drops, or the answer is held back so a
process can be killed meanwhile), the situation a retry must survive without posting twice.
"""

from __future__ import annotations

import asyncio
import copy
import html
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from connectors._atproto import encode_tid
from tests.replay.cassettes import json_response, load

REPLAY = Path(__file__).resolve().parent


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class PostFaults:
    """What happens to the answer of the next posts (dropped after storing, or held back) and of the next listing."""

    refuse_next: int = 0  # the next N posts are refused with a 502 before anything is stored
    drop_next: int = 0  # the next N posts are stored, then the connection is cut without an answer
    hold_seconds: float = 0.0  # every post is stored, then answered only after this long
    stored: asyncio.Event = field(default_factory=asyncio.Event)  # set whenever a post was stored
    hold_next_listing: asyncio.Event | None = None  # the next listing is read at once, answered once this is set
    listing_read: asyncio.Event = field(default_factory=asyncio.Event)  # set when that held listing was read

    def before_store(self) -> web.Response | None:
        """A 502 instead of storing the post, while ``refuse_next`` lasts."""
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return web.Response(status=502, text="Bad Gateway")
        return None

    async def after_store(self, request: web.Request) -> web.Response | None:
        """Apply the fault after a post was stored; a response to send instead of the normal one, or None."""
        self.stored.set()
        if self.drop_next > 0:
            self.drop_next -= 1
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the client: the connection is gone
        if self.hold_seconds:
            await asyncio.sleep(self.hold_seconds)
        return None

    async def before_listing_answer(self) -> None:
        """Hold back the answer of a listing already read, once, while ``hold_next_listing`` is unset."""
        gate, self.hold_next_listing = self.hold_next_listing, None
        if gate is not None:
            self.listing_read.set()
            await gate.wait()


@dataclass
class MastodonAccount:
    """One Mastodon account: ``POST /api/v1/statuses``, ``verify_credentials`` and its statuses, paged."""

    base_url: str
    honour_idempotency_keys: bool = False  # Mastodon keeps a key for an hour; off, a retry must look first
    faults: PostFaults = field(default_factory=PostFaults)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        recorded = load(REPLAY / "mastodon" / "test_status_reply.yaml")
        self.template = next(i for i in recorded if i.method == "POST" and i.status == 200).json()
        self.account = copy.deepcopy(self.template["account"])
        self.account["url"] = f"{self.base_url}/@{self.account['username']}"
        self._seq = itertools.count()

    @property
    def statuses_path(self) -> str:
        return f"/api/v1/accounts/{self.account['id']}/statuses"

    def install(self, server: Any, prefix: str = "") -> None:
        """Register the account's routes on a ReplayServer (under ``prefix``)."""
        server.add_handler("POST", prefix + "/api/v1/statuses", self.create)
        server.add_handler("GET", prefix + "/api/v1/accounts/verify_credentials", self.verify_credentials)
        server.add_handler("GET", prefix + self.statuses_path, self.list_statuses)

    def add_status(self, text: str, in_reply_to: str | None = None, at: float | None = None) -> dict[str, Any]:
        """Store a status of the account (made at ``at``, default now) and return it."""
        moment = time.time() if at is None else at
        status_id = str((int(moment * 1000) << 16) + next(self._seq) % 65536)
        status = copy.deepcopy(self.template)
        status.update(
            id=status_id,
            created_at=_iso(moment),
            in_reply_to_id=in_reply_to,
            in_reply_to_account_id=None,
            content=f"<p>{html.escape(text)}</p>",
            url=f"{self.account['url']}/{status_id}",
            uri=f"{self.base_url}/users/{self.account['username']}/statuses/{status_id}",
            account=self.account,
        )
        self.statuses.append(status)
        self.statuses.sort(key=lambda s: int(s["id"]))
        return status

    def post_elsewhere(self, count: int) -> None:
        """The account posts ``count`` statuses that answer nothing we track (between a crash and a retry)."""
        for n in range(count):
            self.add_status(f"Unrelated announcement {len(self.statuses)}-{n}")

    def replies_to(self, status_id: str) -> list[dict[str, Any]]:
        """The account's statuses that answer ``status_id``."""
        return [s for s in self.statuses if s.get("in_reply_to_id") == status_id]

    async def create(self, request: web.Request) -> web.Response:
        form = await request.post()
        if refused := self.faults.before_store():
            return refused
        key = request.headers.get("Idempotency-Key")
        if self.honour_idempotency_keys and key in self.keys:
            return json_response(self.keys[key])
        in_reply_to = str(form.get("in_reply_to_id")) if form.get("in_reply_to_id") else None
        status = self.add_status(str(form.get("status", "")), in_reply_to)
        if key:
            self.keys[key] = status
        return await self.faults.after_store(request) or json_response(status)

    async def verify_credentials(self, request: web.Request) -> web.Response:
        return json_response(self.account)

    async def list_statuses(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        limit = max(1, min(int(query.get("limit", "20")), 40))
        newest_first = sorted(self.statuses, key=lambda s: int(s["id"]), reverse=True)
        if "max_id" in query:
            newest_first = [s for s in newest_first if int(s["id"]) < int(query["max_id"])]
        if "since_id" in query:
            newest_first = [s for s in newest_first if int(s["id"]) > int(query["since_id"])]
        if "min_id" in query:
            newest_first = [s for s in newest_first if int(s["id"]) > int(query["min_id"])]
            chunk = newest_first[-limit:]
        else:
            chunk = newest_first[:limit]
        links = []
        kept = {k: v for k, v in query.items() if k not in ("max_id", "min_id", "since_id")}
        base = str(request.url.with_query(None))
        if chunk and len(chunk) == limit:  # Mastodon's records_continue?
            links.append(f'<{base}?{urlencode({**kept, "max_id": chunk[-1]["id"]})}>; rel="next"')
        if chunk:
            links.append(f'<{base}?{urlencode({**kept, "min_id": chunk[0]["id"]})}>; rel="prev"')
        answer = json_response(chunk, headers={"Link": ", ".join(links)} if links else None)
        await self.faults.before_listing_answer()  # what was read stays what is answered
        return answer


@dataclass
class BlueskyRepo:
    """One account's repository: createRecord, getRecord and listRecords, paged like a PDS."""

    did: str
    faults: PostFaults = field(default_factory=PostFaults)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # rkey -> record value
    created: int = 0

    def install(self, server: Any) -> None:
        """Register the repository's routes on a ReplayServer."""
        server.add_handler("POST", "/xrpc/com.atproto.repo.createRecord", self.create)
        server.add_handler("GET", "/xrpc/com.atproto.repo.getRecord", self.get)
        server.add_handler("GET", "/xrpc/com.atproto.repo.listRecords", self.list)

    def uri(self, rkey: str) -> str:
        return f"at://{self.did}/app.bsky.feed.post/{rkey}"

    def add_record(self, value: dict[str, Any], rkey: str | None = None, at: float | None = None) -> str:
        """Store a post record (under a TID of ``at``, default now, unless ``rkey`` is given); return its key."""
        moment = time.time() if at is None else at
        key = rkey or encode_tid(int(moment * 1_000_000), len(self.records) % 1024)
        self.records[key] = value
        return key

    def post_elsewhere(self, count: int) -> None:
        """The account posts ``count`` records that answer nothing we track."""
        for n in range(count):
            self.add_record({"$type": "app.bsky.feed.post", "text": f"Unrelated {n}", "createdAt": _iso(time.time())})

    def replies_to(self, uri: str) -> list[str]:
        """Keys of the records that answer ``uri``."""
        return [k for k, v in self.records.items() if ((v.get("reply") or {}).get("parent") or {}).get("uri") == uri]

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        if refused := self.faults.before_store():
            return refused
        rkey = body.get("rkey") or encode_tid(int(time.time() * 1_000_000), 0)
        if rkey in self.records:
            return json_response({"error": "InvalidRequest", "message": "Record already exists"}, status=400)
        self.add_record(body["record"], rkey)
        self.created += 1
        answer = {"uri": self.uri(rkey), "cid": "bafyreia7fptlcy32gmdmtxlqnd3cwjcq7bxae4sdunq5c5i6yr7y72cqmu"}
        return await self.faults.after_store(request) or json_response(answer)

    async def get(self, request: web.Request) -> web.Response:
        rkey = request.query["rkey"]
        if rkey not in self.records:
            return json_response({"error": "RecordNotFound", "message": "Could not locate record"}, status=400)
        return json_response({"uri": self.uri(rkey), "cid": "bafy", "value": self.records[rkey]})

    async def list(self, request: web.Request) -> web.Response:
        query = request.query
        limit = max(1, min(int(query.get("limit", "50")), 100))
        keys = sorted(self.records, reverse=query.get("reverse") != "true")
        if query.get("cursor"):
            cursor = query["cursor"]
            keys = [k for k in keys if (k > cursor if query.get("reverse") == "true" else k < cursor)]
        chunk = keys[:limit]
        payload: dict[str, Any] = {
            "records": [{"uri": self.uri(k), "cid": "bafy", "value": self.records[k]} for k in chunk]
        }
        if chunk:
            payload["cursor"] = chunk[-1]
        return json_response(payload)


@dataclass
class DiscourseAccount:
    """One Discourse user: ``POST /posts.json`` and its replies in ``/user_actions.json``, paged."""

    username: str
    faults: PostFaults = field(default_factory=PostFaults)
    actions: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.post_template = json.loads((REPLAY / "discourse" / "post.json").read_text())
        replies = json.loads((REPLAY / "discourse" / "replies.json").read_text())
        self.action_template = replies["user_actions"][0]
        self._ids = itertools.count(1000)
        self._numbers: dict[int, int] = {}

    def install(self, server: Any) -> None:
        """Register the user's routes on a ReplayServer."""
        server.add_handler("POST", "/posts.json", self.create)
        server.add_handler("GET", "/user_actions.json", self.list_actions)

    def add_post(self, topic_id: int, raw: str, reply_to: int | None, at: float | None = None) -> dict[str, Any]:
        """Store a reply of the user in ``topic_id`` and return the created post."""
        moment = time.time() if at is None else at
        post_id = next(self._ids)
        number = self._numbers.get(topic_id, 1) + 1
        self._numbers[topic_id] = number
        post = dict(self.post_template)
        post.update(
            id=post_id,
            topic_id=topic_id,
            post_number=number,
            reply_to_post_number=reply_to,
            raw=raw,
            cooked=f"<p>{html.escape(raw)}</p>",
            created_at=_iso(moment),
            username=self.username,
            topic_slug=f"topic-{topic_id}",
        )
        action = dict(self.action_template)
        action.update(
            created_at=_iso(moment),
            excerpt=html.escape(raw[:300]),
            slug=f"topic-{topic_id}",
            topic_id=topic_id,
            post_number=number,
            post_id=post_id,
            reply_to_post_number=reply_to,
            username=self.username,
            acting_username=self.username,
        )
        self.actions.append(action)
        return post

    def post_elsewhere(self, count: int) -> None:
        """The user replies ``count`` times in topics we do not track."""
        for n in range(count):
            self.add_post(90_000 + n, f"Unrelated answer {n}", None)

    def replies_in(self, topic_id: int) -> list[dict[str, Any]]:
        """The user's replies in ``topic_id``."""
        return [a for a in self.actions if a["topic_id"] == topic_id]

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        if refused := self.faults.before_store():
            return refused
        post = self.add_post(int(body["topic_id"]), str(body["raw"]), body.get("reply_to_post_number"))
        return await self.faults.after_store(request) or json_response(post)

    async def list_actions(self, request: web.Request) -> web.Response:
        query = request.query
        offset = max(0, int(query.get("offset", "0")))
        limit = int(query.get("limit", "30"))
        mine = [a for a in self.actions if a["username"].casefold() == query.get("username", "").casefold()]
        newest_first = sorted(mine, key=lambda a: (a["created_at"], a["post_id"]), reverse=True)
        return json_response({"user_actions": newest_first[offset : offset + limit]})


@dataclass
class RedditAccount:
    """One Reddit user: ``POST /api/comment`` and ``/user/<name>/comments?sort=new``, paged."""

    username: str
    faults: PostFaults = field(default_factory=PostFaults)
    comments: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        recorded = load(REPLAY / "reddit" / "TestComment.test_reply.json")
        self.token = next(i for i in recorded if i.path == "/api/v1/access_token")
        created = next(i for i in recorded if i.path == "/api/comment/").json()
        self.template = created["json"]["data"]["things"][0]["data"]
        self._ids = itertools.count(36**5)

    def install(self, server: Any) -> None:
        """Register the user's routes on a ReplayServer."""
        server.add_handler("POST", "/api/v1/access_token", self.access_token)
        server.add_handler("POST", "/api/comment/", self.create)
        server.add_handler("GET", f"/user/{self.username}/comments", self.list_comments)

    def add_comment(self, parent: str, body: str, at: float | None = None) -> dict[str, Any]:
        """Store a comment of the user under ``parent`` (a fullname) and return it."""
        moment = time.time() if at is None else at
        number = next(self._ids)
        digits = ""
        while number:
            number, rest = divmod(number, 36)
            digits = "0123456789abcdefghijklmnopqrstuvwxyz"[rest] + digits
        comment = dict(self.template)
        comment.update(
            id=digits,
            name=f"t1_{digits}",
            parent_id=parent,
            link_id=parent if parent.startswith("t3_") else "t3_4b1tfm",
            body=body,
            body_html=f'<div class="md"><p>{html.escape(body)}</p>\n</div>',
            author=self.username,
            created_utc=moment,
            created=moment,
            permalink=f"/r/test/comments/4b1tfm/_/{digits}/",
        )
        self.comments.append(comment)
        return comment

    def post_elsewhere(self, count: int) -> None:
        """The user comments ``count`` times under posts we do not track."""
        for n in range(count):
            self.add_comment(f"t3_other{n}", f"Unrelated comment {n}")

    def replies_to(self, fullname: str) -> list[dict[str, Any]]:
        """The user's comments directly under ``fullname``."""
        return [c for c in self.comments if c["parent_id"] == fullname]

    async def access_token(self, request: web.Request) -> web.Response:
        return web.Response(status=self.token.status, body=self.token.body, headers=dict(self.token.headers))

    async def create(self, request: web.Request) -> web.Response:
        form = await request.post()
        if refused := self.faults.before_store():
            return refused
        comment = self.add_comment(str(form["thing_id"]), str(form["text"]))
        answer = {"json": {"errors": [], "data": {"things": [{"kind": "t1", "data": comment}]}}}
        return await self.faults.after_store(request) or json_response(answer)

    async def list_comments(self, request: web.Request) -> web.Response:
        query = request.query
        limit = max(1, min(int(query.get("limit", "25")), 100))
        newest_first = sorted(self.comments, key=lambda c: (c["created_utc"], c["name"]), reverse=True)[:1000]
        start = 0
        if query.get("after"):
            names = [c["name"] for c in newest_first]
            start = names.index(query["after"]) + 1 if query["after"] in names else len(newest_first)
        chunk = newest_first[start : start + limit]
        more = start + limit < len(newest_first)
        listing = {
            "kind": "Listing",
            "data": {
                "after": chunk[-1]["name"] if chunk and more else None,
                "dist": len(chunk),
                "modhash": None,
                "geo_filter": "",
                "children": [{"kind": "t1", "data": c} for c in chunk],
                "before": None,
            },
        }
        return json_response(listing)
