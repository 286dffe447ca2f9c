"""Page back through an account's own posts, newest first, until one is older than a first attempt.

Every platform that replies offers a listing of the account's posts, newest first, in pages:
Mastodon's account statuses (``max_id``, ``Link: rel="next"``), Bluesky's ``listRecords``
(``cursor``), Discourse's ``user_actions`` (``offset``), Reddit's user comments (``after``). A
reply that an interrupted attempt may have posted is younger than that attempt, so the look-up is
complete once the listing passes ``since`` (less ``SLACK`` for clocks that disagree) or ends.
Reaching ``max_pages`` first is not an answer: it raises ReplyLookupIncompleteError, and the caller
must not post blindly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from connectors.base import ReplyLookupIncompleteError, ReplyResult

T = TypeVar("T")
SLACK = timedelta(minutes=10)
DEFAULT_LOOKUP_PAGES = 25


@dataclass(frozen=True)
class LookupPage(Generic[T]):
    """One page of the account's posts, newest first, and the anchor of the next (None at the end)."""

    items: Sequence[T]
    next_anchor: Any | None


async def look_back(
    source: str,
    fetch_page: Callable[[Any | None], Awaitable[LookupPage[T]]],
    *,
    since: datetime | None,
    created_at: Callable[[T], datetime | None],
    match: Callable[[T], ReplyResult | None],
    max_pages: int,
) -> ReplyResult | None:
    """The first item ``match`` accepts; None once the listing passed ``since`` or ended.

    ``since`` None reads the newest page only (what callers without a first-attempt time get).
    """
    anchor: Any | None = None
    checked = 0
    oldest: datetime | None = None
    limit = since - SLACK if since is not None else None
    for _ in range(max_pages if since is not None else 1):
        page = await fetch_page(anchor)
        for item in page.items:
            found = match(item)
            if found is not None:
                return found
            checked += 1
            when = created_at(item)
            if when is not None and (oldest is None or when < oldest):
                oldest = when
        if limit is None or page.next_anchor is None or not page.items:
            return None
        if oldest is not None and oldest < limit:
            return None
        anchor = page.next_anchor
    assert since is not None
    reached = f"back to {oldest.isoformat(timespec='seconds')}" if oldest else "without a usable time"
    raise ReplyLookupIncompleteError(
        source,
        f"looked through the account's {checked} latest posts ({max_pages} pages, {reached}) without reaching "
        f"the first attempt at {since.isoformat(timespec='seconds')}",
    )
