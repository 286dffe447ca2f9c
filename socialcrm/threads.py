"""Which thread a stored post belongs to: one pure function for every path that stores mentions.

Connectors that know the platform's threads say so (a comment's post, a Reddit submission, a Mastodon
or Bluesky root, a Discourse topic) and are believed. A feed cannot say: a forum's Atom feed lists
``t/812#p1`` and ``t/812#p2 "Re: ..."`` as two entries. For the sources in ``INFERRED_SOURCE_TYPES``
a post without a connector-named thread joins, in this order:

1. the forum topic in its link: Discourse's ``/t/<slug>/<id>[/<post>]`` or ``/t/<id>`` becomes
   ``scheme://host/t/<id>``;
2. the page its link points into, when the link has a ``#fragment``: the thread of an earlier post
   whose link is that page, else the page itself (``t/812#p1`` and ``t/812#p2`` are one thread);
3. for a reply title (``Re:``, ``AW:``, ``Antw:``, also ``Re[2]:``), the thread of the newest post
   of the same source with the same topic, in this batch or before it;
4. else its own thread (its external id).

``assign_threads`` decides from the posts of one batch and what ``earlier_threads`` found in the
database (one query per batch, none when no post needs it); both the per-mention and a per-batch
pipeline call these two. ``thread_key`` is what tickets and action keys group by.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from urllib.parse import SplitResult, urlsplit, urlunsplit

from sqlalchemy import or_
from sqlmodel import Session, col, select

from connectors import RawPost
from socialcrm.models import Mention

INFERRED_SOURCE_TYPES = frozenset({"feed"})
"""Source types whose connector cannot name a post's thread; the others' threads are taken as given."""
MAX_THREAD_ID = 512
LOOKBACK = timedelta(days=90)
"""How far back a reply looks for its page or topic: an older thread is not joined."""
REPLY_PREFIXES = ("Re: ", "RE: ", "AW: ", "Aw: ", "Antw: ")
"""How a reply title is written when looking for its topic's first post (forums copy the title exactly)."""

_REPLY_TITLE = re.compile(r"^\s*(?:(?:re|aw|antw)(?:\[\d+\]|\^\d+)?\s*:\s*)+", re.IGNORECASE)
_DISCOURSE_TOPIC = re.compile(r"^/t/(?:[^/]+/)?(\d+)(?:/\d+)?/?$")


def thread_key(source: str, thread_id: str) -> str:
    """The key tickets and action keys group a thread by: ``source:thread_id``."""
    return f"{source}:{thread_id}"


def reply_topic(title: str | None) -> str | None:
    """The topic a reply title answers ("Re: Lieferung fehlt" -> "Lieferung fehlt"); None for other titles."""
    if not title:
        return None
    match = _REPLY_TITLE.match(title)
    if match is None:
        return None
    topic = " ".join(title[match.end() :].split())
    return topic or None


def topic_key(title: str) -> str:
    """A title compared without case and extra spaces."""
    return " ".join(title.split()).casefold()


def forum_topic(url: str | None) -> str | None:
    """``scheme://host/t/<id>`` for a Discourse-style topic link (``/t/<slug>/<id>/<post>``), else None."""
    parts = _split(url)
    if parts is None:
        return None
    match = _DISCOURSE_TOPIC.match(parts.path)
    if match is None:
        return None
    return urlunsplit((parts.scheme, parts.netloc, f"/t/{match.group(1)}", "", ""))


def page_of(url: str | None) -> str | None:
    """The link without its ``#fragment`` when it has one (a post inside a page), else None."""
    parts = _split(url)
    if parts is None or not parts.fragment:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def _split(url: str | None) -> SplitResult | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts if parts.scheme in ("http", "https") and parts.netloc else None


def _named_thread(post: RawPost) -> str | None:
    """The thread the connector named, when it is not the post itself."""
    if post.thread_id and post.thread_id != post.external_id:
        return post.thread_id
    return None


def needs_lookup(source_type: str, post: RawPost) -> tuple[str | None, str | None]:
    """``(page, topic)`` that ``earlier_threads`` should look up for this post (None where not needed)."""
    if source_type not in INFERRED_SOURCE_TYPES or _named_thread(post) or forum_topic(post.url):
        return None, None
    page = page_of(post.url)
    return page, (None if page else reply_topic(post.title))


def assign_threads(
    source_type: str,
    posts: Sequence[RawPost],
    earlier: Mapping[str, str] | None = None,
) -> list[str]:
    """The thread id to store for each post of one batch of one source (see the module docstring).

    ``earlier`` maps ``page:<url>`` and ``topic:<topic_key>`` to the thread of a stored post
    (``earlier_threads`` builds it); posts of the batch itself count too, whatever their order.
    """
    known: dict[str, str] = dict(earlier or {})
    own: list[str | None] = []
    for post in posts:  # first pass: every thread that needs no look-up, and what it teaches
        thread = _direct_thread(source_type, post)
        own.append(thread)
        if thread is not None and source_type in INFERRED_SOURCE_TYPES:
            _learn(known, post, thread)
    result = []
    for post, thread in zip(posts, own, strict=True):
        if thread is None:
            page, topic = needs_lookup(source_type, post)
            if page is not None:
                thread = known.get(f"page:{page}", page)
            else:
                thread = known.get(f"topic:{topic_key(topic)}", post.external_id) if topic else post.external_id
            _learn(known, post, thread)
        result.append(thread[:MAX_THREAD_ID])
    return result


def _direct_thread(source_type: str, post: RawPost) -> str | None:
    """The thread when no look-up is needed; None when the page or reply topic decides."""
    named = _named_thread(post)
    if named is not None:
        return named
    if source_type not in INFERRED_SOURCE_TYPES:
        return post.thread_id or post.external_id
    topic = forum_topic(post.url)
    if topic is not None:
        return topic
    page, reply = needs_lookup(source_type, post)
    if page is None and reply is None:
        return post.external_id
    return None


def _learn(known: dict[str, str], post: RawPost, thread: str) -> None:
    """Remember the thread of this post's page and (for a first post) of its title, for the posts after it."""
    if post.url and page_of(post.url) is None:
        known.setdefault(f"page:{post.url}", thread)
    if post.title:
        reply = reply_topic(post.title)
        if reply is None:
            known[f"topic:{topic_key(post.title)}"] = thread
        else:  # a reply whose first post is not stored: the next reply of the topic still joins it
            known.setdefault(f"topic:{topic_key(reply)}", thread)


def earlier_threads(
    session: Session, source: str, source_type: str, posts: Iterable[RawPost], since: datetime
) -> dict[str, str]:
    """The stored threads the batch's posts may join: one query over this source's mentions since ``since``.

    Returns the ``earlier`` mapping of ``assign_threads``; empty (and no query) when no post needs it.
    """
    pages: set[str] = set()
    titles: set[str] = set()
    for post in posts:
        page, topic = needs_lookup(source_type, post)
        if page is not None:
            pages.add(page)
        if topic is not None:
            titles.update([topic, *(prefix + topic for prefix in REPLY_PREFIXES)])
    if not pages and not titles:
        return {}
    conditions = []
    if pages:
        conditions.append(col(Mention.url).in_(sorted(pages)))
    if titles:
        conditions.append(col(Mention.title).in_(sorted(titles)))
    rows = session.exec(
        select(Mention.url, Mention.title, Mention.thread_id, Mention.external_id)
        .where(Mention.source == source, col(Mention.published_at) >= since, or_(*conditions))
        .order_by(col(Mention.published_at), col(Mention.id))
    )
    found: dict[str, str] = {}
    for url, title, thread_id, external_id in rows:  # oldest first: the newest wins a topic
        thread = thread_id or external_id
        if url in pages:
            found.setdefault(f"page:{url}", thread)
        if title:
            topic = reply_topic(title) or title
            found[f"topic:{topic_key(topic)}"] = thread
    return found
