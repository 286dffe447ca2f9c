"""Turn parsed feed entries into RawPosts: stable ids, threads of comment feeds, UTC dates.

Ids. An entry's own id (Atom ``id``, RSS ``guid``, RSS 1.0 ``rdf:about``) is used as given.
Without one, the id is ``sha256:`` and the SHA-256 of link, title and the entry's own
published date as written in the feed, joined by U+001F (the text is added only when all three
are empty). These change only when the author edits them, so refetching the same feed gives
the same ids. Ids longer than 512 characters are replaced by ``sha256:`` of the id. When several
entries of one document share an id (broken generators do this), each gets ``#`` and a short
hash of its link, title and date appended, so none of them is lost as a "duplicate".

Threads. A comment names its post with ``thr:in-reply-to`` (Atom threading, used by WordPress
and Blogger comment feeds), or carries the post's guid plus ``#comment-N`` (WordPress RSS comment
feeds). The thread is then the post's id (the same id the post has in the blog's post feed),
the parent is what it replies to, and the kind is ``comment``. Any other entry is a ``post``
and its own thread.

Links. Relative links are resolved against the feed's URL; only http and https links are kept
(a ``javascript:`` or ``data:`` link becomes the feed's own link), so ``url`` is always safe to
open.

Dates. The entry's published, else updated, else created date, in UTC. Entries without any
date get the feed's own updated date, else the time of the fetch. Dates more than a day in
the future (broken clocks, placeholder years) are replaced by the time of the fetch.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

from connectors.base import PostKind, RawPost

MAX_ID_CHARS = 512
FUTURE_SLACK = timedelta(days=1)
_COMMENT_FRAGMENT = re.compile(r"#comment-\d+$")


def _sha256(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def stable_entry_id(link: str | None, title: str | None, published_raw: str | None, text: str = "") -> str:
    """The id of an entry that has none: ``sha256:`` + hash of link, title and published date."""
    parts = [link or "", title or "", published_raw or ""]
    if not any(parts):
        parts.append(text)
    return "sha256:" + _sha256(*parts)


def thread_of(external_id: str, in_reply_to: str | None, link: str | None) -> tuple[str, str | None, PostKind]:
    """Return ``(thread_id, parent_id, kind)`` for an entry (see the module docstring)."""
    if in_reply_to:
        return _COMMENT_FRAGMENT.sub("", in_reply_to), in_reply_to, "comment"
    for candidate in (external_id, link or ""):
        match = _COMMENT_FRAGMENT.search(candidate)
        if match and match.start() > 0:
            post = candidate[: match.start()]
            return post, post, "comment"
    return external_id, None, "post"


def web_url(value: str | None, base: str) -> str | None:
    """``value`` resolved against ``base`` if it is an http(s) URL with a host, else None."""
    if not value:
        return None
    try:
        resolved = urljoin(base, value.strip())
        parts = urlsplit(resolved)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return resolved


def _when(timestamp: float | None) -> datetime | None:
    if timestamp is None:
        return None
    try:
        return datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _external_ids(entries: Sequence[Mapping[str, Any]]) -> tuple[list[str], int]:
    """The external id of each entry, and how many had to be told apart from a namesake."""
    ids = []
    for entry in entries:
        own = entry.get("id")
        if own:
            ids.append(own if len(own) <= MAX_ID_CHARS else "sha256:" + _sha256(own))
        else:
            ids.append(
                stable_entry_id(entry.get("link"), entry.get("title"), entry.get("published_raw"), entry["text"])
            )
    counts = Counter(ids)
    collided = 0
    for index, (entry, external_id) in enumerate(zip(entries, ids, strict=True)):
        if counts[external_id] > 1:
            suffix = _sha256(entry.get("link") or "", entry.get("title") or "", entry.get("published_raw") or "")
            ids[index] = f"{external_id}#{suffix[:16]}"
            collided += 1
    return ids, collided


def _with_feed_author(entry: Mapping[str, Any], feed: Mapping[str, Any]) -> Mapping[str, Any]:
    """An entry without an author of its own has the feed's (Atom says entries inherit it; blogs rely on it)."""
    if (
        entry.get("author_name")
        or entry.get("author_email")
        or not (feed.get("author_name") or feed.get("author_email"))
    ):
        return entry
    return {
        **entry,
        "author_name": feed.get("author_name"),
        "author_email": feed.get("author_email"),
        "author_url": entry.get("author_url") or feed.get("author_url"),
    }


def entries_to_posts(
    source: str, parsed: Mapping[str, Any], feed_url: str, fetched_at: datetime
) -> tuple[list[RawPost], list[str], int]:
    """Return ``(posts, problems, skipped)`` for the entries of one parsed feed."""
    feed = parsed.get("feed") or {}
    feed_date = _when(feed.get("date"))
    feed_link = web_url(feed.get("link"), feed_url) or feed_url
    entries = [e for e in parsed.get("entries") or [] if e.get("id") or e.get("link") or e.get("title") or e["text"]]
    skipped = len(parsed.get("entries") or []) - len(entries)
    problems = [f"skipped {skipped} entries with no id, link, title or text"] if skipped else []
    ids, collided = _external_ids(entries)
    if collided:
        problems.append(f"{collided} entries share an id with another entry; told apart by a hash suffix")
    posts = []
    for entry, external_id in zip(entries, ids, strict=True):
        entry = _with_feed_author(entry, feed)
        published = _when(entry.get("date")) or feed_date or fetched_at
        if published > fetched_at + FUTURE_SLACK:
            published = fetched_at
        link = web_url(entry.get("link"), feed_url)
        thread_id, parent_id, kind = thread_of(external_id, entry.get("in_reply_to"), link)
        raw = {
            "feed_title": feed.get("title"),
            "feed_url": feed_url,
            "link": link,
            "id_from": "feed" if entry.get("id") else "hash",
            "comments": web_url(entry.get("comments"), feed_url),
            "in_reply_to_url": web_url(entry.get("in_reply_to_href"), feed_url),
            "author_email": entry.get("author_email"),
            "tags": list(entry.get("tags") or []),
        }
        posts.append(
            RawPost(
                source=source,
                external_id=external_id,
                url=link or feed_link,
                author_handle=entry.get("author_name") or entry.get("author_email"),
                title=entry.get("title"),
                body=entry["text"],
                published_at=published,
                raw={k: v for k, v in raw.items() if v},
                author_name=entry.get("author_name"),
                author_url=web_url(entry.get("author_url"), feed_url),
                thread_id=thread_id,
                parent_id=parent_id,
                kind=kind,
                language_hint=entry.get("language"),
                prepared=entry.get("prepared"),
            )
        )
    return posts, problems, skipped
