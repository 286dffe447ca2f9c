"""Resumable cursors for the social connectors: JSON state, newest-first walks, page bounds, pauses.

A cursor is a JSON object the core stores verbatim with each batch::

    {"v": 1, "kind": "reddit", "round": 2, "wait_until": 1767225600.0,
     "streams": {"posts": {"hw": 1456821458.0, "seen": {"t3_48fbm9": 1456821458.0},
                           "walk": {"anchor": "t3_48f6io", "floor": 1456820000.0, "top": 1456821458.0}}}}

Most listings are served newest first and page towards older items. Each stream keeps a high-water
mark ``hw`` (a timestamp or a monotonic id) and the ids seen near it. A poll reads the newest page; if
every item on it is newer than ``hw`` there may be more, so the stream starts a *walk* towards older
pages, remembering the page anchor, the old mark (``floor``) and the newest key seen (``top``). The
mark only moves to ``top`` when the walk reaches items it already had. Every page is returned as its
own batch with the cursor that resumes right after it, so a restart in the middle of a walk neither
skips nor repeats a page; ``seen`` filters the overlap window and items that shift between pages.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.base import RateLimited

logger = logging.getLogger(__name__)

CURSOR_VERSION = 1
SEEN_CAP = 600


@dataclass
class PageItem:
    """One item of a page: its stable id, its ordering key (epoch seconds or id) and the payload."""

    id: str
    key: float
    payload: Any


@dataclass
class Page:
    """A page of a newest-first listing and the anchor of the next (older) page, if any."""

    items: list[PageItem]
    next_anchor: Any = None


@dataclass
class StreamState:
    """Where one listing of a source stands."""

    hw: float | None = None
    seen: dict[str, float] = field(default_factory=dict)
    walk: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        """True while the stream is part-way through a listing (more pages are due at once)."""
        return self.walk is not None or bool(self.extra.get("more"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hw": self.hw, "seen": self.seen}
        if self.walk is not None:
            out["walk"] = self.walk
        if self.extra:
            out["extra"] = self.extra
        return out

    @classmethod
    def from_json(cls, data: Any) -> StreamState:
        if not isinstance(data, dict):
            raise ValueError("stream state is not an object")
        hw = data.get("hw")
        if hw is not None and not isinstance(hw, int | float):
            raise ValueError("stream mark is not a number")
        seen_raw = data.get("seen") or {}
        if not isinstance(seen_raw, dict):
            raise ValueError("seen ids are not an object")
        seen = {str(k): float(v) for k, v in seen_raw.items()}
        walk = data.get("walk")
        if walk is not None and not (isinstance(walk, dict) and "floor" in walk and "top" in walk):
            raise ValueError("walk state is incomplete")
        extra = data.get("extra") or {}
        if not isinstance(extra, dict):
            raise ValueError("extra state is not an object")
        return cls(hw=None if hw is None else float(hw), seen=seen, walk=walk, extra=extra)


class CursorState:
    """The decoded cursor of one source: its streams, the page round and a rate-limit pause."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.streams: dict[str, StreamState] = {}
        self.round = 0
        self.wait_until: float | None = None

    @classmethod
    def load(cls, source: str, kind: str, cursor: str | None) -> tuple[CursorState, list[str]]:
        """Decode ``cursor``; an unreadable one starts fresh and says so in the returned problems."""
        state = cls(kind)
        if not cursor:
            return state, []
        try:
            data = json.loads(cursor)
            if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
                raise ValueError(f"unknown cursor version {data.get('v') if isinstance(data, dict) else None!r}")
            if data.get("kind") != kind:
                raise ValueError(f"cursor belongs to a {data.get('kind')!r} source, not {kind!r}")
            streams = data.get("streams") or {}
            if not isinstance(streams, dict):
                raise ValueError("streams is not an object")
            state.streams = {str(name): StreamState.from_json(raw) for name, raw in streams.items()}
            state.round = int(data.get("round") or 0)
            wait = data.get("wait_until")
            state.wait_until = float(wait) if wait is not None else None
        except (ValueError, TypeError, RecursionError) as err:
            problem = f"{source}: stored cursor is unusable ({err}); starting again from the newest items"
            logger.warning("%s", problem)
            return cls(kind), [problem]
        return state, []

    def dump(self) -> str:
        data: dict[str, Any] = {
            "v": CURSOR_VERSION,
            "kind": self.kind,
            "streams": {name: s.to_json() for name, s in sorted(self.streams.items())},
        }
        if self.round:
            data["round"] = self.round
        if self.wait_until is not None:
            data["wait_until"] = round(self.wait_until, 3)
        return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)

    def stream(self, name: str) -> StreamState:
        return self.streams.setdefault(name, StreamState())

    def check_pause(self, source: str, now: float | None = None) -> None:
        """Raise RateLimited while an earlier response said the rate-limit budget is spent."""
        if self.wait_until is None:
            return
        remaining = self.wait_until - (now if now is not None else time.time())
        if remaining > 0:
            raise RateLimited(source, f"rate-limit budget spent; next request allowed in {remaining:.0f} s", remaining)
        self.wait_until = None

    def pause_for(self, seconds: float | None, now: float | None = None) -> None:
        """Remember that no request may be made for ``seconds`` (from rate-limit headers)."""
        if seconds is None or seconds <= 0:
            return
        self.wait_until = (now if now is not None else time.time()) + seconds

    def begin_round(self, names: Iterable[str]) -> list[str]:
        """Return the streams to poll now: the ones mid-walk, or all of them for a fresh round."""
        names = list(names)
        walking = [n for n in names if self.stream(n).busy]
        if walking:
            self.round += 1
            return walking
        self.round = 1
        return names

    def finish_round(self, names: Iterable[str], max_pages: int) -> bool:
        """Return ``has_more``: true while a walk goes on and this poll has pages left."""
        walking = any(self.stream(n).busy for n in names)
        if not walking:
            self.round = 0
            return False
        if self.round >= max_pages:
            # The walk resumes on the next scheduled poll; nothing is lost, the mark has not moved.
            self.round = 0
            return False
        return True


async def walk_step(
    stream: StreamState,
    fetch_page: Callable[[Any, float | None], Awaitable[Page]],
    overlap: float = 0.0,
    initial_mark: Callable[[], float | None] | None = None,
) -> list[Any]:
    """Read one page of a newest-first listing and return the payloads not delivered before.

    ``fetch_page(anchor, floor)`` gets ``anchor=None`` for the newest page, else the anchor a
    previous page returned; ``floor`` is the mark below which items are old (None on a first run,
    which takes the newest page only and sets the mark). When a first run finds nothing,
    ``initial_mark()`` (e.g. the current time for time-keyed listings) becomes the mark, so items
    published before the next poll are not mistaken for a first run again.
    """
    if stream.walk is not None:
        anchor = stream.walk.get("anchor")
        floor: float | None = float(stream.walk["floor"])
        top = float(stream.walk["top"])
    else:
        anchor = None
        floor = stream.hw
        top = stream.hw if stream.hw is not None else -math.inf
    page = await fetch_page(anchor, floor)
    lower = -math.inf if floor is None else floor - overlap
    fresh: list[PageItem] = []
    for item in page.items:
        if item.key < lower or item.id in stream.seen or any(f.id == item.id for f in fresh):
            continue
        fresh.append(item)
    for item in fresh:
        top = max(top, item.key)
        stream.seen[item.id] = item.key
    keys = [item.key for item in page.items]
    go_on = (
        floor is not None
        and page.next_anchor is not None
        and bool(keys)
        and min(keys) >= lower
        and page.next_anchor != anchor
    )
    if go_on:
        stream.walk = {"anchor": page.next_anchor, "floor": floor, "top": top}
        _prune_seen(stream, top, overlap, floor, {i.id for i in page.items})
    else:
        stream.walk = None
        if top != -math.inf:
            stream.hw = top
        elif stream.hw is None and initial_mark is not None:
            stream.hw = initial_mark()
        _prune_seen(stream, stream.hw, overlap, None, set())
    return [item.payload for item in fresh]


def _prune_seen(
    stream: StreamState, top: float | None, overlap: float, floor: float | None, page_ids: set[str]
) -> None:
    if top is None:
        return
    keep = {
        k: v
        for k, v in stream.seen.items()
        if v >= top - overlap or k in page_ids or (floor is not None and v <= floor)
    }
    if len(keep) > SEEN_CAP:
        newest = sorted(keep.items(), key=lambda kv: kv[1], reverse=True)[:SEEN_CAP]
        keep = dict(newest)
    stream.seen = keep


def newer_id(a: str | None, b: str | None) -> str | None:
    """Return the larger of two numeric string ids (Mastodon snowflakes exceed float precision)."""
    if a is None:
        return b
    if b is None:
        return a
    try:
        return a if (len(a), a) >= (len(b), b) else b
    except TypeError:
        return a


def forget_posts(cursor: str | None, post_ids: Collection[str]) -> str | None:
    """``cursor`` with no mention of ``post_ids`` (an erased person's posts); any other cursor comes back as it was.

    A stream's ``seen`` loses them: an item of the overlap window is then read again and dropped by
    the core's duplicate check. A walk whose next page is anchored at one (Reddit's
    ``after=<fullname>``) is dropped: the next poll starts again at the newest page and walks down to
    the mark, which a walk never moves, so pages stored already come back as duplicates and nothing is
    skipped. A since-id (Mastodon's ``min_id``) that is one becomes the id just below it, so the
    listing still starts there.
    """
    if not cursor or not post_ids:
        return cursor
    try:
        data = json.loads(cursor)
    except (ValueError, RecursionError):
        return cursor
    streams = data.get("streams") if isinstance(data, dict) and data.get("v") == CURSOR_VERSION else None
    if not isinstance(streams, dict):
        return cursor
    gone = set(post_ids)
    changed = False
    for stream in streams.values():
        if not isinstance(stream, dict):
            continue
        seen = stream.get("seen")
        if isinstance(seen, dict) and not gone.isdisjoint(seen):
            stream["seen"] = {k: v for k, v in seen.items() if k not in gone}
            changed = True
        walk = stream.get("walk")
        if isinstance(walk, dict) and walk.get("anchor") in gone:
            del stream["walk"]
            changed = True
        extra = stream.get("extra")
        if not isinstance(extra, dict):
            continue
        for key, value in list(extra.items()):
            if isinstance(value, str) and value in gone:
                if value.isdigit() and int(value) > 0:
                    extra[key] = str(int(value) - 1)
                else:
                    del extra[key]
                changed = True
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False) if changed else cursor
