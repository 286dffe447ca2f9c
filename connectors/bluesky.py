"""Bluesky: ``app.bsky.feed.searchPosts`` and mentions/replies/quotes; replies with root and parent refs.

Reading uses a session (``com.atproto.server.createSession`` with ``identifier`` and the app
password named by ``app_password_env``); without one, search runs anonymously against
``base_url`` (e.g. https://public.api.bsky.app), which may only return a first page. An expired
access token is refreshed once (``refreshSession``, then a new session) and the request repeated.

Search results and notifications are newest first: each poll reads down to the previous mark
(search passes ``since=<mark - overlap>``) with the API's ``cursor``, one page per batch.

A reply is an ``app.bsky.feed.post`` record with ``reply.root`` and ``reply.parent`` strong refs
(uri + cid). Its record key is a TID derived from the idempotency key, so a quick retry of the
same draft hits the same record; ``find_reply`` asks for that record and then pages back through
the account's posts to the first attempt for an answer to the same post with the same text.

Jetstream (the public firehose) is not used: polling search keeps the cursor logic of the other
connectors and needs no long-lived socket.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import aiohttp
from pydantic import Field, model_validator

from connectors._atproto import AtUri, grapheme_count, link_facets, tid_for_key, tid_time
from connectors._cursor import Page, PageItem
from connectors._http import JsonResponse, request_json
from connectors._lookback import DEFAULT_LOOKUP_PAGES, LookupPage, look_back
from connectors._markup import normalise_for_match
from connectors._polling import PollContext, Step, poll_streams, walking
from connectors._time import iso_millis, parse_iso
from connectors.base import (
    AuthError,
    Batch,
    ConnectorError,
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

MAX_GRAPHEMES = 300
MAX_TEXT_BYTES = 3000
POST = "app.bsky.feed.post"
LOOKUP_PAGE_SIZE = 100  # the most listRecords returns per page
_TOKEN_ERRORS = {"ExpiredToken", "InvalidToken", "AuthenticationRequired"}
_KINDS = {"mention": "mention", "reply": "reply", "quote": "mention"}


class BlueskyOptions(ConnectorOptions):
    """Options of a ``type = "bluesky"`` source."""

    base_url: str = "https://bsky.social"
    web_url: str = "https://bsky.app"
    identifier: str | None = None
    app_password_env: str | None = None
    query: str | None = None
    lang: str | None = None
    notifications: bool = False
    notification_reasons: list[Literal["mention", "reply", "quote"]] = Field(
        default=["mention", "reply", "quote"], min_length=1
    )
    reply_langs: list[str] = Field(default_factory=list, max_length=3)
    page_size: int = Field(100, ge=1, le=100)
    max_pages: int = Field(10, ge=1, le=100)
    overlap_seconds: int = Field(120, ge=0, le=86400)
    reply_lookup_pages: int = Field(DEFAULT_LOOKUP_PAGES, ge=1, le=1000)

    @model_validator(mode="after")
    def _consistent(self) -> BlueskyOptions:
        if not (self.query and self.query.strip()) and not self.notifications:
            raise ValueError("set `query` and/or `notifications = true`")
        if bool(self.identifier) != bool(self.app_password_env):
            raise ValueError("`identifier` and `app_password_env` go together")
        if self.notifications and not self.identifier:
            raise ValueError("notifications need `identifier` and `app_password_env`")
        return self


class BlueskyConnector:
    """Listen to Bluesky search and notifications; reply as the session's account."""

    kind: ClassVar[str] = "bluesky"
    Options: ClassVar[type[ConnectorOptions]] = BlueskyOptions
    min_interval: ClassVar[timedelta] = timedelta(seconds=60)
    reply_policy: ClassVar[ReplyPolicy] = ReplyPolicy(
        can_reply=True,
        max_length=MAX_GRAPHEMES,
        bot_label="self-label the account as a bot (profile label 'bot')",
        note=(
            "300 graphemes; Bluesky asks bots to interact only with people who tagged the account "
            "(opt-in), so prefer answering mentions; uses an app password, never the account password"
        ),
    )

    def __init__(self, name: str, options: BlueskyOptions, http: aiohttp.ClientSession) -> None:
        self.name = name
        self.options = options
        self.http = http
        self._base = options.base_url.rstrip("/")
        self._web = options.web_url.rstrip("/")
        self._session: dict[str, Any] | None = None
        self._rkeys: dict[str, str] = {}

    # -- session and XRPC ----------------------------------------------------------------

    async def _login(self) -> dict[str, Any]:
        secret = secret_from_env(self.name, self.options.app_password_env)
        assert secret is not None
        resp = await request_json(
            self.http,
            self.name,
            f"{self._base}/xrpc/com.atproto.server.createSession",
            method="POST",
            json_body={"identifier": self.options.identifier, "password": secret.reveal()},
            accept_statuses=(400,),
        )
        data = resp.data if isinstance(resp.data, dict) else {}
        if resp.status == 400 or not data.get("did") or "accessJwt" not in data:
            raise AuthError(self.name, f"Bluesky login refused for {self.options.identifier}: {_why(data)}")
        self._session = data
        return data

    async def _refresh(self) -> None:
        old = self._session or {}
        self._session = None
        if old.get("refreshJwt"):
            resp = await request_json(
                self.http,
                self.name,
                f"{self._base}/xrpc/com.atproto.server.refreshSession",
                method="POST",
                headers={"Authorization": f"Bearer {old['refreshJwt']}"},
                accept_statuses=(400, 401),
            )
            if resp.status == 200 and isinstance(resp.data, dict) and resp.data.get("accessJwt"):
                self._session = resp.data
                return
        await self._login()

    async def _xrpc(
        self,
        ctx: PollContext | None,
        nsid: str,
        params: Any = None,
        body: Any = None,
        auth: bool = True,
        accept: tuple[int, ...] = (),
    ) -> JsonResponse:
        """Call ``nsid``; with ``auth``, log in when needed and refresh an expired token once."""
        for attempt in (1, 2):
            headers = {"Accept": "application/json"}
            if auth:
                session = self._session or await self._login()
                headers["Authorization"] = f"Bearer {session.get('accessJwt', '')}"
            resp = await request_json(
                self.http,
                self.name,
                f"{self._base}/xrpc/{nsid}",
                method="POST" if body is not None else "GET",
                params=params,
                json_body=body,
                headers=headers,
                accept_statuses=(400, 401, *accept),
            )
            if ctx is not None:
                ctx.saw(resp)
            error = resp.data.get("error") if isinstance(resp.data, dict) else None
            if auth and attempt == 1 and (resp.status == 401 or error in _TOKEN_ERRORS):
                await self._refresh()
                continue
            if resp.status == 401:
                raise AuthError(self.name, f"{nsid}: {_why(resp.data)}")
            if resp.status == 400 and 400 not in accept:
                raise ConnectorError(self.name, f"{nsid} refused the request: {_why(resp.data)}")
            return resp
        raise AuthError(self.name, f"{nsid}: the session stayed invalid after logging in again")

    # -- reading -------------------------------------------------------------------------

    async def fetch(self, cursor: str | None) -> Batch:
        """Fetch the posts after ``cursor``: search results and, when enabled, mentions, replies and quotes."""
        steps: dict[str, Step] = {}
        overlap = float(self.options.overlap_seconds)
        if self.options.query and self.options.query.strip():
            steps["search"] = walking(self._search_page, overlap, _now)
        if self.options.notifications:
            steps["notifications"] = walking(self._notifications_page, overlap, _now)
        return await poll_streams(self.name, self.kind, cursor, steps, max_pages=self.options.max_pages)

    async def _search_page(self, ctx: PollContext, anchor: Any, floor: float | None) -> Page:
        params = {
            "q": (self.options.query or "").strip(),
            "sort": "latest",
            "limit": str(self.options.page_size),
        }
        if self.options.lang:
            params["lang"] = self.options.lang
        if floor is not None:
            since = datetime.fromtimestamp(floor - self.options.overlap_seconds, UTC)
            params["since"] = iso_millis(since)
        if anchor:
            params["cursor"] = str(anchor)
        resp = await self._xrpc(ctx, "app.bsky.feed.searchPosts", params, auth=bool(self.options.identifier))
        posts = resp.data.get("posts") if isinstance(resp.data, dict) else None
        if not isinstance(posts, list):
            raise MalformedResponseError(self.name, "searchPosts answer has no posts list")
        items = [item for view in posts if (item := self._item(ctx, view, None)) is not None]
        next_cursor = resp.data.get("cursor") if posts else None
        return Page(items, next_cursor or None)

    async def _notifications_page(self, ctx: PollContext, anchor: Any, floor: float | None) -> Page:
        params: list[tuple[str, str]] = [("limit", str(self.options.page_size))]
        params += [("reasons", r) for r in self.options.notification_reasons]
        if anchor:
            params.append(("cursor", str(anchor)))
        resp = await self._xrpc(ctx, "app.bsky.notification.listNotifications", params)
        notes = resp.data.get("notifications") if isinstance(resp.data, dict) else None
        if not isinstance(notes, list):
            raise MalformedResponseError(self.name, "listNotifications answer has no notifications list")
        items = []
        for note in notes:
            if not isinstance(note, dict):
                continue
            reason = note.get("reason")
            if reason in self.options.notification_reasons and isinstance(note.get("record"), dict):
                item = self._item(ctx, note, reason)
            else:  # likes, follows ...: they move the mark but are not posts
                when = parse_iso(note.get("indexedAt"))
                item = PageItem(str(note.get("uri")), when.timestamp(), None) if when else None
            if item is not None:
                items.append(item)
        next_cursor = resp.data.get("cursor") if notes else None
        return Page(items, next_cursor or None)

    def _item(self, ctx: PollContext, view: Any, reason: str | None) -> PageItem | None:
        post = self._to_post(ctx, view, reason)
        if post is None:
            return None
        indexed = parse_iso(view.get("indexedAt")) or post.published_at
        # searchPosts' `since` filters on sortAt, roughly the earlier of createdAt and indexedAt.
        key = min(post.published_at, indexed).timestamp()
        return PageItem(post.external_id, key, post)

    def _to_post(self, ctx: PollContext, view: Any, reason: str | None) -> RawPost | None:
        if not isinstance(view, dict):
            ctx.skip("a post view that is not an object was skipped")
            return None
        uri, record = view.get("uri"), view.get("record")
        author: dict[str, Any] = view["author"] if isinstance(view.get("author"), dict) else {}
        indexed = parse_iso(view.get("indexedAt"))
        if not isinstance(uri, str) or not isinstance(record, dict) or indexed is None:
            ctx.skip(f"post {uri!r} lacks a uri, record or indexedAt")
            return None
        created = parse_iso(record.get("createdAt")) or indexed
        published = min(created, indexed + timedelta(minutes=5))  # a client clock in the future
        reply = record.get("reply") if isinstance(record.get("reply"), dict) else {}
        root = (reply.get("root") or {}).get("uri") if reply else None
        parent = (reply.get("parent") or {}).get("uri") if reply else None
        parsed = AtUri.parse(uri)
        handle = author.get("handle") or (parsed.repo if parsed else None)
        profile = f"{self._web}/profile/{handle}" if handle else None
        langs = record.get("langs") if isinstance(record.get("langs"), list) else []
        metrics = {
            name: float(view[field])
            for name, field in (
                ("likes", "likeCount"),
                ("reposts", "repostCount"),
                ("replies", "replyCount"),
                ("quotes", "quoteCount"),
            )
            if isinstance(view.get(field), int)
        }
        kind = _KINDS.get(reason or "", "reply" if parent else "post")
        return RawPost(
            source=self.name,
            external_id=uri,
            url=f"{profile}/post/{parsed.rkey}" if (profile and parsed) else uri,
            author_handle=handle,
            author_name=author.get("displayName") or None,
            author_url=profile,
            title=None,
            body=str(record.get("text") or ""),
            published_at=published,
            raw=view,
            thread_id=root or uri,
            parent_id=parent,
            kind=kind,  # type: ignore[arg-type]
            language_hint=langs[0] if langs and isinstance(langs[0], str) else None,
            author_metrics=metrics,
        )

    # -- replying ------------------------------------------------------------------------

    @classmethod
    def measure_reply(cls, options: Any, target: ReplyTarget, text: str) -> ReplyLength:
        """Bluesky counts graphemes (what a reader sees as one character), up to 300."""
        return ReplyLength(grapheme_count(text), MAX_GRAPHEMES)

    def _check_text(self, text: str) -> None:
        if not text.strip():
            raise ReplyError(self.name, "the reply is empty", permanent=True)
        count = grapheme_count(text)
        if count > MAX_GRAPHEMES:
            raise ReplyError(self.name, f"reply is {count} graphemes; Bluesky takes {MAX_GRAPHEMES}", permanent=True)
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise ReplyError(self.name, f"reply is over Bluesky's {MAX_TEXT_BYTES}-byte limit", permanent=True)

    async def _refs(self, target: ReplyTarget) -> tuple[dict[str, str], dict[str, str]]:
        """Return the (root, parent) strong refs, asking getPosts when the stored payload lacks a cid."""
        view: dict[str, Any] = dict(target.raw)
        if not view.get("cid") or not isinstance(view.get("record"), dict):
            resp = await self._xrpc(None, "app.bsky.feed.getPosts", {"uris": target.external_id})
            found = resp.data.get("posts") if isinstance(resp.data, dict) else None
            if not found or not isinstance(found[0], dict) or not found[0].get("cid"):
                raise ReplyError(self.name, f"post {target.external_id} is gone or unreadable", permanent=True)
            view = found[0]
        parent = {"uri": target.external_id, "cid": str(view["cid"])}
        reply = view["record"].get("reply") if isinstance(view.get("record"), dict) else None
        root = (reply or {}).get("root") if isinstance(reply, dict) else None
        if isinstance(root, dict) and root.get("uri") and root.get("cid"):
            return {"uri": str(root["uri"]), "cid": str(root["cid"])}, parent
        return parent, parent

    async def reply(self, target: ReplyTarget, text: str, idempotency_key: str) -> ReplyResult:
        """Post ``text`` as a reply to ``target``; the record key comes from ``idempotency_key``."""
        self._check_text(text)
        if not self.options.identifier:
            raise ReplyError(self.name, "no identifier/app_password_env configured for replying", permanent=True)
        root, parent = await self._refs(target)
        session = self._session or await self._login()
        record: dict[str, Any] = {
            "$type": POST,
            "text": text,
            "createdAt": iso_millis(datetime.now(UTC)),
            "reply": {"root": root, "parent": parent},
        }
        facets = link_facets(text)
        if facets:
            record["facets"] = facets
        if self.options.reply_langs:
            record["langs"] = list(self.options.reply_langs)
        rkey = self._rkeys.setdefault(idempotency_key, tid_for_key(idempotency_key))
        body = {"repo": session["did"], "collection": POST, "rkey": rkey, "record": record}
        resp = await self._xrpc(None, "com.atproto.repo.createRecord", body=body, accept=(400,))
        if resp.status == 400:
            earlier = await self._record_reply(target, text, rkey)
            if earlier is not None:
                return earlier  # an earlier attempt with this key already created the record
            raise ReplyError(self.name, f"Bluesky refused the reply: {_why(resp.data)}", permanent=True)
        uri = resp.data.get("uri") if isinstance(resp.data, dict) else None
        if not uri:
            raise MalformedResponseError(self.name, "createRecord answered without a uri")
        return ReplyResult(str(uri), self._web_url(str(uri)))

    def _web_url(self, uri: str) -> str | None:
        parsed = AtUri.parse(uri)
        if parsed is None:
            return None
        handle = (self._session or {}).get("handle") or parsed.repo
        return f"{self._web}/profile/{handle}/post/{parsed.rkey}"

    def _matches(self, value: Any, target: ReplyTarget, text: str) -> bool:
        if not isinstance(value, dict):
            return False
        parent = ((value.get("reply") or {}).get("parent") or {}) if isinstance(value.get("reply"), dict) else {}
        return parent.get("uri") == target.external_id and normalise_for_match(
            str(value.get("text") or "")
        ) == normalise_for_match(text)

    async def _record_reply(self, target: ReplyTarget, text: str, rkey: str) -> ReplyResult | None:
        session = self._session or await self._login()
        params = {"repo": session["did"], "collection": POST, "rkey": rkey}
        resp = await self._xrpc(None, "com.atproto.repo.getRecord", params, accept=(400, 404))
        data = resp.data if isinstance(resp.data, dict) else {}
        if resp.status == 200 and self._matches(data.get("value"), target, text) and data.get("uri"):
            return ReplyResult(str(data["uri"]), self._web_url(str(data["uri"])))
        return None

    async def find_reply(
        self, target: ReplyTarget, text: str, idempotency_key: str, *, since: datetime | None = None
    ) -> ReplyResult | None:
        """Find an earlier answer: the record this key named, else among the account's posts since ``since``.

        ``listRecords`` is newest first by record key (a TID, a time); it is paged with ``cursor``
        until a record is older than ``since``, at most ``reply_lookup_pages`` pages of 100.
        """
        if not self.options.identifier:
            return None
        rkey = self._rkeys.get(idempotency_key)
        if rkey is not None:
            found = await self._record_reply(target, text, rkey)
            if found is not None:
                return found
        session = self._session or await self._login()

        async def page(cursor: Any | None) -> LookupPage[dict[str, Any]]:
            params = {"repo": session["did"], "collection": POST, "limit": str(LOOKUP_PAGE_SIZE)}
            if cursor:
                params["cursor"] = str(cursor)
            resp = await self._xrpc(None, "com.atproto.repo.listRecords", params)
            records = resp.data.get("records") if isinstance(resp.data, dict) else None
            if not isinstance(records, list):
                raise MalformedResponseError(self.name, "listRecords answer has no records list")
            next_cursor = resp.data.get("cursor") if records else None
            return LookupPage([r for r in records if isinstance(r, dict)], next_cursor or None)

        def match(item: dict[str, Any]) -> ReplyResult | None:
            if self._matches(item.get("value"), target, text) and item.get("uri"):
                return ReplyResult(str(item["uri"]), self._web_url(str(item["uri"])))
            return None

        return await look_back(
            self.name,
            page,
            since=since,
            created_at=_record_time,
            match=match,
            max_pages=self.options.reply_lookup_pages,
        )

    async def aclose(self) -> None:
        """Forget the login session."""
        self._session = None


def _record_time(item: dict[str, Any]) -> datetime | None:
    """When a listed record was made: its key's TID time (the listing's order), else its createdAt."""
    parsed = AtUri.parse(str(item.get("uri") or ""))
    when = tid_time(parsed.rkey) if parsed else None
    if when is None and isinstance(item.get("value"), dict):
        when = parse_iso(item["value"].get("createdAt"))
    return when


def _now() -> float:
    return datetime.now(UTC).timestamp()


def _why(data: Any) -> str:
    if isinstance(data, dict):
        return f"{data.get('error') or 'error'}: {data.get('message') or 'no message'}"
    return "no reason given"


if TYPE_CHECKING:  # mypy holds the class to the contract the registry promises
    _factory: ConnectorFactory = BlueskyConnector
    _reply_lookup: type[ReplyLookup] = BlueskyConnector


__all__ = ["BlueskyConnector", "BlueskyOptions"]
