"""RSS and Atom feeds (blogs, forums, WordPress comment feeds): conditional GET, then a capped parse.

The fetch runs on the event loop with aiohttp: conditional GET (ETag / Last-Modified kept in
the cursor), a total timeout, a body-size cap and the error tree of connectors.base. Parsing runs
in a pool of worker processes (connectors.feed_pool) with a time cap per feed and a memory cap
per worker, after the DOCTYPE has been stripped (connectors.feed_prolog). The cursor is a JSON
object: ``{"v": 1, "url": ..., "etag": ..., "last_modified": ..., "sha256": ...}``; ``sha256``
of the last body lets a server without validators still answer "unchanged" cheaply.

Errors: 429 -> RateLimited and 5xx/timeouts/network -> TransientFetchError (both with the
server's Retry-After), 401/403 -> AuthError, 404/410 and other 4xx -> ConnectorError naming the
URL, an HTML page, JSON, an empty or oversized body, hostile XML or a parse over its time cap ->
MalformedResponseError. A feed parsed with the lenient parser (not well-formed XML) but with
entries, a permanent redirect and a capped entry count are reported in ``Batch.problems``.

Call ``configure_parser_pool(workers=..., memory_limit_mb=...)`` before the first fetch to size
the pool (default: min(8, usable CPUs) workers, 768 MiB each above their idle size), and
``FeedConnector.close_shared()`` (which is ``shutdown_parser_pool()``) once in-flight polls are done
at daemon exit. ``feed.prepare_entries_with(hook)`` has the parser processes run the core's
``EntryHook`` on every entry they parse for that one connector (the daemon classifies there with the
word-list classifier); the pool is shared, the hook is each connector's own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import Field, field_validator

from connectors._http import raise_for_status, read_capped
from connectors._netguard import refusal
from connectors.base import (
    Batch,
    ConnectorError,
    ConnectorFactory,
    ConnectorOptions,
    EntryHook,
    MalformedResponseError,
    ReadOnlyMixin,
    TransientFetchError,
)
from connectors.feed_entries import entries_to_posts
from connectors.feed_pool import (
    ParserPoolError,
    PoolUnavailable,
    configure_parser_pool,
    get_parser_pool,
    shutdown_parser_pool,
    start_parser_pool,
)
from connectors.feed_prolog import sniff
from connectors.feed_text import html_to_text

logger = logging.getLogger(__name__)

CURSOR_VERSION = 1
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
FEED_ROOTS = frozenset({"rss", "feed", "rdf:rdf", "rdf", "channel"})
HTML_ROOTS = frozenset({"html", "head", "body"})
_ALTERNATE_FEED = re.compile(
    rb"""<link\b(?=[^>]*\brel=["']?alternate)(?=[^>]*\btype=["']?application/(?:rss|atom)\+xml)"""
    rb"""[^>]*\bhref=["']?([^"'\s>]+)""",
    re.IGNORECASE,
)


class FeedOptions(ConnectorOptions):
    """What a ``type = "feed"`` source accepts in the configuration."""

    url: str
    max_entries: int = Field(default=200, ge=1, le=10_000, description="newest entries kept per fetch")
    timeout: float = Field(default=30.0, gt=0, le=600, description="seconds for the whole HTTP exchange")
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024, description="body size cap")
    parse_timeout: float = Field(default=20.0, gt=0, le=600, description="seconds the parser may take")
    user_agent: str | None = Field(default=None, min_length=1, max_length=300)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
            raise ValueError(f"not a URL: expected http:// or https:// and a host name, got {value!r}")
        return value

    @field_validator("user_agent")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("user_agent must be one line of printable characters")
        return value


@dataclass(frozen=True)
class FeedCursor:
    """What the connector remembers between polls of one feed."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None

    @classmethod
    def load(cls, raw: str | None, url: str) -> FeedCursor:
        """Read a stored cursor; a missing, foreign or damaged one starts afresh."""
        if not raw:
            return cls(url)
        try:
            data = json.loads(raw)
        except ValueError:
            logger.warning("feed %s: ignoring an unreadable cursor", url)
            return cls(url)
        if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION or data.get("url") != url:
            return cls(url)
        return cls(
            url,
            etag=_str_or_none(data.get("etag")),
            last_modified=_str_or_none(data.get("last_modified")),
            sha256=_str_or_none(data.get("sha256")),
        )

    def dump(self) -> str:
        """The cursor as the JSON string the core stores."""
        data = {"v": CURSOR_VERSION, "url": self.url, "etag": self.etag, "last_modified": self.last_modified}
        data["sha256"] = self.sha256
        return json.dumps(data, separators=(",", ":"), sort_keys=True)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class _Response:
    body: bytes
    content_type: str
    content_language: str | None
    final_url: str
    etag: str | None
    last_modified: str | None
    moved_to: str | None


class FeedConnector(ReadOnlyMixin):
    """One RSS/Atom feed. Blogs have no reply API: replies are posted by hand."""

    kind: ClassVar[str] = "feed"
    Options: ClassVar[type[FeedOptions]] = FeedOptions
    min_interval: ClassVar[timedelta] = timedelta(minutes=5)

    def __init__(self, name: str, options: FeedOptions, http: aiohttp.ClientSession) -> None:
        self.name = name
        self.options = options
        self._http = http
        self._entry_hook: EntryHook | None = None

    def __repr__(self) -> str:
        return f"FeedConnector({self.name!r}, {self.options.url!r})"

    async def fetch(self, cursor: str | None) -> Batch:
        """Fetch the feed once; a 304 or an identical body is ``not_modified`` with no posts."""
        state = FeedCursor.load(cursor, self.options.url)
        response = await self._get(state)
        if response is None:
            return Batch(posts=[], cursor=cursor, not_modified=True)
        digest = hashlib.sha256(response.body).hexdigest()
        new_state = FeedCursor(self.options.url, response.etag, response.last_modified, digest)
        problems = []
        if response.moved_to:
            problems.append(f"the feed moved permanently to {response.moved_to}; update this source's url")
        if digest == state.sha256:
            return Batch(posts=[], cursor=new_state.dump(), not_modified=True, problems=problems)
        self._refuse_non_feeds(response)
        fetched_at = datetime.now(UTC)
        parsed = await self._parse(response)
        posts, entry_problems, skipped = entries_to_posts(self.name, parsed, response.final_url, fetched_at)
        problems.extend(self._parse_problems(parsed))
        problems.extend(entry_problems)
        return Batch(posts=posts, cursor=new_state.dump(), skipped=skipped, problems=problems)

    async def aclose(self) -> None:
        """Nothing to release: the HTTP session and the parser pool are shared and owned elsewhere."""

    @classmethod
    async def start_shared(cls) -> None:
        """Start the parser processes all feeds share now, so the first fetches need not wait for them."""
        await start_parser_pool()

    @classmethod
    def close_shared(cls) -> None:
        """Stop the parser pool all feeds share (its workers would otherwise live until exit)."""
        shutdown_parser_pool()

    def prepare_entries_with(self, hook: EntryHook | None) -> None:
        """Have the parser processes run ``hook`` on the entries of this feed from now on (None: no hook)."""
        self._entry_hook = hook

    async def _get(self, state: FeedCursor) -> _Response | None:
        url = self.options.url
        headers = {"Accept": ACCEPT}
        if self.options.user_agent:
            headers["User-Agent"] = self.options.user_agent
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        timeout = aiohttp.ClientTimeout(total=self.options.timeout, sock_connect=min(self.options.timeout, 15.0))
        try:
            async with self._http.get(url, headers=headers, timeout=timeout, max_redirects=10) as resp:
                if resp.status == 304:
                    return None
                if resp.status >= 300:
                    excerpt = html_to_text((await resp.content.read(2000)).decode("utf-8", "replace"))
                    self._raise_for_status(resp, excerpt)
                body = await read_capped(resp, self.name, self.options.max_bytes)
                moved = next((str(r.url) for r in resp.history if r.status in (301, 308)), None)
                return _Response(
                    body=body,
                    content_type=resp.headers.get("Content-Type", ""),
                    content_language=resp.headers.get("Content-Language"),
                    final_url=str(resp.url),
                    etag=resp.headers.get("ETag"),
                    last_modified=resp.headers.get("Last-Modified"),
                    moved_to=str(resp.url) if moved else None,
                )
        except TimeoutError as err:
            raise TransientFetchError(
                self.name, f"no complete answer from {url} within {self.options.timeout:g} s"
            ) from err
        except aiohttp.TooManyRedirects as err:
            raise ConnectorError(self.name, f"too many redirects fetching {url}") from err
        except aiohttp.ClientError as err:
            if (why := refusal(err)) is not None:
                raise ConnectorError(self.name, f"{why} (fetching {url})") from err
            raise TransientFetchError(self.name, f"network error fetching {url}: {err}") from err

    def _raise_for_status(self, resp: aiohttp.ClientResponse, excerpt: str) -> None:
        where = resp.url.with_query(None)
        if resp.status in (404, 410):
            what = "not found" if resp.status == 404 else "gone for good"
            raise ConnectorError(self.name, f"feed {what} (HTTP {resp.status}) at {where}: check this source's url")
        raise_for_status(resp, self.name, excerpt)
        raise ConnectorError(self.name, f"unexpected HTTP {resp.status} from {where}")

    def _refuse_non_feeds(self, response: _Response) -> None:
        body = response.body
        if not body.strip():
            raise MalformedResponseError(self.name, f"empty response from {response.final_url}")
        look = sniff(body)
        content_type = response.content_type.split(";")[0].strip().lower() or "no content type"
        looks_html = look.root in HTML_ROOTS or (look.root is None and look.doctype == "html")
        declared_html = content_type in ("text/html", "application/xhtml+xml")
        if looks_html or (declared_html and look.root not in FEED_ROOTS):
            hint = ""
            link = _ALTERNATE_FEED.search(body[:65536])
            if link:
                hint = f"; the page links to a feed at {link.group(1).decode('latin-1')}"
            raise MalformedResponseError(
                self.name, f"not a feed: got {content_type} (an HTML page) from {response.final_url}{hint}"
            )
        if look.first_char in ("{", "["):
            raise MalformedResponseError(
                self.name, f"not a feed: got a JSON document ({content_type}) from {response.final_url}"
            )

    async def _parse(self, response: _Response) -> dict[str, Any]:
        job: dict[str, Any] = {
            "body": response.body,
            "content_type": response.content_type,
            "max_entries": self.options.max_entries,
            "content_language": response.content_language,
        }
        if (hook := self._entry_hook) is not None:
            job["entry_hook"] = (hook.function, hook.argument)
        try:
            result = await get_parser_pool().run(job, self.options.parse_timeout)
        except PoolUnavailable as err:
            raise TransientFetchError(self.name, f"cannot parse {response.final_url} now: {err}", 60.0) from err
        except ParserPoolError as err:
            raise MalformedResponseError(self.name, f"{err} ({response.final_url})") from err
        if not result.get("ok"):
            raise MalformedResponseError(self.name, f"cannot use {response.final_url}: {result.get('error')}")
        if not result["entries"]:
            if result.get("bozo"):
                notes = "".join(f" ({note})" for note in result.get("notes") or [])
                raise MalformedResponseError(
                    self.name, f"not a well-formed feed at {response.final_url}: {result['bozo']}{notes}"
                )
            if not result.get("version"):
                root = sniff(response.body).root
                found = f"the document's root element is <{root}>" if root else "no RSS or Atom element found"
                raise MalformedResponseError(
                    self.name, f"not a feed: {found}, not <rss>, <feed> or <rdf:RDF> ({response.final_url})"
                )
        return result

    @staticmethod
    def _parse_problems(parsed: dict[str, Any]) -> list[str]:
        problems = []
        if parsed.get("bozo"):
            problems.append(
                f"the feed is not well-formed ({parsed['bozo']}); "
                f"{len(parsed['entries'])} entries were read with the lenient parser"
            )
        total, kept = parsed.get("total_entries", 0), len(parsed["entries"])
        if total > kept:
            problems.append(f"the feed has {total} entries; kept the {kept} newest (max_entries)")
        problems.extend(parsed.get("notes") or [])
        return problems


if TYPE_CHECKING:  # mypy holds the class to the contract the registry promises
    _factory: ConnectorFactory = FeedConnector


__all__ = [
    "FeedConnector",
    "FeedCursor",
    "FeedOptions",
    "configure_parser_pool",
    "shutdown_parser_pool",
]
